"""Regenerate the SAM-style event fixtures in `tests/events/` (`make events`).

Each `v1-*` / `v2-*` file is one API Gateway event for the MCP Lambda; the name says the
format (v1 REST proxy, v2 HTTP API), the request, and for error cases the status the handler
must answer. Each `authorizer-*` file is a REST REQUEST-authorizer event (the shape of `sam
local generate-event apigateway request-authorizer`) that the authorizer must refuse with the
status its name ends in. None carries a usable credential: the events that need one (an
Allow, a 403 Deny) are built at test time from `authorizer-no-authorization-401` with a key or
token generated there.

The output is deterministic (fixed request ids and request time), so a test can check that the
committed files are exactly what this module writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from devtools.events import (
    DEFAULT_HOST,
    DEFAULT_STAGE,
    EventFormat,
    proxy_event,
    request_authorizer_event,
)
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
# One request time for every fixture: regenerating them changes nothing unless a shape changed.
REQUEST_TIME: Final = datetime(2026, 11, 22, 3, 4, 11, tzinfo=UTC)
# The issuer the unit tests configure (tests/conftest.py), so a refused token is refused for
# what the file name says, not for a foreign issuer.
TEST_ISSUER: Final = "https://issuer.example.com"


def _pin(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Give the event a request id derived from its name and the fixed request time."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    context = event["requestContext"]
    context["requestId"] = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    epoch_ms = int(REQUEST_TIME.timestamp() * 1000)
    text = REQUEST_TIME.strftime("%d/%b/%Y:%H:%M:%S +0000")
    # REST (v1) and REQUEST-authorizer events name them requestTime*, HTTP API (v2) time*.
    time_keys = ("requestTime", "requestTimeEpoch") if "requestTime" in context else ("time", "timeEpoch")
    context[time_keys[0]], context[time_keys[1]] = text, epoch_ms
    return event


def _write(out: Path, name: str, event: dict[str, Any]) -> None:
    (out / f"{name}.json").write_text(json.dumps(_pin(name, event), indent=2) + "\n")


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


def _b64url_json(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unsigned_jwt() -> str:
    """An `alg: none` JWT with otherwise valid claims: the classic forgery, never a credential."""
    header = {"alg": "none", "typ": "JWT"}
    claims = {
        "iss": TEST_ISSUER,
        "sub": "attacker",
        "aud": f"https://{DEFAULT_HOST}/{DEFAULT_STAGE}/mcp",
        "scope": "mcp/access mcp/profile",
        "iat": int(REQUEST_TIME.timestamp()),
        "exp": int(REQUEST_TIME.timestamp()) + 100 * 365 * 86400,
    }
    return f"{_b64url_json(header)}.{_b64url_json(claims)}."


def authorizer_cases() -> dict[str, dict[str, Any]]:
    """REQUEST-authorizer events the authorizer must answer with "Unauthorized" (401), by name."""

    def event(headers: dict[str, str]) -> dict[str, Any]:
        return request_authorizer_event("POST", "/mcp", headers={**USER_AGENT, **headers})

    # API Gateway passes a header sent twice as both values in multiValueHeaders and the last
    # one in headers (Lambda proxy and REQUEST-authorizer input formats).
    twice = event({"Authorization": f"Bearer {unsigned_jwt()}"})
    first = "Bearer mcpk_0000000000000000_" + "A" * 43
    twice["multiValueHeaders"]["Authorization"] = [first, twice["headers"]["Authorization"]]
    return {
        "no-authorization-401": event({}),
        "empty-bearer-401": event({"Authorization": "Bearer "}),
        "basic-scheme-401": event({"Authorization": "Basic ZGV2OmRldg=="}),
        "malformed-jwt-401": event({"Authorization": "Bearer not.a.jwt"}),
        "alg-none-jwt-401": event({"Authorization": f"Bearer {unsigned_jwt()}"}),
        # Well-formed, but no store holds this key id (and the secret is all 'A').
        "unknown-api-key-401": event({"Authorization": first}),
        "two-authorization-headers-401": twice,
    }


def generate(out: Path = OUT) -> list[str]:
    """Write every fixture to `out`; return the names written (without `.json`)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    formats: tuple[EventFormat, ...] = ("v1", "v2")
    for fmt in formats:
        for name, event in cases(fmt).items():
            _write(out, f"{fmt}-{name}", event)
            written.append(f"{fmt}-{name}")
    for name, event in authorizer_cases().items():
        _write(out, f"authorizer-{name}", event)
        written.append(f"authorizer-{name}")
    return written


if __name__ == "__main__":
    for name in generate():
        print(f"tests/events/{name}.json")
