"""`completion/complete` needs the scopes of the prompt or resource template it completes.

Completions reveal what a prompt or template would accept (names, ids, values), so a caller
who may not get the prompt or read the template may not complete its arguments either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum
from mcp.server import MCPServer
from mcp_types import Completion

from app.core.config import SettingsSource
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.permissions import ScopedServer
from devtools.lambda_runtime import LambdaRuntime
from devtools.mcp_messages import mcp_request
from tests.unit.mcp.test_authorization import NARROW_CONTEXT, call


@pytest.fixture(scope="module")
def runtime() -> Iterator[LambdaRuntime]:
    server = ScopedServer(MCPServer("completions"))

    @server.prompt(scopes=["prompts/admin"])
    def admin_prompt(user: str) -> str:
        return f"be an admin for {user}"

    @server.resource("report://{year}/summary", scopes=["reports/read"])
    def yearly(year: str) -> str:
        return year

    async def complete(ref: Any, argument: Any, context: Any) -> Completion:
        return Completion(values=["alice", "bob"] if argument.name == "user" else ["2025", "2026"])

    server.mcp.completion()(complete)  # type: ignore[no-untyped-call]
    app = AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ))))
    rt = LambdaRuntime(Mangum(app, lifespan="off"))
    yield rt
    rt.close()


@pytest.mark.parametrize(
    ("ref", "argument", "scope"),
    [
        ({"type": "ref/prompt", "name": "admin_prompt"}, "user", "prompts/admin"),
        ({"type": "ref/resource", "uri": "report://{year}/summary"}, "year", "reports/read"),
    ],
)
def test_completing_a_scoped_item_needs_its_scope(
    runtime: LambdaRuntime, ref: dict[str, str], argument: str, scope: str
) -> None:
    params = {"ref": ref, "argument": {"name": argument, "value": ""}}
    status, headers, body = call(
        runtime, "v1", context=NARROW_CONTEXT, request=mcp_request("completion/complete", params)
    )
    assert status == 403
    assert f'scope="mcp/access {scope}"' in headers["www-authenticate"]
    assert "alice" not in str(body)
    assert "2026" not in str(body)

    wide = {**NARROW_CONTEXT, "scopes": f"mcp/access {scope}"}
    status, _, body = call(runtime, "v1", context=wide, request=mcp_request("completion/complete", params))
    assert status == 200
    assert body["result"]["completion"]["values"]
