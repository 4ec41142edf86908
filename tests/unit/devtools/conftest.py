"""The gateway emulator on real HTTP (uvicorn on 127.0.0.1, port 0) in front of small fake functions.

The fake functions stand in for the real handlers where those cannot produce a case (a
`WWW-Authenticate` or `Server` header, a 7 MB answer, a function that never returns); each
records the events it received, so a test asserts what API Gateway hands the function as well
as what the client gets back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
import uvicorn

from devtools.gateway import Gateway, GatewayConfig, InspectorSite, server_config
from devtools.lambda_runtime import LambdaRuntime

PRM_URL: Final = "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"
BASE_SCOPE: Final = "mcp/access"
# The static metadata body the gateway serves (what a real document looks like; its content is
# the configuration's business, the tests check it is served as given).
PRM_BODY: Final = (
    '{"resource":"http://127.0.0.1/mcp","authorization_servers":["http://127.0.0.1/oauth"],'
    '"scopes_supported":["mcp/access"],"bearer_methods_supported":["header"],"resource_name":"serverless-mcp"}'
)
VALID: Final = "Bearer let-me-in"
FORBIDDEN: Final = "Bearer lacks-the-base-scope"

Respond = Callable[[dict[str, Any]], Any]


@dataclass
class FakeFunction:
    """A Lambda handler that records its events and answers with `respond(event)`."""

    respond: Respond
    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        return self.respond(event)


def ok(body: str = '{"ok": true}', **extra: Any) -> Respond:
    """A proxy response with the given body and extra keys (headers, multiValueHeaders, …)."""
    return lambda event: {"statusCode": 200, "body": body, **extra}


OK: Final = ok()


def fake_authorizer(event: dict[str, Any]) -> dict[str, Any]:
    """Allow `VALID`, Deny `FORBIDDEN` (a caller without the base scope), "Unauthorized" otherwise."""
    authorization = ", ".join(
        value
        for name, values in (event.get("multiValueHeaders") or {}).items()
        if name.lower() == "authorization"
        for value in values
    )
    effect = {VALID: "Allow", FORBIDDEN: "Deny"}.get(authorization)
    if effect is None:
        raise Exception("Unauthorized")  # the exact error message API Gateway maps to 401
    arn = event["methodArn"].rsplit("/", 2)[0] + "/*/*"  # the whole API: cache-safe
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}
    return {
        "principalId": "caller",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": {"principal": "caller"},
    }


@dataclass
class RunningGateway:
    url: str
    authorizer: FakeFunction
    function: FakeFunction
    front: FakeFunction | None = None

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"


@contextmanager
def running_gateway(
    respond: Respond = OK,
    *,
    authorize: Respond = fake_authorizer,
    front: Respond | None = None,
    inspector: InspectorSite | None = None,
    gateway_options: dict[str, Any] | None = None,
    **config: Any,
) -> Iterator[RunningGateway]:
    """Serve a Gateway over real HTTP on 127.0.0.1 until the block ends (with a front and the
    inspector's objects, if given).

    `gateway_options` are passed to `Gateway` (usage plans and their meter)."""
    authorizer, function = FakeFunction(authorize), FakeFunction(respond)
    front_function = FakeFunction(front) if front is not None else None
    runtimes = [LambdaRuntime(authorizer, "fake-authorizer"), LambdaRuntime(function, "fake-mcp")]
    if front_function is not None:
        runtimes.append(LambdaRuntime(front_function, "fake-front"))
    config.setdefault("resource_metadata_url", PRM_URL)
    settings = GatewayConfig(base_scope=BASE_SCOPE, protected_resource_metadata=PRM_BODY, **config)
    gateway = Gateway(
        runtimes[0],
        runtimes[1],
        settings,
        runtimes[2] if front_function else None,
        inspector,
        **(gateway_options or {}),
    )
    server = uvicorn.Server(server_config(gateway, host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.run, name="test-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test gateway did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", authorizer, function, front_function)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for runtime in runtimes:
            runtime.close()
