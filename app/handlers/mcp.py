"""Lambda entry point of the MCP server: API Gateway event in, API Gateway response out.

Module-level work is what must happen once per container (and is captured by a SnapStart
snapshot): building the server, its tools and the ASGI app. Mangum's lifespan is off because it
would run on every invocation; `app.asgi.SessionManagerRunner` enters the SDK's session manager
once instead.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from app.asgi import create_app
from app.config import HttpSettings
from app.server import build_server

asgi_app = create_app(build_server(), HttpSettings.from_env())
_adapter = Mangum(asgi_app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one API Gateway (REST v1 or HTTP API v2) proxy event."""
    response: dict[str, Any] = _adapter(event, context)
    return response
