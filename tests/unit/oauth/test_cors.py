"""CORS on the front's answers: readable by a page on any origin exactly where no cookie is involved.

A browser OAuth client (the MCP Inspector at http://localhost:6274) reads the metadata, the JWKS,
and the answers of /register, /token and /revoke with `fetch`; the browser hands a response to
the page only if it carries `Access-Control-Allow-Origin` matching the page's origin or `*`, and
with `*` never for a credentialed request (Fetch standard, CORS check:
https://fetch.spec.whatwg.org/#cors-check). For a Lambda proxy integration the function must set
the header itself ("CORS for REST APIs in API Gateway": https://docs.aws.amazon.com/apigateway/
latest/developerguide/how-to-cors.html). The consent page, the consent POST and the callback are
browser navigations bound to the consent cookie: a page on another origin must not read them, so
they carry no CORS header at all.

These tests go through `handler` (the Lambda entry point, where the headers are added) with the
container's front swapped for one on moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

import app.oauth.handler as handler_module
from app.auth.front import AUTHORIZATION_SERVER_METADATA_PATHS
from app.oauth.cors import with_cors
from app.oauth.handler import Front
from app.oauth.http import Response
from app.oauth.pages import origin_of
from tests.unit.oauth.front_harness import (
    ISSUER,
    MCP_URL,
    REDIRECT,
    capture_audit,
    create_aws,
    event,
    hidden_fields,
    make_front,
    pkce_pair,
    query_of,
    settings_document,
)

INSPECTOR = "http://localhost:6274"


@pytest.fixture
def front(monkeypatch: pytest.MonkeyPatch) -> Iterator[Front]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws = create_aws(settings_document(registration_per_ip_per_hour=1))
        made, _ = make_front(aws.env)
        monkeypatch.setattr(handler_module, "_front", made)
        lines = capture_audit()
        next(lines)
        try:
            yield made
        finally:
            lines.close()


class Page:
    """Calls the Lambda handler as API Gateway would, keeping the front's cookies as a browser does."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def send(self, raw_event: dict[str, Any], origin: str | None = INSPECTOR) -> dict[str, Any]:
        """`origin`: the page's origin on a fetch; None for a navigation (top-level GET)."""
        if origin is not None:
            raw_event["headers"]["Origin"] = origin
            raw_event["multiValueHeaders"]["Origin"] = [origin]
        if self.cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            raw_event["headers"]["Cookie"] = cookie
            raw_event["multiValueHeaders"]["Cookie"] = [cookie]
        answer = handler_module.handler(raw_event, None)
        for set_cookie in (answer.get("multiValueHeaders") or {}).get("Set-Cookie", []):
            name, _, rest = set_cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return answer


def assert_readable_cross_origin(answer: dict[str, Any]) -> None:
    headers = answer["headers"]
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in headers
    assert "Set-Cookie" not in (answer.get("multiValueHeaders") or {})


def assert_not_readable_cross_origin(answer: dict[str, Any]) -> None:
    assert not [name for name in answer["headers"] if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("path", [*AUTHORIZATION_SERVER_METADATA_PATHS, "/oauth/jwks.json"])
def test_metadata_and_jwks_are_readable_from_any_origin(front: Front, path: str) -> None:
    answer = Page().send(event("GET", path))

    assert answer["statusCode"] == 200
    assert_readable_cross_origin(answer)


def test_registration_and_its_rate_limit_are_readable_with_retry_after_exposed(front: Front) -> None:
    """RFC 7591 registration from the browser; the 429's Retry-After must be readable by the page."""
    document = {"redirect_uris": [f"{INSPECTOR}/oauth/callback"], "client_name": "Inspector"}
    registered = Page().send(event("POST", "/oauth/register", json_body=document))
    limited = Page().send(event("POST", "/oauth/register", json_body=document))

    assert registered["statusCode"] == 201
    assert json.loads(registered["body"])["client_id"]
    assert_readable_cross_origin(registered)
    assert limited["statusCode"] == 429
    assert int(limited["headers"]["Retry-After"]) > 0
    assert_readable_cross_origin(limited)


def test_the_whole_flow_is_readable_at_token_and_revoke_and_never_at_the_navigations(front: Front) -> None:
    """authorize (consent page) → consent → callback carry no CORS header; token and revoke do."""
    verifier, challenge = pkce_pair()
    page = Page()
    query = {
        "response_type": "code",
        "client_id": "inspector",
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": MCP_URL,
        "scope": "mcp/access",
    }
    # A script on the client's origin fetching the consent page gets an answer its browser will
    # not hand over: no Access-Control-Allow-Origin (the CSRF token in it stays unreadable).
    fetched = Page().send(event("GET", "/oauth/authorize", query=query))
    assert fetched["statusCode"] == 200
    assert "csrf" in hidden_fields(fetched["body"])
    assert_not_readable_cross_origin(fetched)
    # The client navigates the whole window to the front (no Origin on a top-level GET); the
    # consent form is then posted by the front's own page (its Origin is the front's).
    consent_page = page.send(event("GET", "/oauth/authorize", query=query), origin=None)
    assert consent_page["statusCode"] == 200
    assert_not_readable_cross_origin(consent_page)  # its CSRF token must stay unreadable elsewhere
    fields = hidden_fields(consent_page["body"])
    approved = page.send(
        event("POST", "/oauth/consent", form={**fields, "decision": "approve"}), origin=origin_of(ISSUER)
    )
    assert approved["statusCode"] == 302
    assert_not_readable_cross_origin(approved)
    upstream = query_of(approved["headers"]["Location"])
    callback = page.send(
        event("GET", "/oauth/callback", query={"state": upstream["state"], "code": upstream["test_code"]}),
        origin=None,
    )
    assert callback["statusCode"] == 302
    assert_not_readable_cross_origin(callback)

    form = {
        "grant_type": "authorization_code",
        "code": query_of(callback["headers"]["Location"])["code"],
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
        "client_id": "inspector",
        "resource": MCP_URL,
    }
    tokens = Page().send(event("POST", "/oauth/token", form=form))
    assert tokens["statusCode"] == 200
    assert tokens["headers"]["Cache-Control"] == "no-store"
    assert_readable_cross_origin(tokens)
    refresh_token = json.loads(tokens["body"])["refresh_token"]
    revoked = Page().send(
        event("POST", "/oauth/revoke", form={"token": refresh_token, "client_id": "inspector"})
    )
    assert revoked["statusCode"] == 200
    assert_readable_cross_origin(revoked)


def test_errors_on_the_public_endpoints_are_readable_so_the_client_can_report_them(front: Front) -> None:
    """An OAuth error (RFC 6749 §5.2) and a wrong method: the page must read them to say what failed."""
    bad_grant = Page().send(
        event("POST", "/oauth/token", form={"grant_type": "password", "client_id": "inspector"})
    )
    wrong_method = Page().send(event("GET", "/oauth/token"))

    assert bad_grant["statusCode"] == 400
    assert json.loads(bad_grant["body"])["error"]
    assert_readable_cross_origin(bad_grant)
    assert wrong_method["statusCode"] == 405
    assert_readable_cross_origin(wrong_method)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/oauth/unknown"), ("GET", "/oauth/authorize"), ("GET", "/oauth/callback")]
)
def test_unknown_routes_and_navigation_errors_get_no_cors(front: Front, method: str, path: str) -> None:
    """A 404 and the navigations' error pages (no client, no state) stay unreadable cross-origin."""
    answer = Page().send(event(method, path))

    assert answer["statusCode"] >= 400
    assert_not_readable_cross_origin(answer)


def test_a_response_that_sets_a_cookie_never_gets_cors_even_on_a_public_route() -> None:
    """Fail closed: a cookie means a browser session, which no other origin may read."""
    session = Response(200, {"Content-Type": "application/json"}, "{}", cookies=("s=1; HttpOnly",))
    plain = Response(200, {"Content-Type": "application/json"}, "{}")

    assert with_cors("/oauth/token", session) is session
    assert with_cors("/oauth/token", plain).headers["Access-Control-Allow-Origin"] == "*"
    assert with_cors(None, plain) is plain
    assert with_cors("/oauth/consent", plain) is plain
