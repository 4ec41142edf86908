"""`mcp-lambda`: the operator and developer command line of serverless-mcp.

mcp-lambda dev                              run the local stack (what `make dev` runs)
mcp-lambda invoke mcp --event FILE          the Docker-free `sam local invoke`
mcp-lambda event v1 --method tools/call --tool add --arguments '{"a": 1, "b": 2}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HANDLERS = {
    "mcp": "app.handlers.mcp.handler",
    "authorizer": "app.handlers.authorizer.handler",
}


class UsageError(Exception):
    """A bad argument; the message says which and what is expected."""


def _load_json_arg(raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} must be JSON ({exc.msg})") from None


def cmd_invoke(args: argparse.Namespace) -> int:
    from devtools.lambda_runtime import LambdaRuntime, load_handler

    path = Path(args.event)
    if not path.is_file():
        raise UsageError(f"--event: no such file: {path}")
    event = _load_json_arg(path.read_text(), f"--event {path}")
    if not isinstance(event, dict):
        raise UsageError(f"--event {path}: the event must be a JSON object")
    runtime = LambdaRuntime(load_handler(HANDLERS[args.function]))
    try:
        result = runtime.invoke_sync(event)
    finally:
        runtime.close()
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_event(args: argparse.Namespace) -> int:
    from devtools.events import proxy_event, request_authorizer_event
    from devtools.mcp_messages import mcp_request, tool_call_params

    headers: dict[str, str] = {}
    if args.authorization:
        headers["Authorization"] = args.authorization
    if args.kind == "authorizer":
        event = request_authorizer_event("POST", "/mcp", headers=headers)
    else:
        params: dict[str, Any] | None = None
        if args.tool:
            arguments = _load_json_arg(args.arguments, "--arguments")
            if not isinstance(arguments, dict):
                raise UsageError("--arguments must be a JSON object")
            params = tool_call_params(args.tool, arguments)
        elif args.params:
            params = _load_json_arg(args.params, "--params")
        mcp_headers, body = mcp_request(args.method, params, generation=args.generation)
        authorizer = (
            _load_json_arg(args.authorizer_context, "--authorizer-context")
            if args.authorizer_context
            else None
        )
        event = proxy_event(
            args.kind,
            "POST",
            "/mcp",
            headers={**mcp_headers, **headers},
            body=body,
            base64_encode=args.base64,
            authorizer=authorizer,
        )
    print(json.dumps(event, indent=2))
    return 0


def _state_file(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) / "credentials.json"


def _local_state(args: argparse.Namespace) -> dict[str, Any]:
    path = _state_file(args)
    if not path.is_file():
        raise UsageError(f"no local stack state at {path}: start it with `make dev` first")
    state = _load_json_arg(path.read_text(), str(path))
    if not isinstance(state, dict):
        raise UsageError(f"{path} is not a local stack state file; restart `make dev`")
    return state


def cmd_dev(args: argparse.Namespace) -> int:
    import signal
    import threading

    from devtools.local_stack import LocalStack, LocalStackOptions, summary

    port = args.port if args.port is not None else _port_from_env()
    options = LocalStackOptions(
        port=port,
        state_dir=Path(args.state_dir),
        authorizer_ttl_seconds=args.authorizer_ttl,
        api_keys_cache_seconds=args.api_keys_cache,
        allowed_origins=tuple(args.allowed_origin or ()),
    )
    stack = LocalStack(options, progress=lambda text: print(text, flush=True))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        credentials = stack.start()
        print(summary(credentials), flush=True)
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"could not start the local stack on port {port}: {exc.strerror or exc}") from None
    finally:
        print("stopping the local stack…", flush=True)
        stack.stop()
    return 0


def _port_from_env() -> int:
    raw = os.environ.get("PORT", "8787").strip() or "8787"
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise UsageError("PORT must be a port number (0-65535)")
    return int(raw)


def _scopes(values: Sequence[str]) -> list[str]:
    """Scopes given as separate words, or comma separated (as the stack output prints them)."""
    return [scope for value in values for scope in value.replace(",", " ").split()]


def cmd_token(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.parse
    import urllib.request

    if args.expires <= 0:
        raise UsageError("--expires must be a positive number of seconds")
    issuer = str(_local_state(args)["issuer"])
    if not issuer.startswith("http://127.0.0.1:"):
        raise UsageError(f"the local issuer must be on 127.0.0.1; restart `make dev` (state says {issuer})")
    form = urllib.parse.urlencode(
        {"scope": " ".join(_scopes(args.scopes)), "expires_in": args.expires, "sub": args.sub}
    )
    request = urllib.request.Request(f"{issuer}/token", data=form.encode(), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback issuer
            token = json.load(response)["access_token"]
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(
            f"the local issuer at {issuer} did not answer ({exc}); is `make dev` running?"
        ) from None
    print(token)
    return 0


def _key_store(args: argparse.Namespace) -> Any:
    import boto3

    from app.aws.key_store import SecretsManagerKeyStore

    if args.local:
        state = _local_state(args)
        client = boto3.client(
            "secretsmanager",
            endpoint_url=state["aws_endpoint"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts anything
        )
        return SecretsManagerKeyStore(str(state["api_keys_secret_id"]), client)
    if args.secret_id:
        return SecretsManagerKeyStore(args.secret_id, boto3.client("secretsmanager"))
    if args.stack:
        outputs = (
            boto3.client("cloudformation")
            .describe_stacks(StackName=args.stack)["Stacks"][0]
            .get("Outputs", [])
        )
        arn = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiKeysSecretArn"), None)
        if arn is None:
            raise UsageError(f"stack {args.stack} has no ApiKeysSecretArn output; pass --secret-id instead")
        return SecretsManagerKeyStore(arn, boto3.client("secretsmanager"))
    raise UsageError("say which key store: --stack NAME, --secret-id ARN, or --local")


def cmd_keys(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    store = _key_store(args)
    try:
        if args.action == "create":
            if not args.owner:
                raise UsageError("keys create needs --owner (who or what will use the key)")
            scopes = _scopes(args.scopes or [])
            if not scopes:
                raise UsageError("keys create needs --scopes (at least the base scope, e.g. mcp/access)")
            key = store.create_key(args.owner, scopes, args.expires_in_days)
            print(key)
            print("Store this key now: it is shown once; only its hash is kept.", file=sys.stderr)
        elif args.action == "list":
            for record in store.list_keys():
                expires = (
                    datetime.fromtimestamp(record.expires_at, UTC).isoformat()
                    if record.expires_at
                    else "never"
                )
                created = datetime.fromtimestamp(record.created_at, UTC).isoformat()
                state = "revoked" if record.revoked else "active"
                granted = " ".join(record.scopes)
                print(f"{record.key_id}  {state:7}  {record.owner}  {granted}  {created}  {expires}")
        elif args.action == "rotate":
            if not args.key_id:
                raise UsageError("keys rotate needs --key-id")
            key = store.rotate(args.key_id, args.grace_seconds)
            print(key)
            print(
                f"New key shown once. The old key {args.key_id} keeps working for {args.grace_seconds} s.",
                file=sys.stderr,
            )
        else:
            if not args.key_id:
                raise UsageError("keys revoke needs --key-id")
            store.revoke(args.key_id)
            print(f"revoked {args.key_id}", file=sys.stderr)
    except KeyError:
        raise UsageError(f"no key with id {args.key_id}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-lambda", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the local stack on http://127.0.0.1:$PORT/mcp")
    dev.add_argument(
        "--port", type=int, default=None, help="port (default: $PORT or 8787; 0 picks a free one)"
    )
    dev.add_argument("--state-dir", default=".local", help="where credentials.json is written")
    dev.add_argument(
        "--authorizer-ttl",
        type=float,
        default=0,
        help="authorizer cache TTL, seconds (0, the default: runs on every request, decides per tool)",
    )
    dev.add_argument("--api-keys-cache", type=int, default=60, help="API key store cache age, seconds")
    dev.add_argument("--allowed-origin", action="append", help="an Origin allowed to call /mcp (repeatable)")
    dev.set_defaults(run=cmd_dev)

    token = sub.add_parser("token", help="mint a dev access token from the local issuer")
    token.add_argument("--scopes", nargs="+", default=["mcp/access"], help="scopes (default mcp/access)")
    token.add_argument("--expires", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--sub", default="dev-user", help="subject (default dev-user)")
    token.add_argument("--state-dir", default=".local", help="the local stack's state directory")
    token.set_defaults(run=cmd_token)

    keys = sub.add_parser("keys", help="manage API keys in the Secrets Manager key store")
    keys.add_argument("action", choices=["create", "list", "rotate", "revoke"])
    where = keys.add_mutually_exclusive_group()
    where.add_argument("--stack", help="CloudFormation stack name (reads its ApiKeysSecretArn output)")
    where.add_argument("--secret-id", help="the key store secret's name or ARN")
    where.add_argument("--local", action="store_true", help="the running local stack (`make dev`)")
    keys.add_argument("--state-dir", default=".local", help="the local stack's state directory")
    keys.add_argument("--owner", help="create: who or what uses the key")
    keys.add_argument("--scopes", nargs="+", help="create: scopes (space or comma separated)")
    keys.add_argument("--expires-in-days", type=int, default=None, help="create: lifetime in days")
    keys.add_argument("--key-id", help="rotate/revoke: the key id (the 16 hex characters after mcpk_)")
    keys.add_argument(
        "--grace-seconds", type=int, default=86400, help="rotate: old key overlap (default 1 day)"
    )
    keys.set_defaults(run=cmd_keys)

    invoke = sub.add_parser("invoke", help="invoke a Lambda handler in-process with an event file")
    invoke.add_argument("function", choices=sorted(HANDLERS), help="which Lambda function")
    invoke.add_argument("--event", required=True, help="path to an API Gateway event JSON file")
    invoke.set_defaults(run=cmd_invoke)

    event = sub.add_parser("event", help="print a SAM-style API Gateway event for an MCP request")
    event.add_argument(
        "kind", choices=["v1", "v2", "authorizer"], help="REST proxy, HTTP API, or REQUEST authorizer"
    )
    event.add_argument("--method", default="tools/list", help="JSON-RPC method (default tools/list)")
    event.add_argument("--tool", help="tool name, for --method tools/call")
    event.add_argument("--arguments", default="{}", help="tool arguments as a JSON object")
    event.add_argument("--params", help="raw JSON-RPC params as JSON (instead of --tool)")
    event.add_argument("--generation", choices=["2025-11-25", "2026-07-28"], default="2025-11-25")
    event.add_argument("--base64", action="store_true", help="base64-encode the body, as SAM does")
    event.add_argument("--authorization", help="Authorization header value")
    event.add_argument(
        "--authorizer-context", help="authorizer context as JSON (what the authorizer returned)"
    )
    event.set_defaults(run=cmd_event)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "event" and args.tool and args.method == "tools/list":
        args.method = "tools/call"
    try:
        code: int = args.run(args)
        return code
    except UsageError as exc:
        print(f"mcp-lambda {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
