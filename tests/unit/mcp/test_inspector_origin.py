"""/mcp and the inspector's page: with INSPECTOR on, the page's own origin (the MCP URL's) may call.

The inspector is served on the same API as /mcp, so its requests are same-origin; a browser still
sends `Origin` on a same-origin POST (Fetch standard, "append a request `Origin` header"), so the
function's Origin check must admit exactly that origin, and only when the inspector exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from mangum import Mangum

from app.core.config import SettingsSource
from app.mcp.handler import build_asgi_app
from devtools.lambda_runtime import LambdaRuntime
from tests.conftest import TEST_MCP_URL
from tests.unit.mcp.test_edge_checks import call, tool_call_event

OWN_ORIGIN = "{0.scheme}://{0.netloc}".format(urlsplit(TEST_MCP_URL))


def runtime_with(**settings: str) -> LambdaRuntime:
    env = {**os.environ, **settings}
    return LambdaRuntime(Mangum(build_asgi_app(SettingsSource(env=env), env), lifespan="off"))


@pytest.fixture(scope="module", params=["off", "on"])
def runtime(request: pytest.FixtureRequest) -> Iterator[tuple[str, LambdaRuntime]]:
    mode = str(request.param)
    handler = runtime_with(INSPECTOR="true" if mode == "on" else "false")
    yield mode, handler
    handler.close()


def test_the_mcp_urls_own_origin_is_admitted_only_with_the_inspector(
    runtime: tuple[str, LambdaRuntime],
) -> None:
    mode, handler = runtime
    status, _, body = call(handler, tool_call_event(Origin=OWN_ORIGIN))
    if mode == "on":
        assert status == 200
        assert body["result"]["isError"] is False
    else:
        assert status == 403
        assert body["error"]["message"] == "Forbidden: origin not allowed"


@pytest.mark.parametrize(
    "origin",
    [
        OWN_ORIGIN.replace("https://", "http://"),
        OWN_ORIGIN + ":8443",
        OWN_ORIGIN + ".evil.example",
        "https://evil.example",
        "null",
    ],
)
def test_other_origins_stay_refused_with_the_inspector_on(origin: str) -> None:
    handler = runtime_with(INSPECTOR="true")
    try:
        status, _, body = call(handler, tool_call_event(Origin=origin))
    finally:
        handler.close()
    assert status == 403
    assert body["error"]["message"] == "Forbidden: origin not allowed"
