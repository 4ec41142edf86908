"""The front under attack, through its handler on moto: amplification, and the findings of a
hostile review of `app/oauth/` (each test here fails without the fix it names).

References: draft-ietf-oauth-client-id-metadata-document, "Security Considerations" (the server
fetches URLs an attacker chooses: SSRF and denial of service; servers should rate-limit); MCP
2025-11-25 authorization, "Client ID Metadata Documents"; RFC 6749 §5.2 and RFC 6585 §4 (429 with
Retry-After).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.oauth import cimd
from tests.unit.oauth.front_harness import (
    REDIRECT,
    Browser,
    Env,
    authorize_query,
    body,
    event,
    front_env,
    hidden_fields,
    pkce_pair,
    query_of,
    redeem,
    settings_document,
    sign_in,
)


class CountingResolver:
    """Every host resolves to a private address (so nothing is dialled); lookups are counted."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.hosts.append(host)
        return ["10.0.0.5"]


@pytest.fixture
def resolver() -> CountingResolver:
    return CountingResolver()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, resolver: CountingResolver) -> Iterator[Env]:
    """The front's own fetcher (as the handler configures it), resolving through `resolver`."""
    monkeypatch.setattr(cimd, "system_resolver", resolver)
    with front_env(monkeypatch, settings_document(cimd_fetches_per_ip_per_hour=2)) as opened:
        yield opened


def authorize_as(env: Env, client_id: str, source_ip: str = "203.0.113.7") -> Any:
    _, challenge = pkce_pair()
    query = authorize_query(challenge, client_id=client_id, redirect_uri="http://127.0.0.1:4000/cb")
    return Browser(env.front).send(event("GET", "/oauth/authorize", query=query, source_ip=source_ip))


def test_authorize_with_new_cimd_urls_is_rate_limited_per_address(
    env: Env, resolver: CountingResolver
) -> None:
    """Each new URL is a connection to a host of the caller's choosing: bounded per address."""
    for n in range(2):
        refused = authorize_as(env, f"https://victim.example.test/c{n}.json")
        assert refused.status == 400
        assert env.audit.last()["reason"] == "cimd_refused"
    assert len(resolver.hosts) == 2
    limited = authorize_as(env, "https://victim.example.test/c2.json")
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert "Location" not in limited.headers
    assert "too many sign-ins" in limited.body
    assert len(resolver.hosts) == 2  # nothing looked up, nothing fetched
    last = env.audit.last()
    assert (last["action"], last["outcome"], last["reason"], last["status"]) == (
        "authorize",
        "denied",
        "rate_limited",
        429,
    )
    # Another address has its own budget.
    assert authorize_as(env, "https://victim.example.test/c3.json", source_ip="198.51.100.2").status == 400
    assert len(resolver.hosts) == 3


def test_a_refused_url_named_again_is_not_fetched_again_nor_counted(
    env: Env, resolver: CountingResolver
) -> None:
    client_id = "https://victim.example.test/client.json"
    for _ in range(5):
        response = authorize_as(env, client_id)
        assert response.status == 400
        assert env.audit.last()["reason"] == "cimd_refused"
    assert resolver.hosts == ["victim.example.test"]
    # The budget was spent once: a second new URL is still allowed.
    assert authorize_as(env, "https://victim.example.test/other.json").status == 400
    assert len(resolver.hosts) == 2


def test_the_token_endpoint_counts_cimd_downloads_too(env: Env, resolver: CountingResolver) -> None:
    """A public client authenticates by client_id alone: /token must not be a way around the limit."""
    statuses = []
    for n in range(3):
        form = {
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": f"https://victim.example.test/t{n}",
        }
        response = Browser(env.front).send(event("POST", "/oauth/token", form=form))
        statuses.append((response.status, body(response)["error"]))
    assert statuses == [(401, "invalid_client"), (401, "invalid_client"), (429, "temporarily_unavailable")]
    assert len(resolver.hosts) == 2
    assert env.audit.last()["reason"] == "rate_limited"


# --- the consent page in a real browser's terms ------------------------------------------------


def consent_page_for(env: Env, browser: Browser) -> Any:
    _, challenge = pkce_pair()
    page = browser.send(event("GET", "/oauth/authorize", query=authorize_query(challenge)))
    assert page.status == 200
    return page


def test_the_consent_form_post_carries_this_origin_in_a_browser(env: Env) -> None:
    """Fetch standard, "append a request `Origin` header": for a POST whose referrer policy is
    `no-referrer` the browser sends `Origin: null`. The consent check refuses any other origin
    than the front's, so the page must not use `no-referrer` (it uses `same-origin`, which also
    sends nothing to other origins), or no real browser could ever approve.
    """
    browser = Browser(env.front)
    page = consent_page_for(env, browser)
    assert page.headers["Referrer-Policy"] == "same-origin"
    fields = {**hidden_fields(page.body), "decision": "approve"}
    null_origin = browser.send(event("POST", "/oauth/consent", form=fields, headers={"Origin": "null"}))
    assert null_origin.status == 403
    approved = browser.send(
        event("POST", "/oauth/consent", form=fields, headers={"Origin": "https://api.example.test"})
    )
    assert approved.status == 302
    assert approved.headers["Location"].startswith("https://idp.example.test/authorize?")


def test_the_browser_cookie_is_host_prefixed_secure_and_http_only_on_https(env: Env) -> None:
    page = consent_page_for(env, Browser(env.front))
    (cookie,) = page.cookies
    name, _, rest = cookie.partition("=")
    attributes = [part.strip() for part in rest.split(";")[1:]]
    assert name == "__Host-mcp_oauth_browser"
    assert sorted(attributes) == ["HttpOnly", "Path=/", "SameSite=Lax", "Secure"]  # no Domain


def test_a_cookie_planted_without_the_host_prefix_is_not_adopted(env: Env) -> None:
    """Cookie tossing: a sibling host can set `mcp_oauth_browser` for this host, never the
    `__Host-` one (RFC 6265bis §4.1.3.2). A planted value must not become the browser binding,
    or the attacker would know the binding of a login the victim finishes.
    """
    planted = "A" * 43
    browser = Browser(env.front, cookies={"mcp_oauth_browser": planted})
    page = consent_page_for(env, browser)
    assert planted not in page.cookies[0]
    assert hidden_fields(page.body)["csrf"] != planted


def test_on_http_the_cookie_keeps_the_bare_name_and_the_fronts_path() -> None:
    """The local stack runs on http://127.0.0.1, where a browser refuses `__Host-`/Secure cookies."""
    from app.oauth.context import browser_cookie, browser_cookie_name
    from app.oauth.settings import parse_front_settings

    settings = parse_front_settings(
        {"upstream_issuer": "http://127.0.0.1:9000", "upstream_client_id": "front"},
        mcp_url="http://127.0.0.1:8787/mcp",
        client_secret="s",
        table_name="t",
        signing_key_id="k",
        sealing_key_id="k",
    )
    assert browser_cookie_name(settings) == "mcp_oauth_browser"
    assert browser_cookie("v", settings) == "mcp_oauth_browser=v; Path=/oauth; HttpOnly; SameSite=Lax"


def test_every_answer_of_a_sign_in_is_no_store(env: Env) -> None:
    """RFC 6749 §5.1 (tokens) and every page or redirect carrying a code, a state or a cookie."""
    seen = []
    browser = Browser(env.front)
    original = browser.send

    def recording(raw_event: dict[str, Any]) -> Any:
        response = original(raw_event)
        seen.append((raw_event["pathParameters"]["proxy"], response))
        return response

    browser.send = recording  # type: ignore[method-assign]
    verifier, challenge = pkce_pair()
    page = browser.send(event("GET", "/oauth/authorize", query=authorize_query(challenge)))
    approved = browser.send(
        event("POST", "/oauth/consent", form={**hidden_fields(page.body), "decision": "approve"})
    )
    upstream = query_of(approved.headers["Location"])
    callback = browser.send(
        event("GET", "/oauth/callback", query={"state": upstream["state"], "code": upstream["test_code"]})
    )
    code = query_of(callback.headers["Location"])["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": "inspector",
        "redirect_uri": REDIRECT,
    }
    tokens = browser.send(event("POST", "/oauth/token", form=form))
    assert tokens.status == 200
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": body(tokens)["refresh_token"],
        "client_id": "inspector",
    }
    browser.send(event("POST", "/oauth/token", form=refresh))
    browser.send(event("POST", "/oauth/register", json_body={"redirect_uris": [REDIRECT]}))
    browser.send(event("POST", "/oauth/revoke", form={"token": "x", "client_id": "inspector"}))
    browser.send(event("GET", "/oauth/callback", query={"state": "unknown"}))
    assert [path for path, _ in seen] == [
        "authorize",
        "consent",
        "callback",
        "token",
        "token",
        "register",
        "revoke",
        "callback",
    ]
    for path, response in seen:
        assert response.headers["Cache-Control"] == "no-store", path


def test_a_refresh_that_drops_the_base_scope_is_refused_and_keeps_the_token(env: Env) -> None:
    """It could only end without a token; before the fix it also used the refresh token up."""
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge, scope="mcp/access mcp/admin")
    granted = redeem(env, query_of(callback.headers["Location"])["code"], verifier)
    assert body(granted)["scope"] == "mcp/access mcp/admin"
    refresh_token = body(granted)["refresh_token"]

    def refresh(**extra: str) -> Any:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "inspector",
            **extra,
        }
        return Browser(env.front).send(event("POST", "/oauth/token", form=form))

    dropped = refresh(scope="mcp/admin")
    assert dropped.status == 400
    assert body(dropped)["error"] == "invalid_scope"
    assert env.audit.last()["reason"] == "invalid_scope"
    kept = refresh()
    assert kept.status == 200
    assert body(kept)["scope"] == "mcp/access mcp/admin"
