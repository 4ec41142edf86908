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


def cmd_dev(args: argparse.Namespace) -> int:
    import uvicorn

    port = args.port if args.port is not None else int(os.environ.get("PORT", "8787"))
    print(f"MCP endpoint: http://127.0.0.1:{port}/mcp  (Ctrl-C stops)", flush=True)
    uvicorn.run("app.handlers.mcp:asgi_app", host="127.0.0.1", port=port, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-lambda", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the local stack on http://127.0.0.1:$PORT/mcp")
    dev.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8787)")
    dev.set_defaults(run=cmd_dev)

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
