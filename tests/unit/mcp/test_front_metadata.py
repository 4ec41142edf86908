"""With the authorization front on, the protected-resource metadata sends clients to it.

RFC 9728 §2: `authorization_servers` lists the issuers a client may use; the mcp SDK's client
uses the first and requires that server's metadata `issuer` to equal it exactly, so the front
(`front_issuer(MCP_URL)`, the same string the front signs as `iss`) comes first; the upstream issuer
follows for machine clients (the SDK's client-credentials provider looks for its issuer in the list).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from mangum import Mangum

from app.auth.front import front_issuer
from app.core.config import SettingsSource
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.server import build_server
from devtools.lambda_runtime import LambdaRuntime
from tests.conftest import TEST_ISSUER, TEST_MCP_URL
from tests.unit.mcp.test_authorization import call


@pytest.fixture(scope="module")
def front_runtime() -> Iterator[LambdaRuntime]:
    env = {**os.environ, "OAUTH_FRONT": "true"}
    runtime = LambdaRuntime(
        Mangum(AuthorizerContext(create_app(build_server(), SettingsSource(env=env))), lifespan="off")
    )
    yield runtime
    runtime.close()


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]
)
def test_metadata_names_the_front_first_and_the_upstream_after_it(
    front_runtime: LambdaRuntime, path: str
) -> None:
    status, _, body = call(front_runtime, "v1", method="GET", path=path, context=None, request=({}, ""))
    assert status == 200
    assert body["resource"] == TEST_MCP_URL
    assert body["authorization_servers"] == [front_issuer(TEST_MCP_URL), TEST_ISSUER]
    assert (
        body["authorization_servers"][0]
        == "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/oauth"
    )
