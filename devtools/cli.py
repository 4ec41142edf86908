"""`mcp-lambda`: the operator and developer command line of serverless-mcp.

mcp-lambda dev                              run the local stack (what `make dev` runs)
mcp-lambda invoke mcp --event FILE          the Docker-free `sam local invoke`
mcp-lambda event v1 --method tools/call --tool add --arguments '{"a": 1, "b": 2}'

Every command first reads `.env` from the working directory (variables already in the
environment win). A mistake a person can fix (an argument, a setting, missing AWS
configuration, a stopped local stack) ends with one line on stderr saying what to do, and
exit code 2; a refusal by `invoke authorizer` ends with exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from app.auth.algorithms import DEFAULT_BASE_SCOPE
from app.auth.scopes import is_scope_token
from app.core.config import (
    ConfigurationError,
    check_base_scope,
    parse_origins,
    read_float,
    read_int,
    read_list,
)
from devtools.env_file import EnvFileError, load_env_file

if TYPE_CHECKING:  # at run time only `dev` imports it, as each command imports its own modules
    from app.core.usage import ApiGatewayKeys
    from devtools.local_stack import LocalStackOptions
    from infra.config import UsagePlanSettings
    from infra.sso_settings import SsoSettings

HANDLERS = {
    "mcp": "app.mcp.handler.handler",
    "authorizer": "app.authorizer.handler.handler",
}
# The local value `.env.example` documents; `invoke` uses it when no MCP URL is configured.
LOCAL_MCP_URL: Final = "http://127.0.0.1:8787/mcp"
# API Gateway's range for a REST authorizer's result cache TTL.
MAX_AUTHORIZER_TTL_SECONDS: Final = 3600
# Exit codes: 1 = the authorizer refused (a result, not a mistake), 2 = a mistake to fix.
REFUSED: Final = 1


class UsageError(Exception):
    """A bad argument or setting; the message says which and what to do."""


def _load_json_arg(raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} must be JSON ({exc.msg})") from None


def local_defaults(environ: MutableMapping[str, str]) -> list[str]:
    """Fill in what a fresh clone lacks for an in-process invoke; return the names set.

    Only MCP_URL is required and has no default in the code (deployed, it must be the real
    URL); locally, the `.env.example` value is as good as any, since `invoke` never serves it.
    """
    if environ.get("MCP_URL", "").strip() or environ.get("MCP_URL_PARAMETER", "").strip():
        return []
    environ["MCP_URL"] = LOCAL_MCP_URL
    return ["MCP_URL"]


def cmd_invoke(args: argparse.Namespace) -> int:
    from devtools.lambda_runtime import LambdaRuntime, load_handler

    path = Path(args.event)
    if not path.is_file():
        raise UsageError(f"--event: no such file: {path}")
    event = _load_json_arg(path.read_text(), f"--event {path}")
    if not isinstance(event, dict):
        raise UsageError(f"--event {path}: the event must be a JSON object")
    if local_defaults(os.environ):
        _note(args, f"MCP_URL is not set; using {LOCAL_MCP_URL} (as in .env.example; set MCP_URL to change)")
    refused = False
    # As on Lambda and with `sam local invoke`, what the function prints (audit lines, metrics)
    # is its log, not its answer: it goes to stderr, and stdout holds only the result.
    with contextlib.redirect_stdout(sys.stderr):
        # Importing the handler is its cold start: a bad setting raises ConfigurationError here.
        runtime = LambdaRuntime(load_handler(HANDLERS[args.function]))
        try:
            result = runtime.invoke_sync(event)
        except Exception as exc:
            # An authorizer error whose message is exactly "Unauthorized" is API Gateway's 401;
            # any other exception is a bug and keeps its traceback.
            if args.function != "authorizer" or str(exc) != "Unauthorized":
                raise
            # What Lambda returns for a raised exception, without the stack trace it adds.
            result = {"errorMessage": "Unauthorized", "errorType": type(exc).__name__}
            refused = True
        finally:
            runtime.close()
    print(json.dumps(result, indent=2, default=str))
    if args.function != "authorizer":
        return 0
    status, decision = (
        (401, "401 Unauthorized: API Gateway answers with its UNAUTHORIZED response; the audit line says why")
        if refused
        else authorizer_decision(result)
    )
    _note(args, decision)
    return 0 if status == 200 else REFUSED


def authorizer_decision(result: Any) -> tuple[int, str]:
    """The status API Gateway answers for an authorizer result, and a sentence saying why."""
    try:
        statements = result["policyDocument"]["Statement"]
        effects = {statement["Effect"] for statement in statements}
        context = result.get("context") or {}
    except (KeyError, TypeError, AttributeError):
        return 500, "500: not a policy; API Gateway answers 500 (AuthorizerConfigurationException)"
    if "Deny" in effects:
        reason = context.get("reason", "none given")
        return 403, f"403 Deny policy (reason: {reason}): API Gateway answers with its ACCESS_DENIED response"
    if effects == {"Allow"}:
        principal = result.get("principalId")
        who = f"{context.get('auth_method', '?')}; scopes: {context.get('scopes') or 'none'}"
        return 200, f"Allow policy for {principal} ({who}): API Gateway calls the MCP function"
    return 500, "500: a policy with no Allow or Deny; API Gateway answers 500"


def _note(args: argparse.Namespace, text: str) -> None:
    print(f"mcp-lambda {args.command}: {text}", file=sys.stderr)


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
        event = proxy_event(
            args.kind,
            "POST",
            "/mcp",
            headers={**mcp_headers, **headers},
            body=body,
            base64_encode=args.base64,
            authorizer=_event_authorizer_context(args),
        )
    print(json.dumps(event, indent=2))
    return 0


def _event_authorizer_context(args: argparse.Namespace) -> dict[str, Any] | None:
    """What the authorizer would have passed on: explicit JSON, none, or a dev JWT caller.

    API Gateway calls the MCP function only after the authorizer allowed the request, so a
    realistic proxy event carries a principal; without one the function answers 401.
    """
    if args.authorizer_context:
        explicit = _load_json_arg(args.authorizer_context, "--authorizer-context")
        if not isinstance(explicit, dict):
            raise UsageError("--authorizer-context must be a JSON object")
        return explicit
    if args.no_authorizer_context:
        return None
    from app.auth.principal import Principal

    if args.scopes:
        scopes = frozenset(_scopes(args.scopes))
        if not scopes or not all(is_scope_token(scope) for scope in scopes):
            raise UsageError(
                "--scopes must be OAuth scope tokens (no quotes or backslashes), e.g. mcp/access"
            )
    else:
        scopes = known_scopes(os.environ)[1]
    principal = Principal(subject="dev-user", auth_method="jwt", scopes=scopes, client_id="mcp-lambda-dev")
    context: dict[str, Any] = principal.to_context()
    # REST (v1) events carry the policy's principalId next to the context; HTTP API (v2) do not.
    return {"principalId": principal.subject, **context} if args.kind == "v1" else context


def base_scope(environ: Mapping[str, str]) -> str:
    """OAUTH_BASE_SCOPE (default mcp/access), checked like the handlers check it."""
    return check_base_scope(environ.get("OAUTH_BASE_SCOPE", "").strip() or DEFAULT_BASE_SCOPE)


def known_scopes(environ: Mapping[str, str]) -> tuple[str, frozenset[str]]:
    """The base scope, and every scope the API knows: the base scope and every server's tools' scopes."""
    from app.mcp.tool_scopes_export import server_table

    base = base_scope(environ)
    return base, frozenset({base, *server_table().all_scopes()})


def _state_file(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) / "credentials.json"


def _local_state(args: argparse.Namespace) -> dict[str, Any]:
    path = _state_file(args)
    if not path.is_file():
        raise UsageError(f"no local stack state at {path}: start it with `make dev` first")
    state = _load_json_arg(path.read_text(), str(path))
    if not isinstance(state, dict) or not all(
        isinstance(state.get(key), str) for key in ("aws_endpoint", "api_keys_secret_id", "issuer")
    ):
        raise UsageError(f"{path} is not a local stack state file; restart `make dev`")
    return state


def cmd_dev(args: argparse.Namespace) -> int:
    import signal
    import threading

    from devtools.local_stack import LocalStack, summary

    options = _dev_options(args, os.environ)
    port = options.port
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


def _dev_options(args: argparse.Namespace, environ: Mapping[str, str]) -> LocalStackOptions:
    """Every local stack option, from the arguments or else the environment, checked first.

    Checked before anything starts: a bad value would otherwise surface as a traceback from the
    middle of the start (seeding moto, importing a handler).
    """
    from devtools.local_stack import LocalStackOptions

    base_scope(environ)
    if args.allowed_origin:
        origins = tuple(args.allowed_origin)
        parse_origins(origins, "--allowed-origin")
    else:
        origins = read_list(environ, "ALLOWED_ORIGINS")
        parse_origins(origins, "ALLOWED_ORIGINS")
    ttl = (
        args.authorizer_ttl
        if args.authorizer_ttl is not None
        else read_float(environ, "AUTHORIZER_CACHE_TTL_SECONDS", 0)
    )
    if not 0 <= ttl <= MAX_AUTHORIZER_TTL_SECONDS:
        raise UsageError(
            f"the authorizer TTL must be 0-{MAX_AUTHORIZER_TTL_SECONDS} seconds (API Gateway's range)"
        )
    keys_cache = (
        args.api_keys_cache
        if args.api_keys_cache is not None
        else read_int(environ, "API_KEYS_CACHE_SECONDS", 60)
    )
    if keys_cache < 0:
        raise UsageError("--api-keys-cache must be 0 or more seconds")
    return LocalStackOptions(
        sso=_sso_from_env(environ),
        port=args.port if args.port is not None else _port_from_env(),
        state_dir=Path(args.state_dir),
        authorizer_ttl_seconds=ttl,
        api_keys_cache_seconds=keys_cache,
        config_cache_seconds=read_int(environ, "CONFIG_CACHE_SECONDS", 300),
        allowed_origins=origins,
        # On locally whatever INSPECTOR says (that setting is the deployed stack's switch).
        inspector=not args.no_inspector,
        usage=_usage_plans(environ),
    )


def _sso_from_env(environ: Mapping[str, str]) -> SsoSettings | None:
    """SSO_PROVIDER, SSO_ATTRIBUTES, SSO_ONLY (same rules as the stack); SSO_METADATA and SSO_CLIENT
    name the real provider and are not needed: `make dev` starts a stand-in (devtools/sso.py)."""
    from infra.sso_settings import SsoSettingError, parse_sso_settings

    try:
        return parse_sso_settings(lambda name: environ.get(name, "").strip() or None, deployed=False)
    except SsoSettingError as error:
        raise UsageError(str(error)) from None


def _usage_plans(environ: Mapping[str, str]) -> UsagePlanSettings | None:
    """USAGE_PLANS and its tiers, read as the stack reads them; None when off."""
    from infra.config import ConfigError, parse_usage_plans

    try:
        usage = parse_usage_plans(environ.get)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    return usage if usage.enabled else None


def _port_from_env() -> int:
    raw = os.environ.get("PORT", "8787").strip() or "8787"
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise UsageError("PORT must be a port number (0-65535)")
    return int(raw)


def _scopes(values: Sequence[str]) -> list[str]:
    """Scopes given as separate words, or comma separated (as the stack output prints them)."""
    return [scope for value in values for scope in value.replace(",", " ").split()]


def cmd_token(args: argparse.Namespace) -> int:
    """A token from the local issuer the way a machine client gets one: client credentials."""
    if args.expires <= 0:
        raise UsageError("--expires must be a positive number of seconds")
    print(machine_token(_local_state(args), _scopes(args.scopes), args.expires))
    return 0


def machine_token(state: Mapping[str, Any], scopes: Sequence[str], expires: int = 3600) -> str:
    """An access token for the local stack's dev machine client (`state`: its credentials.json).

    The stack registers the dev machine client at start and writes its id and secret to the
    state file; they go to `/token` as HTTP Basic credentials (RFC 6749 §2.3.1), never on the
    command line, so they stay out of shell history and process listings.
    """
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request

    issuer = str(state["issuer"])
    if not issuer.startswith("http://127.0.0.1:"):
        raise UsageError(f"the local issuer must be on 127.0.0.1; restart `make dev` (state says {issuer})")
    client_id, secret = state.get("dev_client_id"), state.get("dev_client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
        raise UsageError("the local stack state has no dev client; restart `make dev`")
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "scope": " ".join(scopes), "expires_in": expires}
    )
    basic = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    request = urllib.request.Request(  # noqa: S310 - the loopback issuer checked above
        f"{issuer}/token",
        data=form.encode(),
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(basic.encode()).decode("ascii"),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback issuer
            return str(json.load(response)["access_token"])
    except urllib.error.HTTPError as exc:
        raise UsageError(f"the local issuer refused the token request: {_oauth_error(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(
            f"the local issuer at {issuer} did not answer ({exc}); is `make dev` running?"
        ) from None


def _oauth_error(error: Any) -> str:
    """`error: description` from an RFC 6749 §5.2 answer (fixed text the issuer chose)."""
    try:
        document = json.load(error)
        return f"{document['error']}: {document.get('error_description', '')}".strip()
    except (ValueError, KeyError, TypeError, OSError):
        return f"HTTP {error.code}"


@dataclass(frozen=True)
class UsageTarget:
    """Where `keys create` puts a key's own usage key: the tiers' usage plans, and the default."""

    plan_ids: Mapping[str, str]
    default_tier: str
    keys: ApiGatewayKeys


@dataclass(frozen=True)
class KeyTarget:
    """The key store to change, and the usage plans beside it (None: unknown or off)."""

    store: Any
    usage: UsageTarget | None = None


def _usage_target(plan_ids: object, default_tier: object, client: Any, where: str) -> UsageTarget | None:
    """The usage plans named by a stack output or the local state; None when usage plans are off."""
    from app.core.usage import ApiGatewayKeys

    if not plan_ids:
        return None
    if (
        not isinstance(plan_ids, dict)
        or not all(isinstance(value, str) for value in plan_ids.values())
        or not isinstance(default_tier, str)
        or default_tier not in plan_ids
    ):
        raise UsageError(f"{where} does not name the usage plans as expected; redeploy or restart it")
    return UsageTarget(plan_ids=plan_ids, default_tier=default_tier, keys=ApiGatewayKeys(client))


def _key_store(args: argparse.Namespace) -> KeyTarget:
    import boto3
    from botocore.config import Config

    from app.core.key_store import SecretsManagerKeyStore

    if args.local:
        state = _local_state(args)
        local = {
            "endpoint_url": state["aws_endpoint"],
            "region_name": "us-east-1",
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",  # moto accepts anything
            # A stopped stack should say so at once, not after botocore's retries.
            "config": Config(connect_timeout=2, read_timeout=30, retries={"total_max_attempts": 1}),
        }
        store = SecretsManagerKeyStore(
            str(state["api_keys_secret_id"]), boto3.client("secretsmanager", **local)
        )
        usage = _usage_target(
            state.get("usage_plans"),
            state.get("usage_default_tier"),
            boto3.client("apigateway", **local),
            f"the local stack state {_state_file(args)}",
        )
        return KeyTarget(store, usage)
    if args.secret_id:
        return KeyTarget(SecretsManagerKeyStore(args.secret_id, boto3.client("secretsmanager")))
    if args.stack:
        outputs = {
            output["OutputKey"]: output["OutputValue"]
            for output in boto3.client("cloudformation")
            .describe_stacks(StackName=args.stack)["Stacks"][0]
            .get("Outputs", [])
        }
        arn = outputs.get("ApiKeysSecretArn")
        if arn is None:
            raise UsageError(f"stack {args.stack} has no ApiKeysSecretArn output; pass --secret-id instead")
        plans = (
            _load_json_arg(outputs["UsagePlanIds"], "the UsagePlanIds output")
            if "UsagePlanIds" in outputs
            else None
        )
        usage = _usage_target(
            plans, outputs.get("UsageDefaultTier"), boto3.client("apigateway"), f"stack {args.stack}"
        )
        return KeyTarget(SecretsManagerKeyStore(arn, boto3.client("secretsmanager")), usage)
    raise UsageError("say which key store: --stack NAME, --secret-id ARN, or --local")


@contextlib.contextmanager
def _aws_errors(args: argparse.Namespace) -> Iterator[None]:
    """Turn what boto3 raises into one line that says what to do.

    AWS error messages name resources and operations, never a secret value, so the service's
    own message is kept; SDK exceptions are described, not echoed with their internals.
    """
    from botocore import exceptions as aws

    try:
        yield
    except aws.NoRegionError:
        raise UsageError(
            "no AWS region is configured: set AWS_DEFAULT_REGION (e.g. us-east-1) or a profile's "
            "region with `aws configure`; for the local stack use --local"
        ) from None
    except (aws.NoCredentialsError, aws.PartialCredentialsError):
        raise UsageError(
            "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE; "
            "for the local stack use --local"
        ) from None
    except (aws.ConnectionError, aws.HTTPClientError) as exc:
        if args.local:
            endpoint = _local_state(args)["aws_endpoint"]
            raise UsageError(
                f"the local stack at {endpoint} does not answer: start it with `make dev` "
                f"(state read from {_state_file(args)})"
            ) from None
        raise UsageError(
            f"could not reach AWS ({type(exc).__name__}); check the network and the region"
        ) from None
    except aws.ClientError as exc:
        error = exc.response.get("Error", {})
        message = " ".join(str(error.get("Message", "")).split())
        raise UsageError(
            f"AWS refused {exc.operation_name}: {error.get('Code', 'error')}: {message}"
        ) from None
    except aws.BotoCoreError as exc:
        raise UsageError(f"AWS SDK error: {type(exc).__name__}") from None


def _checked_scopes(values: Sequence[str]) -> list[str]:
    """`--scopes`, refused unless every scope is one this server knows (a typo would be a dead key)."""
    scopes = _scopes(values)
    if not scopes:
        raise UsageError(
            f"keys create needs --scopes (at least the base scope, e.g. {base_scope(os.environ)})"
        )
    base, known = known_scopes(os.environ)
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise UsageError(
            f"unknown scope(s) {' '.join(unknown)}; this server knows: {' '.join(sorted(known))} "
            f"(the base scope {base} and the scopes its tools declare)"
        )
    if base not in scopes:
        print(
            f"mcp-lambda keys: warning: without {base} the authorizer denies this key (403) on every request",
            file=sys.stderr,
        )
    return scopes


def _check_tenant(tenant: str | None) -> None:
    """`--tenant`, refused unless it is a valid tenant id (it becomes an IAM session tag)."""
    from app.auth.tenants import check_tenant_id

    if tenant is not None:
        try:
            check_tenant_id(tenant, "--tenant")
        except ValueError as error:
            raise UsageError(str(error)) from None


def _checked_servers(names: list[str] | None) -> tuple[str, ...] | None:
    """`--server` (repeatable): names of this repository's MCP servers; none given: the primary only."""
    if not names:
        return None
    from app.servers import REGISTRY

    known = [server.name for server in REGISTRY.servers]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(
            f"--server {unknown[0]}: no such MCP server; the servers are {', '.join(known)} "
            "(app/servers/__init__.py)"
        )
    return tuple(dict.fromkeys(names))


def cmd_keys(args: argparse.Namespace) -> int:
    from app.core.key_store import KeyStoreConflictError

    # Arguments first: a mistake in them is reported before any AWS call.
    scopes: list[str] = []
    if args.action == "create":
        if not args.owner:
            raise UsageError("keys create needs --owner (who or what will use the key)")
        scopes = _checked_scopes(args.scopes or [])
        _check_tenant(args.tenant)
        args.servers = _checked_servers(args.server)
    elif args.action in ("rotate", "revoke") and not args.key_id:
        raise UsageError(f"keys {args.action} needs --key-id")
    with _aws_errors(args):
        target = _key_store(args)
        try:
            _run_keys_action(args, target, scopes)
        except KeyError:
            raise UsageError(f"no key with id {args.key_id}") from None
        except (ValueError, KeyStoreConflictError) as exc:
            raise UsageError(str(exc)) from None
    return 0


def _create_key(args: argparse.Namespace, target: KeyTarget, scopes: list[str]) -> str:
    """A new key; with usage plans, with its own usage key in its tier's plan (docs/quotas.md)."""
    usage = target.usage
    if usage is None:
        if args.tier:
            raise UsageError(
                "--tier needs the usage plans: use --stack NAME or --local (with --secret-id the CLI "
                "cannot see them), on a stack deployed with USAGE_PLANS on"
            )
        return str(
            target.store.create_key(
                args.owner, scopes, args.expires_in_days, tenant=args.tenant, servers=args.servers
            )
        )
    tier = args.tier or usage.default_tier
    if tier not in usage.plan_ids:
        raise UsageError(
            f"--tier {tier}: no such tier; the usage plans are {', '.join(sorted(usage.plan_ids))}"
        )
    usage_key = usage.keys.create(
        usage.plan_ids[tier], f"mcp-lambda key of {args.owner}", f"serverless-mcp API key of {args.owner}"
    )
    try:
        return str(
            target.store.create_key(
                args.owner,
                scopes,
                args.expires_in_days,
                tenant=args.tenant,
                tier=tier,
                usage_key=usage_key,
                servers=args.servers,
            )
        )
    except BaseException:
        usage.keys.delete(usage_key.key_id, usage.plan_ids[tier])  # no usage key without its API key
        raise


def _revoke_key(args: argparse.Namespace, target: KeyTarget) -> None:
    """Revoke; then delete its usage key from API Gateway unless a live key (a rotation) shares it."""
    target.store.revoke(args.key_id)
    records = target.store.list_keys()
    revoked = next(record for record in records if record.key_id == args.key_id)
    shared = any(
        not record.revoked and record.usage_key_id == revoked.usage_key_id
        for record in records
        if record.key_id != revoked.key_id
    )
    if revoked.usage_key_id and target.usage is not None and not shared:
        plan_id = target.usage.plan_ids.get(revoked.tier) if revoked.tier else None
        target.usage.keys.delete(revoked.usage_key_id, plan_id)


def _run_keys_action(args: argparse.Namespace, target: KeyTarget, scopes: list[str]) -> None:
    from datetime import UTC, datetime

    store = target.store
    if args.action == "create":
        key = _create_key(args, target, scopes)
        print(key)
        print("Store this key now: it is shown once; only its hash is kept.", file=sys.stderr)
    elif args.action == "list":
        for record in store.list_keys():
            expires = (
                datetime.fromtimestamp(record.expires_at, UTC).isoformat() if record.expires_at else "never"
            )
            created = datetime.fromtimestamp(record.created_at, UTC).isoformat()
            state = "revoked" if record.revoked else "active"
            granted = " ".join(record.scopes)
            # The tier last, so the columns before it keep their places; "default": the stack's
            # default tier, metered with its shared key (no usage key of its own).
            tier = record.tier or "default"
            own = f" (usage key {record.usage_key_id})" if record.usage_key_id else ""
            columns = (
                record.key_id,
                f"{state:7}",
                record.owner,
                granted,
                created,
                expires,
                *((f"tenant={record.tenant}",) if record.tenant else ()),
                *((f"servers={','.join(record.servers)}",) if record.servers else ()),
                f"tier={tier}{own}",
            )
            print("  ".join(columns))
    elif args.action == "rotate":
        key = store.rotate(args.key_id, args.grace_seconds)
        print(key)
        print(
            f"New key shown once. The old key {args.key_id} keeps working for {args.grace_seconds} s.",
            file=sys.stderr,
        )
    else:
        _revoke_key(args, target)
        print(f"revoked {args.key_id}", file=sys.stderr)


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
        default=None,
        help=(
            "authorizer cache TTL, seconds (default: $AUTHORIZER_CACHE_TTL_SECONDS or 0: the authorizer "
            "runs on every request and decides per tool)"
        ),
    )
    dev.add_argument(
        "--api-keys-cache",
        type=int,
        default=None,
        help="API key store cache age, seconds (default: $API_KEYS_CACHE_SECONDS or 60)",
    )
    dev.add_argument(
        "--allowed-origin",
        action="append",
        help="an Origin allowed to call /mcp (repeatable; default: $ALLOWED_ORIGINS, comma separated)",
    )
    dev.add_argument(
        "--no-inspector",
        action="store_true",
        help="do not serve the inspector at /inspector (it is on locally by default)",
    )
    dev.set_defaults(run=cmd_dev)

    token = sub.add_parser(
        "token", help="get an access token from the local issuer (client credentials of the dev client)"
    )
    token.add_argument("--scopes", nargs="+", default=["mcp/access"], help="scopes (default mcp/access)")
    token.add_argument(
        "--expires", type=int, default=3600, help="lifetime in seconds (default and most: 3600)"
    )
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
    keys.add_argument(
        "--tenant",
        default=None,
        help="create: the tenant the key acts for (MULTI_TENANT=true refuses a key without one)",
    )
    keys.add_argument(
        "--server",
        action="append",
        metavar="NAME",
        help="create: an MCP server the key may call (repeatable; default: the primary server only)",
    )
    keys.add_argument(
        "--tier",
        help="create: usage tier (a USAGE_TIERS name; default: the stack's USAGE_DEFAULT_TIER); the key gets "
        "its own API Gateway usage key in that tier's plan",
    )
    keys.add_argument("--key-id", help="rotate/revoke: the key id (the 16 hex characters after mcpk_)")
    keys.add_argument(
        "--grace-seconds", type=int, default=86400, help="rotate: old key overlap (default 1 day)"
    )
    keys.set_defaults(run=cmd_keys)

    invoke = sub.add_parser("invoke", help="invoke a Lambda handler in-process with an event file")
    invoke.add_argument("function", choices=sorted(HANDLERS), help="which Lambda function")
    invoke.add_argument("--event", required=True, help="path to an API Gateway event JSON file")
    invoke.epilog = (
        "MCP_URL defaults to the local value of .env.example when neither it nor MCP_URL_PARAMETER "
        "is set. invoke authorizer exits 1 when the authorizer refuses (401 or 403)."
    )
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
    caller = event.add_mutually_exclusive_group()
    caller.add_argument(
        "--authorizer-context", help="authorizer context as JSON (what the authorizer returned)"
    )
    caller.add_argument(
        "--scopes",
        nargs="+",
        help="scopes of the default dev caller's context (default: every scope this server knows)",
    )
    caller.add_argument(
        "--no-authorizer-context",
        action="store_true",
        help="no authorizer context (the MCP function then answers 401: fail closed)",
    )
    event.set_defaults(run=cmd_event)

    new_server = sub.add_parser(
        "new-server", help="scaffold another MCP server: app/servers/NAME/ and its registry line"
    )
    new_server.add_argument("name", help="the server's name (a-z 0-9 -): served at /NAME/mcp")
    new_server.add_argument("--root", default=".", help="the repository's root (default: here)")
    new_server.set_defaults(run=cmd_new_server)
    return parser


def cmd_new_server(args: argparse.Namespace) -> int:
    from devtools.scaffold import ScaffoldError, new_server

    try:
        made = new_server(Path(args.root), args.name)
    except ScaffoldError as error:
        raise UsageError(str(error)) from None
    print(f"created {made.folder}/__init__.py and listed {made.package} in app/servers/__init__.py")
    print(
        f"it is served at {made.path} by its own function; its example tool needs the scope mcp/{made.name}. "
        "Give an API key access with `keys create --server "
        f"{made.name}` (docs/servers.md)."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "event" and args.tool and args.method == "tools/list":
        args.method = "tools/call"
    try:
        load_env_file(Path(".env"))
        code: int = args.run(args)
        return code
    except (UsageError, ConfigurationError, EnvFileError) as exc:
        # One line: messages are written to fit one, but a cause could carry a newline.
        print(f"mcp-lambda {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
