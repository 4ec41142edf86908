"""Regenerate the SAM-style event fixtures in `tests/events/` (`make events`).

Each file is one API Gateway event for the MCP Lambda; the name says the format (v1 REST
proxy, v2 HTTP API), the request, and for error cases the status the handler must answer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from devtools.events import EventFormat, proxy_event
from devtools.mcp_messages import (
    BASE_HEADERS,
    HANDSHAKE_VERSION,
    MODERN_VERSION,
    mcp_request,
    tool_call_params,
)

OUT = Path(__file__).resolve().parent.parent / "tests" / "events"

# What an authorizer returns for a JWT caller holding the base and profile scopes.
AUTHORIZER_CONTEXT = {
    "principal": "user-123",
    "auth_method": "jwt",
    "scopes": "mcp/access mcp/profile",
    "client_id": "example-client",
}
USER_AGENT = {"User-Agent": "Custom User Agent String"}


def _write(name: str, event: dict[str, Any]) -> None:
    # A stable request id per file keeps regenerated fixtures diff-free apart from timestamps.
    digest = hashlib.sha256(name.encode()).hexdigest()
    event["requestContext"]["requestId"] = (
        f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    )
    (OUT / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


def cases(fmt: EventFormat) -> dict[str, dict[str, Any]]:
    """Every fixture for one event format, by name."""
    context = {"principalId": "user-123", **AUTHORIZER_CONTEXT} if fmt == "v1" else AUTHORIZER_CONTEXT

    def event(method: str, request: tuple[dict[str, str], str | None], base64: bool = True) -> dict[str, Any]:
        headers, body = request
        return proxy_event(
            fmt,
            method,
            "/mcp",
            headers={**USER_AGENT, **headers},
            body=body,
            base64_encode=base64,
            authorizer=context,
        )

    add = tool_call_params("add", {"a": 2, "b": 3})
    bad_dates = tool_call_params("days_between", {"start": "not a date", "end": "2026-01-01"})
    list_headers, list_body = mcp_request("tools/list")
    plain_headers = {**BASE_HEADERS, "MCP-Protocol-Version": HANDSHAKE_VERSION}
    result = {
        "initialize": event("POST", mcp_request("initialize")),
        "tools-list": event("POST", (list_headers, list_body)),
        "tools-call-add": event("POST", mcp_request("tools/call", add), base64=False),
        "tools-call-tool-error": event("POST", mcp_request("tools/call", bad_dates)),
        "modern-tools-call-add": event("POST", mcp_request("tools/call", add, generation=MODERN_VERSION)),
        "modern-tools-list": event("POST", mcp_request("tools/list", generation=MODERN_VERSION)),
        "get-405": event("GET", ({"Accept": "text/event-stream"}, None)),
        "delete-405": event("DELETE", ({}, None)),
        "batch-400": event("POST", (list_headers, json.dumps([json.loads(list_body)] * 2))),
        "not-json-400": event("POST", (plain_headers, "this is not json")),
        "bad-origin-403": event("POST", ({**list_headers, "Origin": "https://evil.example"}, list_body)),
        "custom-domain-host": event("POST", ({**list_headers, "Host": "mcp.example.com"}, list_body)),
    }
    return result


def generate() -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    formats: tuple[EventFormat, ...] = ("v1", "v2")
    for fmt in formats:
        for name, event in cases(fmt).items():
            _write(f"{fmt}-{name}", event)
            written.append(f"{fmt}-{name}")
    return written


if __name__ == "__main__":
    for name in generate():
        print(f"tests/events/{name}.json")
