"""The ASGI application behind the MCP Lambda: SDK transport plus the checks at the edge.

The SDK's streamable-HTTP transport does the MCP protocol. This module adds what a public
endpoint behind API Gateway needs and the SDK does not do the way we want:

- a principal (put into the scope by the Lambda entry point from the authorizer context) or
  401 with a `WWW-Authenticate` challenge: fail closed if the function is ever wired without
  the authorizer;
- a principal whose credential has expired gets 401 `invalid_token`: API Gateway keeps
  serving a cached Allow for the authorizer's TTL, so the expiry travels in the authorizer
  context and is checked here on every request, with the authorizer's own clock-skew leeway;
- per-tool, per-resource (templates included) and per-prompt scopes: a call the caller lacks
  scope for gets 403 `insufficient_scope` naming the scopes (the MCP step-up flow), before the
  SDK runs it; a `resources/read` of a URI no declared resource or template serves gets -32602;
- the `Mcp-Method`/`Mcp-Name` routing headers (SEP-2243), which the authorizer decides on,
  must agree with the body (any protocol version), else 400 with the SDK's HEADER_MISMATCH;
- a request id is a string or an integer, and `tools/call`, `resources/read` and `prompts/get`
  carry one: the SDK would treat anything else as a notification and run nothing, while the
  audit trail named the target, so such a body is refused (-32600) and audited as refused;

- `POST` only on the MCP path: a stateless server has no SSE stream to offer, and a GET would
  open one that never ends, so GET/DELETE get 405 with `Allow: POST` before the SDK sees them.
- `Origin` checked against an allow-list (DNS-rebinding and browser-CSRF defence, per the MCP
  spec); the SDK's own Host check is off because API Gateway and custom domains set the Host.
  Every answer to an allowed Origin carries the CORS headers a browser client needs
  (`app/mcp/cors.py`);
- one JSON-RPC object per request, at most `MAX_BODY_BYTES`: batches, non-JSON and oversized
  bodies get a JSON-RPC error with a 4xx status, never a 500 or a stack trace.
- the session manager entered once per process, lazily, on the running loop (see
  `SessionManagerRunner`);
- the RFC 9728 protected-resource metadata, unauthenticated, at the root and path-inserted
  well-known URLs, and a health route;
- settings that cannot be read from SSM (an outage, throttling) and are not cached: 503 with
  `Retry-After`, the one 5xx this function answers on purpose (see docs/resilience.md), audited
  `server_error` / `settings_unavailable`; never a guess at what the settings say.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import NAME_BEARING_METHODS
from mcp_types.jsonrpc import HEADER_MISMATCH, INVALID_PARAMS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.auth.challenge import ChallengeError, www_authenticate
from app.auth.principal import Principal
from app.core.config import (
    MCP_PATH,
    PRM_PATH,
    AuthSettings,
    HttpSettings,
    SettingsSource,
    SettingUnavailable,
    retry_after_seconds,
)
from app.core.identity import caller_of, principal_of, scope_of
from app.mcp import single_exchange
from app.mcp.audit import AUDIT_KEY, OutcomeRecorder, RequestAudit
from app.mcp.cors import BrowserCors
from app.mcp.permissions import (
    ListFilter,
    PromptRequestCheck,
    ScopedServer,
    routing_header_mismatch,
    target_of,
)
from app.mcp.widgets import VisibilityGate

# JSON-RPC 2.0 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
SERVER_INTERNAL_ERROR = -32603

# Levels of nesting a request body may have, the body object itself being level 1. A real MCP
# request is a few levels deep (body, params, arguments, then what a tool's schema nests);
# without a limit, 100k levels made `json.loads` raise RecursionError (a 500) and a few hundred
# could still exhaust the stack in pydantic or in the SDK's own parsing.
MAX_JSON_DEPTH = 64

# Methods whose reply is a stream that stays open: a stateless Lambda behind API Gateway
# buffers every reply, so the stream would never end (Mangum failed on it with a 500).
UNSUPPORTED_METHODS = frozenset({"subscriptions/listen"})


def jsonrpc_error(
    status: int,
    code: int,
    message: str,
    *,
    request_id: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An HTTP error whose body is a JSON-RPC error object, as MCP clients expect."""
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def settings_unavailable() -> JSONResponse:
    """503: the settings could not be read (SSM unreachable or throttling) and none are cached.

    Nothing is served on a guess: the base scope, the allowed origins and the challenge all come
    from the settings. `Retry-After` is when the read is tried again (`READ_RETRY_SECONDS`).
    """
    return jsonrpc_error(
        503,
        SERVER_INTERNAL_ERROR,
        "Service unavailable: the server could not read its settings; retry shortly",
        headers={"Retry-After": retry_after_seconds(), "Cache-Control": "no-store"},
    )


class SessionManagerRunner:
    """Enter the SDK session manager exactly once per process, on the loop that serves requests.

    `StreamableHTTPSessionManager.run()` may be entered once per instance, and Mangum runs ASGI
    lifespan on every invocation, so lifespan is off and the context is entered here instead,
    inside a task parked on the event loop for the life of the container. Mangum reuses one
    loop across invocations, so the parked task (and the SDK task group it holds) survives
    between warm calls; under uvicorn it is simply the server's loop.
    """

    def __init__(self, session_manager: StreamableHTTPSessionManager) -> None:
        self._session_manager = session_manager
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        _RUNNERS.add(self)

    async def ensure_running(self) -> None:
        if self._ready is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            self._task = loop.create_task(self._park(self._ready), name="mcp-session-manager")
        await asyncio.shield(self._ready)

    def stop(self) -> None:
        """End the parked task (and the SDK session manager), from the thread that owns its idle loop.

        Lambda never needs this: the container is frozen, then discarded. Nor does a process
        that merely wants to exit (`release_worker_threads` runs at interpreter exit); the local
        stack and tests call it to shut the session manager down cleanly.
        """
        task, self._task, self._ready = self._task, None, None
        if task is None or task.done():
            return
        loop = task.get_loop()
        if loop.is_closed():
            return
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))

    async def _park(self, ready: asyncio.Future[None]) -> None:
        try:
            keep_worker_threads_warm()
            async with self._session_manager.run():
                ready.set_result(None)
                await asyncio.Event().wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise


_RUNNERS: weakref.WeakSet[SessionManagerRunner] = weakref.WeakSet()


def stop_session_managers() -> None:
    """Stop every parked session manager whose loop belongs to this thread (see `stop`)."""
    try:
        current = asyncio.get_event_loop()
    except RuntimeError:
        return
    for runner in list(_RUNNERS):
        if runner._task is not None and runner._task.get_loop() is current:
            runner.stop()


def keep_worker_threads_warm() -> None:
    """Let anyio's worker threads outlive a Lambda invocation (call from the parked task).

    The SDK runs synchronous tools in anyio worker threads. anyio ties its idle workers to a
    "root task" and stops them when it ends; under Mangum that is each invocation's task, so
    every warm call of a sync tool paid for a new thread (about 1 ms here). Making the
    long-lived parked task the root keeps one idle worker for the life of the container.
    `tests/unit/mcp/test_edge_checks.py` checks that warm calls reuse the same thread, so an
    anyio change that breaks this hook fails loudly instead of silently slowing down.
    """
    from anyio._backends._asyncio import _root_task  # no public API for this

    _root_task.set(asyncio.current_task())
    _release_worker_threads_at_exit()


def release_worker_threads() -> None:
    """Let the warm worker threads of parked tasks end, so that the interpreter can exit.

    Runs at interpreter exit, before Python joins the threads that are not daemons (anyio's
    worker threads are not, and a parked task never ends by itself, so a script that invoked
    the handler once used to hang at exit). Only the threads are told to stop, as anyio does
    when a root task ends; the parked task is left to the loop, which is not running here, or
    cancelled on its own loop if that loop still runs in another thread.
    """
    from anyio._backends._asyncio import WorkerThread  # no public API for this

    for runner in list(_RUNNERS):
        task = runner._task
        if task is None or task.done():
            continue
        loop = task.get_loop()
        if loop.is_running():  # owned by another thread: let that thread end the task
            loop.call_soon_threadsafe(task.cancel)
            continue
        for thread in threading.enumerate():
            if isinstance(thread, WorkerThread) and thread.root_task is task:
                thread.stop()


_exit_hook_registered = False


def _release_worker_threads_at_exit() -> None:
    # `threading._register_atexit` (Python 3.9+) runs before the non-daemon threads are joined;
    # `atexit` would run after that join, which never ends.
    global _exit_hook_registered
    register: Callable[[Callable[[], None]], None] | None = getattr(threading, "_register_atexit", None)
    if _exit_hook_registered or register is None:
        return
    with contextlib.suppress(RuntimeError):  # the interpreter is shutting down already
        register(release_worker_threads)
        _exit_hook_registered = True


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class NestingTooDeep(ValueError):
    """The body is JSON nested deeper than `MAX_JSON_DEPTH` levels."""


def parse_body(body: bytes) -> Any:
    """The JSON value of a request body that is strict UTF-8 JSON, nested `MAX_JSON_DEPTH` at most.

    Raises `NestingTooDeep`, or `ValueError` for anything that is not UTF-8 JSON text. Decoded
    here, not by `json.loads(bytes)`, which also accepts UTF-16 and UTF-32, a byte order mark,
    and UTF-8-encoded surrogates (RFC 8259 §8.1: JSON between systems MUST be UTF-8, no BOM).
    """
    text = body.decode("utf-8")  # strict: an invalid byte raises UnicodeDecodeError, a ValueError
    try:
        value = json.loads(text)  # a leading BOM (U+FEFF) is a JSONDecodeError
    except RecursionError:
        raise NestingTooDeep from None
    # A body can be no deeper than it has brackets: nearly every body skips the walk.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise NestingTooDeep
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative: recursion is what must not happen on hostile input. Only containers are pushed.
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth == limit and any(isinstance(child, dict | list) for child in children):
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body to the next app, then reports disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


@dataclass(frozen=True)
class Admitted:
    """A request that passed the edge checks: its raw body and the parsed JSON-RPC object."""

    body: bytes
    message: dict[str, Any]


class McpEndpoint:
    """ASGI app for the MCP path: edge checks, then the SDK's streamable-HTTP transport."""

    def __init__(
        self,
        server: ScopedServer,
        source: SettingsSource,
        http: HttpSettings,
        *,
        log_arguments: bool = False,
        clock: Callable[[], float] = time.time,
        server_name: str | None = None,
    ) -> None:
        self._server_name = server_name  # the registry name, for the audit trail and `_serves`
        self._primary = source.server_path == MCP_PATH
        self._session_manager = server.mcp.session_manager
        self._runner = SessionManagerRunner(self._session_manager)
        self._requirements = server.requirements
        self._audited_arguments = frozenset(server.audited_arguments) if log_arguments else frozenset()
        self._source = source
        self._http = http
        self._clock = clock  # epoch seconds, for credential expiry; tests set it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        audit = RequestAudit(caller=caller_of(scope), principal=principal_of(scope), server=self._server_name)
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            admitted = await self._check(scope, receive, audit)
            if isinstance(admitted, Response):
                await admitted(scope, receive, send_and_record)
                return
            scope[AUDIT_KEY] = audit
            await self._runner.ensure_running()
            await self._serve(scope, admitted, send_and_record)
        finally:
            audit.emit(status)

    async def _serve(self, scope: Scope, admitted: Admitted, send: Send) -> None:
        """The SDK's kernel in one exchange where that is equivalent, else the SDK transport."""
        request = Request(scope, replay(admitted.body))
        version = single_exchange.eligible_version(request)
        message = admitted.message
        if version and single_exchange.is_single_request(message) and single_exchange.accepts_json(request):
            response = await single_exchange.serve(self._session_manager, request, message, version)
            await response(scope, request.receive, send)
        else:
            await self._session_manager.handle_request(
                scope, replay(admitted.body), single_exchange.bounding_errors(send)
            )

    def _serves(self, principal: Principal) -> bool:
        """Whether the authorizer's context lets this principal call this server.

        The context names the servers the credential may call (several servers behind the API);
        one that names none comes from an authorizer that knows one server, the primary: only
        the primary server's function accepts it (fail closed).
        """
        if principal.servers is None:
            return self._primary
        return self._server_name is None or self._server_name in principal.servers

    async def _check(self, scope: Scope, receive: Receive, audit: RequestAudit) -> Response | Admitted:
        request = Request(scope)
        try:
            settings = self._source.auth()
        except SettingUnavailable:
            audit.outcome, audit.reason = "server_error", "settings_unavailable"
            return settings_unavailable()
        principal = audit.principal
        if principal is None:
            audit.refuse("no_authorizer_context")
            sent_token = "authorization" in request.headers
            return unauthorized(settings, "invalid_token" if sent_token else None)
        if principal.is_expired(self._clock(), jwt_leeway_seconds=settings.leeway_seconds):
            audit.refuse("credential_expired")
            return unauthorized(
                settings,
                "invalid_token",
                "Unauthorized: the credential has expired; get a new token (or API key) and retry",
            )
        if not self._serves(principal):
            # Defence in depth: the authorizer already refused it (docs/servers.md).
            audit.refuse("wrong_server")
            return unauthorized(
                settings,
                "invalid_token",
                "Unauthorized: the credential is for another MCP server of this API; "
                "get one for this server's URL",
            )
        if not principal.has_scopes((settings.base_scope,)):
            audit.refuse("missing_scope")
            return insufficient_scope(settings, {settings.base_scope}, None)
        if request.method != "POST":
            audit.action = request.method
            audit.refuse("method_not_allowed")
            return jsonrpc_error(
                405,
                INVALID_REQUEST,
                "Method not allowed: this stateless MCP endpoint accepts POST only",
                headers={"Allow": "POST"},
            )
        origin = request.headers.get("origin")
        if origin is not None and not settings.origin_allowed(origin):
            audit.refuse("origin_not_allowed")
            return jsonrpc_error(403, INVALID_REQUEST, "Forbidden: origin not allowed")
        limit = self._http.max_body_bytes
        declared = request.headers.get("content-length", "")
        body = None if declared.isdigit() and int(declared) > limit else await read_body(receive, limit)
        if body is None:
            audit.refuse("body_too_large")
            return jsonrpc_error(413, INVALID_REQUEST, f"Request body too large: the limit is {limit} bytes")
        try:
            message = parse_body(body)
        except NestingTooDeep:
            audit.refuse("nesting_too_deep")
            return jsonrpc_error(
                400, INVALID_REQUEST, f"Invalid request: JSON nested deeper than {MAX_JSON_DEPTH} levels"
            )
        except ValueError:  # not UTF-8 (UnicodeDecodeError is one), a BOM, not JSON
            audit.refuse("parse_error")
            return jsonrpc_error(
                400, PARSE_ERROR, "Parse error: the body must be one JSON-RPC object, as UTF-8 JSON"
            )
        if isinstance(message, list):
            audit.refuse("batch_not_supported")
            return jsonrpc_error(400, INVALID_REQUEST, "Invalid request: JSON-RPC batches are not supported")
        if not isinstance(message, dict):
            audit.refuse("invalid_request")
            return jsonrpc_error(400, INVALID_REQUEST, "Invalid request: the body must be a JSON object")
        return self._admit(request, body, message, principal, settings, audit)

    def _admit(
        self,
        request: Request,
        body: bytes,
        message: dict[str, Any],
        principal: Principal,
        settings: AuthSettings,
        audit: RequestAudit,
    ) -> Response | Admitted:
        """What one well-formed JSON-RPC object asks for: routing headers, id, item, scopes."""
        target = target_of(message)
        audit.describe(
            message,
            target,
            log_values=target is not None and target[1] in self._audited_arguments,
            # A tool name nobody registered is the caller's text: audited, never a metric dimension.
            registered=target is None or target[0] != "tool" or self._requirements.declared(*target),
        )
        request_id = message.get("id") if is_request_id(message.get("id")) else None
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        mismatch = routing_header_mismatch(headers, message)
        if mismatch is not None:
            audit.refuse("header_mismatch")
            return jsonrpc_error(400, HEADER_MISMATCH, f"Header mismatch: {mismatch}", request_id=request_id)
        id_problem = request_id_problem(message)
        if id_problem is not None:
            audit.refuse("invalid_request")
            return jsonrpc_error(400, INVALID_REQUEST, f"Invalid request: {id_problem}")
        if target is not None:
            needed = self._requirements.requirement(*target)
            if needed is None and target[0] == "resource":
                audit.refuse("unknown_resource")
                return jsonrpc_error(
                    400,  # the status the SDK gives -32602 (mcp.shared.inbound.ERROR_CODE_HTTP_STATUS)
                    INVALID_PARAMS,
                    "Unknown resource: no resource or resource template on this server matches the "
                    "requested URI (see resources/list and resources/templates/list)",
                    request_id=request_id,
                )
            needed = needed or frozenset()
            if not principal.has_scopes(needed):
                audit.refuse("insufficient_scope")
                # Every scope still required, the base scope too: a client that replaces its
                # scope set with the challenged one must not lose access to everything else.
                return insufficient_scope(settings, {settings.base_scope, *needed}, request_id)
        if message.get("method") in UNSUPPORTED_METHODS:
            audit.refuse("method_not_supported")
            return method_not_supported(message)
        return Admitted(body, message)


def is_request_id(value: Any) -> bool:
    """A JSON-RPC id MCP accepts: a string or an integer (`true` is a bool, not an integer)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def request_id_problem(message: dict[str, Any]) -> str | None:
    """Why a request's id makes it something other than what its method says, or None.

    JSON-RPC 2.0 allows a string, number or null; MCP narrows that to a string or an integer.
    The SDK parses any other `id` (and no `id`) as a notification and runs nothing, so a
    `tools/call` with `"id": true` would be answered 202 and audited as a tool call. Responses
    (no `method`) are the SDK's business.
    """
    method = message.get("method")
    if not isinstance(method, str):
        return None
    if "id" in message:
        if not is_request_id(message["id"]):
            return "a request id must be a string or an integer (JSON-RPC 2.0, MCP)"
        return None
    if method in NAME_BEARING_METHODS:
        return f"{method} is a request and needs an id; as a notification it would never be answered"
    return None


def unauthorized(
    settings: AuthSettings,
    error: ChallengeError | None,
    message: str = "Unauthorized: a valid bearer token or API key is required",
) -> Response:
    """401 with the RFC 6750 / RFC 9728 challenge that starts (or restarts) the client's OAuth flow."""
    challenge = www_authenticate(settings.resource_metadata_url, (settings.base_scope,), error)
    return jsonrpc_error(401, INVALID_REQUEST, message, headers={"WWW-Authenticate": challenge})


def insufficient_scope(
    settings: AuthSettings, needed: frozenset[str] | set[str], request_id: Any
) -> Response:
    challenge = www_authenticate(settings.resource_metadata_url, needed, "insufficient_scope")
    return jsonrpc_error(
        403,
        INVALID_REQUEST,
        f"Forbidden: this call needs the scope(s) {' '.join(sorted(needed))}",
        request_id=request_id,
        headers={"WWW-Authenticate": challenge},
    )


def method_not_supported(message: dict[str, Any]) -> Response:
    """-32601 with HTTP 404, the pair the 2026-07-28 transport (and the SDK's table) use."""
    method = message.get("method")
    return jsonrpc_error(
        404,
        METHOD_NOT_FOUND,
        f"Method not found: {method} needs a response stream held open, which this stateless "
        "server cannot do (every reply is one buffered JSON document); list again to see changes",
        request_id=message.get("id"),
    )


def protected_resource_metadata(settings: AuthSettings, scopes_supported: frozenset[str]) -> dict[str, Any]:
    """The RFC 9728 document: what this resource is and which authorization servers it trusts."""
    document: dict[str, Any] = {
        "resource": settings.resource_url,
        "authorization_servers": list(settings.authorization_servers),
        "scopes_supported": sorted({settings.base_scope, *scopes_supported}),
        "bearer_methods_supported": ["header"],
        "resource_name": "serverless-mcp",
    }
    return document


# The metadata's response headers. Public by design (RFC 9728): browsers and any client may read it.
METADATA_HEADERS: Final = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


def protected_resource_metadata_json(settings: AuthSettings, scopes_supported: frozenset[str]) -> str:
    """The document as served: compact JSON. The stack's MOCK integration serves these same bytes
    (infra/constructs/api.py builds them at synth; tests/infra/test_mock_routes.py compares)."""
    document = protected_resource_metadata(settings, scopes_supported)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def create_app(
    server: ScopedServer,
    source: SettingsSource,
    http: HttpSettings | None = None,
    *,
    log_arguments: bool = False,
    clock: Callable[[], float] = time.time,
    server_name: str | None = None,
) -> Starlette:
    """The Starlette app for `server`: MCP at its path, metadata and health unauthenticated.

    The path is `source.server_path`: `/mcp` for the primary server, `/<name>/mcp` for another
    one (app/core/servers.py), which API Gateway passes to its function as the event's path.

    `clock` (epoch seconds) decides when a credential has expired; tests pass their own.
    """
    # Builds the SDK session manager (stateless, JSON responses). The returned Starlette app is
    # not used: its lifespan would enter the session manager per Lambda invocation.
    server.mcp.streamable_http_app(
        streamable_http_path=source.server_path,
        stateless_http=True,
        json_response=True,
        # API Gateway and custom domains set Host; Origin is checked by McpEndpoint instead.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    server.settings = source
    server.mcp.middleware.append(ListFilter(server.requirements, _granted_scopes))
    server.mcp.middleware.append(OutcomeRecorder(_audit_of))
    # Inside OutcomeRecorder, so their -32602 is audited as the caller's error.
    server.mcp.middleware.append(PromptRequestCheck(server.mcp))
    if server.app_only_tools:  # nothing to withhold otherwise: no cost on the warm path
        server.mcp.middleware.append(VisibilityGate(server.app_only_tools))
    http = http or HttpSettings()
    endpoint = McpEndpoint(
        server, source, http, log_arguments=log_arguments, clock=clock, server_name=server_name
    )
    scopes_supported = server.requirements.all_scopes()

    async def metadata(_: Request) -> Response:
        try:
            settings = source.auth()
        except SettingUnavailable:
            return settings_unavailable()
        body = protected_resource_metadata_json(settings, scopes_supported)
        return Response(body, media_type="application/json", headers=METADATA_HEADERS)

    path = source.server_path
    routes = [
        # Every answer on the MCP path, refusals included, gets the CORS headers for an allowed Origin.
        Route(path, BrowserCors(endpoint, source)),
        # The host-root document is the primary server's (RFC 9728 §3.1: one per resource path).
        *([Route(PRM_PATH, metadata, methods=["GET"])] if path == MCP_PATH else []),
        Route(PRM_PATH + path, metadata, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)


async def health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _granted_scopes(ctx: Any) -> frozenset[str] | None:
    principal: Principal | None = principal_of(scope_of(getattr(ctx, "request", None)))
    return principal.scopes if principal is not None else None


def _audit_of(ctx: Any) -> RequestAudit | None:
    audit = scope_of(getattr(ctx, "request", None)).get(AUDIT_KEY)
    return audit if isinstance(audit, RequestAudit) else None
