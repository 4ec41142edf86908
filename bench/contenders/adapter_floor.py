"""The adapter floor: Mangum + one Starlette route doing the `add` by hand.

Same answer as the floor, but through the API Gateway → ASGI → API Gateway translation the
MCP contenders also pay. The gap between this and an MCP contender is the MCP machinery.
"""

from __future__ import annotations

import json
from typing import Any

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def add(a: float, b: float) -> float:
    """Add two numbers and return the sum."""
    return a + b


async def mcp_endpoint(request: Request) -> JSONResponse:
    message = json.loads(await request.body())
    arguments = message["params"]["arguments"]
    total = add(arguments["a"], arguments["b"])
    result = {
        "content": [{"type": "text", "text": str(total)}],
        "structuredContent": {"result": total},
        "isError": False,
    }
    return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": result})


app = Starlette(routes=[Route("/mcp", mcp_endpoint, methods=["POST"])])
_adapter = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = _adapter(event, context)
    return response
