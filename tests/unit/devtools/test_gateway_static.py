"""The metadata routes and /health are answered by the gateway itself, as the stack's MOCK integrations.

"Mock integrations for REST APIs in API Gateway" (https://docs.aws.amazon.com/apigateway/latest/
developerguide/how-to-mock-integration.html): API Gateway generates the response from the
integration response's mapping template, "without the need for an integration backend". The
emulator does the same: neither the authorizer nor the MCP function runs, whatever the request
carries. infra/constructs/api.py declares the same bodies and headers (tests/infra/
test_mock_routes.py compares them with the template and with what the MCP function serves).
"""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from app.mcp import asgi
from devtools.gateway import HEALTH_BODY, HEALTH_PATH, METADATA_HEADERS, PRM_PATHS
from tests.unit.devtools.conftest import PRM_BODY, VALID, running_gateway


@pytest.mark.parametrize("path", PRM_PATHS)
def test_metadata_is_served_from_the_configuration_without_a_function(path: str) -> None:
    with running_gateway() as gateway:
        plain = httpx2.get(f"{gateway.url}{path}")
        # What the request carries changes nothing: a MOCK's default response answers all.
        odd = httpx2.get(
            f"{gateway.url}{path}?x=1",
            headers={"Authorization": VALID, "Content-Type": "text/plain", "Accept": "text/html"},
        )

    for response in (plain, odd):
        assert response.status_code == 200
        assert response.content == PRM_BODY.encode()
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["x-amzn-requestid"]
    assert gateway.function.events == []
    assert gateway.authorizer.events == []


def test_health_is_served_without_a_function_and_other_methods_are_undeclared() -> None:
    with running_gateway() as gateway:
        health = httpx2.get(f"{gateway.url}{HEALTH_PATH}")
        post = httpx2.post(f"{gateway.url}{HEALTH_PATH}", content=b"{}")

    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert health.headers["content-type"] == "application/json"
    assert "access-control-allow-origin" not in health.headers
    assert post.status_code == 403
    assert post.json() == {"message": "Missing Authentication Token"}
    assert gateway.function.events == []


def test_the_static_answers_match_what_the_mcp_function_serves() -> None:
    """Same headers on the metadata, same /health bytes (app/mcp/asgi.py)."""
    assert METADATA_HEADERS == asgi.METADATA_HEADERS
    assert HEALTH_BODY.encode() == bytes(asyncio.run(asgi.health(None)).body)  # type: ignore[arg-type]


def test_mcp_still_reaches_the_function() -> None:
    """Only the unauthenticated routes are static: /mcp is authorized and integrated as before."""
    with running_gateway() as gateway:
        response = httpx2.post(gateway.mcp_url, headers={"Authorization": VALID}, content=b"{}")

    assert response.status_code == 200
    assert len(gateway.function.events) == 1
    assert len(gateway.authorizer.events) == 1
