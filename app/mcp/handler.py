"""Lambda entry point of the MCP server: API Gateway event in, API Gateway response out.

Module-level work is what must happen once per container (and what a SnapStart snapshot
captures): reading and validating the settings, building the server, its tools and the ASGI
app. Mangum's lifespan is off because it would run on every invocation;
`app.mcp.asgi.SessionManagerRunner` enters the SDK's session manager once instead.

The only Lambda-specific translation is `AuthorizerContext`: it reads the authorizer's output
from the API Gateway event (REST v1: `requestContext.authorizer`, flat; HTTP API v2:
`requestContext.authorizer.lambda`) and puts a `Principal` and a `Caller` into the ASGI scope.
A request without a valid authorizer context gets no principal, and the app answers 401.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Any

# First: the SDK, imported without uvicorn and without the GC running (see app/mcp/sdk_import.py).
import app.mcp.sdk_import  # noqa: F401  # isort: skip

from mangum import Mangum
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Principal
from app.core.config import ConfigurationError, HttpSettings, SettingsSource, read_bool
from app.core.identity import CALLER_KEY, PRINCIPAL_KEY, Caller
from app.core.log_levels import apply_log_levels
from app.core.servers import Server
from app.core.snapstart import register_after_restore, reseed_random
from app.mcp.asgi import create_app
from app.mcp.server import build_server
from app.servers import REGISTRY


def authorizer_context(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The authorizer's context in a v1 or v2 proxy event, or None."""
    authorizer = (event.get("requestContext") or {}).get("authorizer")
    if not isinstance(authorizer, Mapping):
        return None
    if event.get("version") == "2.0":
        lambda_context = authorizer.get("lambda")
        return lambda_context if isinstance(lambda_context, Mapping) else None
    return authorizer


def caller_from_event(event: Mapping[str, Any]) -> Caller:
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    http = context.get("http") or {}
    return Caller(
        request_id=context.get("requestId"),
        source_ip=identity.get("sourceIp") or http.get("sourceIp"),
        user_agent=identity.get("userAgent") or http.get("userAgent"),
    )


def _sent_several_credentials(event: Mapping[str, Any]) -> bool:
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if (
            isinstance(name, str)
            and name.lower() == "authorization"
            and isinstance(values, list)
            and len(values) > 1
        ):
            return True
    return False


class AuthorizerContext:
    """ASGI middleware: the API Gateway authorizer's output → `Principal` in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event")
        if scope["type"] == "http" and isinstance(event, Mapping):
            scope[CALLER_KEY] = caller_from_event(event)
            context = authorizer_context(event)
            # Two Authorization headers: with an authorizer cache, API Gateway may have decided on
            # one of them from its cache without the authorizer seeing the other. Refuse (401).
            if context is not None and not _sent_several_credentials(event):
                # A malformed context leaves no principal: the app answers 401 (fail closed).
                with contextlib.suppress(ValueError):
                    scope[PRINCIPAL_KEY] = Principal.from_context(context)
        await self.app(scope, receive, send)


def build_asgi_app(
    source: SettingsSource, env: Mapping[str, str], server: Server | None = None
) -> AuthorizerContext:
    """The complete ASGI app behind the handler (tests build their own with other settings).

    `server`: the registry entry this function serves (`MCP_SERVER`), the primary one by default.
    """
    spec = server or REGISTRY.primary
    app = create_app(
        build_server(spec),
        source,
        HttpSettings.from_env(env),
        log_arguments=read_bool(env, "AUDIT_LOG_ARGUMENTS", False),
        server_name=spec.name,
    )
    return AuthorizerContext(app)


def selected_server(env: Mapping[str, str]) -> Server:
    """The server `MCP_SERVER` names (default: the primary one); an unknown name stops the start."""
    try:
        return REGISTRY.selected(env)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def server_function(server: Server, env: Mapping[str, str]) -> tuple[SettingsSource, Handler]:
    """The settings and handler of the function serving `server`, as a cold start builds them.

    What this module does at import for `MCP_SERVER`; the local stack calls it for every other
    server, each its own "function" in one process (each app has its own session manager).
    """
    source = SettingsSource(env=env, server_path=server.path)
    source.check_at_start()  # a broken setting stops the cold start with a message naming it
    adapter = Mangum(build_asgi_app(source, env, server), lifespan="off")

    def serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = adapter(event, context)
        return response

    return source, serve


apply_log_levels()
SERVER = selected_server(os.environ)
settings_source, _serve = server_function(SERVER, os.environ)


def after_restore() -> None:
    """SnapStart: drop cached settings, secrets and AWS clients; reseed `random`."""
    settings_source.clear()
    reseed_random()


register_after_restore(after_restore)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one API Gateway (REST v1 or HTTP API v2) proxy event."""
    return _serve(event, context)
