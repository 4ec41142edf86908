"""Plain request and response values for the front's flows (no Lambda event shapes here).

The handler turns an API Gateway event into a `FrontRequest` and a `Result` back into a proxy
response; every flow takes the one and returns the other, together with what the audit trail
must say about it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.core.audit import Outcome

JSON_HEADERS: Final = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


class ParameterError(ValueError):
    """A request parameter sent more than once (RFC 6749 §3.1: each at most once)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the {name} parameter was sent more than once")
        self.name = name


@dataclass(frozen=True)
class FrontRequest:
    method: str
    path: str  # relative to the API root, as in app.auth.front
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    form: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    cookies: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def query_param(self, name: str) -> str | None:
        return _single(self.query, name)

    def form_param(self, name: str) -> str | None:
        return _single(self.form, name)


def _single(values: Mapping[str, tuple[str, ...]], name: str) -> str | None:
    found = values.get(name, ())
    if len(found) > 1:
        raise ParameterError(name)
    return found[0] if found and found[0] != "" else None


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: str = ""
    cookies: tuple[str, ...] = ()  # whole Set-Cookie values


@dataclass(frozen=True)
class Result:
    """A flow's answer and its audit facts (the handler adds who asked and writes the event)."""

    response: Response
    action: str
    outcome: Outcome  # "ok" | "denied" | "error"
    reason: str | None = None
    client_id: str | None = None
    principal: str | None = None


def json_response(
    status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, {**JSON_HEADERS, **(headers or {})}, json.dumps(document, separators=(",", ":")))


def oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> Response:
    """RFC 6749 §5.2's JSON error; `description` is fixed text of ours, never a request value."""
    return json_response(status, {"error": error, "error_description": description}, headers)


def with_query(uri: str, params: Mapping[str, str]) -> str:
    """`uri` with `params` appended to its query (RFC 6749 §3.1.2: keep the existing query)."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def redirect(location: str, cookies: tuple[str, ...] = ()) -> Response:
    return Response(
        302,
        {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        cookies=cookies,
    )
