"""The authorization front's flows end to end through its handler, on moto, with an in-process upstream.

Each hostile case of issue 12 that lives at this layer asserts the OAuth error a client sees
AND the audit event written for it. References: RFC 6749 §4.1.2.1 (no redirect to an
unverified URI), §5.2 (token errors), RFC 7636 §4.6 (PKCE), RFC 8707 (resource), RFC 9207
(`iss`), RFC 7591 (registration), RFC 7009 (revocation), OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2
(refresh-token rotation and reuse detection).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from app.oauth.cimd import CimdError
from tests.unit.oauth.front_harness import (
    ISSUER,
    MCP_URL,
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
    tokens_for,
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with front_env(monkeypatch, settings_document()) as opened:
        yield opened


def test_metadata_declares_s256_cimd_and_the_endpoints(env: Env) -> None:
    for path in (
        "/.well-known/oauth-authorization-server/oauth",
        "/oauth/.well-known/openid-configuration",
    ):
        response = Browser(env.front).send(event("GET", path))
        assert response.status == 200
        document = body(response)
        assert document["issuer"] == ISSUER
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["client_id_metadata_document_supported"] is True
        assert document["authorization_response_iss_parameter_supported"] is True
        assert document["token_endpoint"] == ISSUER + "/token"
        assert document["registration_endpoint"] == ISSUER + "/register"
        assert document["scopes_supported"] == ["mcp/access", "mcp/admin"]
    assert env.audit.last()["action"] == "metadata"
    assert env.audit.last()["source"] == "oauth"


def test_the_whole_flow_gives_a_token_that_verifies_against_the_published_jwks(env: Env) -> None:
    verifier, challenge = pkce_pair()
    browser = Browser(env.front)
    page = browser.send(event("GET", "/oauth/authorize", query=authorize_query(challenge)))
    assert page.status == 200
    assert "Team Inspector" in page.body
    assert "127.0.0.1" in page.body
    assert "mcp/access" in page.body
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    # No form-action: browsers apply it to the whole redirect chain after the POST (upstream login,
    # callback, the client's loopback URI), which blocked every real sign-in (test_inspector_oauth).
    assert "form-action" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "HttpOnly" in page.cookies[0]
    assert "SameSite=Lax" in page.cookies[0]
    assert "Secure" in page.cookies[0]
    assert env.audit.last()["reason"] == "consent_shown"
    fields = hidden_fields(page.body)
    approved = browser.send(event("POST", "/oauth/consent", form={**fields, "decision": "approve"}))
    upstream_query = query_of(approved.headers["Location"])
    assert approved.headers["Location"].startswith("https://idp.example.test/authorize?")
    assert env.audit.last()["action"] == "consent"
    assert env.audit.last()["outcome"] == "ok"
    callback = browser.send(
        event(
            "GET",
            "/oauth/callback",
            query={"state": upstream_query["state"], "code": upstream_query["test_code"]},
        )
    )
    assert callback.status == 302
    answer = query_of(callback.headers["Location"])
    assert callback.headers["Location"].startswith(REDIRECT + "?")
    assert answer["state"] == "client-state-1"
    assert answer["iss"] == ISSUER  # RFC 9207
    assert env.audit.last()["principal"] == "user-1"
    response = redeem(env, answer["code"], verifier)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    tokens = body(response)
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "mcp/access"
    assert tokens["refresh_token"]
    last = env.audit.last()
    assert (last["action"], last["outcome"], last["client_id"], last["status"]) == (
        "token",
        "ok",
        "inspector",
        200,
    )
    jwks = body(Browser(env.front).send(event("GET", "/oauth/jwks.json")))
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(
        tokens["access_token"], key.key, algorithms=["RS256"], audience=MCP_URL, issuer=ISSUER
    )
    assert claims["sub"] == "user-1"
    assert claims["client_id"] == "inspector"
    assert claims["scope"] == "mcp/access"
    assert claims["exp"] - claims["iat"] == 600
    # Nothing redeemable reaches the audit trail.
    trail = env.audit.stream.getvalue()
    for secret in (answer["code"], tokens["access_token"], tokens["refresh_token"], verifier, fields["csrf"]):
        assert secret not in trail


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(env: Env) -> None:
    tokens = tokens_for(env)
    client = Browser(env.front)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "inspector"}
    rotated = client.send(event("POST", "/oauth/token", form=form))
    assert rotated.status == 200
    new_refresh = body(rotated)["refresh_token"]
    assert new_refresh != tokens["refresh_token"]
    assert env.audit.last()["action"] == "refresh"
    assert env.audit.last()["outcome"] == "ok"
    reused = client.send(event("POST", "/oauth/token", form=form))
    assert reused.status == 400
    assert body(reused)["error"] == "invalid_grant"
    assert env.audit.last()["reason"] == "refresh_reuse"
    # The family is gone: the token the legitimate holder has is refused too.
    after = client.send(event("POST", "/oauth/token", form={**form, "refresh_token": new_refresh}))
    assert body(after)["error"] == "invalid_grant"


def test_refresh_may_narrow_but_never_widen_scopes(env: Env) -> None:
    tokens = tokens_for(env)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "inspector"}
    wider = Browser(env.front).send(
        event("POST", "/oauth/token", form={**form, "scope": "mcp/access mcp/admin"})
    )
    assert body(wider)["error"] == "invalid_scope"
    assert env.audit.last()["reason"] == "invalid_scope"
    # The refused request did not burn the token.
    same = Browser(env.front).send(event("POST", "/oauth/token", form=form))
    assert same.status == 200


def test_a_user_refused_upstream_loses_access_at_the_next_refresh(env: Env) -> None:
    tokens = tokens_for(env)
    env.upstream.refused = True
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "inspector"}
    refused = Browser(env.front).send(event("POST", "/oauth/token", form=form))
    assert refused.status == 400
    assert body(refused)["error"] == "invalid_grant"
    assert env.audit.last()["reason"] == "upstream_refused"
    assert env.audit.last()["principal"] == "user-1"


def test_an_unavailable_upstream_keeps_the_refresh_token_usable(env: Env) -> None:
    tokens = tokens_for(env)
    env.upstream.down = True
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "inspector"}
    down = Browser(env.front).send(event("POST", "/oauth/token", form=form))
    assert down.status == 503
    assert body(down)["error"] == "temporarily_unavailable"
    env.upstream.down = False
    assert Browser(env.front).send(event("POST", "/oauth/token", form=form)).status == 200


def test_code_replay_is_refused_and_revokes_what_the_code_issued(env: Env) -> None:
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge)
    code = query_of(callback.headers["Location"])["code"]
    first = body(redeem(env, code, verifier))
    replay = redeem(env, code, verifier)
    assert replay.status == 400
    assert body(replay)["error"] == "invalid_grant"
    assert env.audit.last()["reason"] == "code_replay"
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "inspector"}
    assert body(Browser(env.front).send(event("POST", "/oauth/token", form=form)))["error"] == "invalid_grant"


def test_a_code_redeemed_by_another_client_is_refused(env: Env) -> None:
    registered = Browser(env.front).send(
        event("POST", "/oauth/register", json_body={"redirect_uris": [REDIRECT], "client_name": "Other"})
    )
    other = body(registered)["client_id"]
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge)
    code = query_of(callback.headers["Location"])["code"]
    stolen = redeem(env, code, verifier, client_id=other)
    assert stolen.status == 400
    assert body(stolen)["error"] == "invalid_grant"
    assert env.audit.last()["reason"] == "client_mismatch"
    assert env.audit.last()["client_id"] == other


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code_challenge": "", "code_challenge_method": ""}, "pkce_missing"),
        ({"code_challenge_method": "plain"}, "pkce_method"),
        ({"code_challenge": "short"}, "pkce_malformed"),
        ({"state": ""}, "invalid_request"),
        ({"resource": "https://other.example.test/mcp"}, "invalid_target"),
        ({"resource": [MCP_URL, "https://other.example.test/mcp"]}, "invalid_target"),
        ({"scope": "mcp/access mcp/root"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_a_bad_request_from_a_verified_client_goes_back_with_error_state_and_iss(
    env: Env, overrides: dict[str, str | list[str]], reason: str
) -> None:
    _, challenge = pkce_pair()
    response = Browser(env.front).send(
        event("GET", "/oauth/authorize", query=authorize_query(challenge, **overrides))
    )
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    answer = query_of(location)
    assert answer["iss"] == ISSUER
    assert answer["error"] in (
        "invalid_request",
        "invalid_target",
        "invalid_scope",
        "unsupported_response_type",
    )
    if "state" not in overrides:
        assert answer["state"] == "client-state-1"
    last = env.audit.last()
    assert (last["action"], last["outcome"], last["reason"]) == ("authorize", "denied", reason)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.test/callback",
        "http://localhost:33418/callback",  # loopback host swap
        "http://127.0.0.1:33418/callback#frag",
        "http://127.0.0.1@evil.example.test:33418/callback",
        "http://127.0.0.1.evil.example.test:33418/callback",
        "http://127.0.0.1:33418/other",
    ],
)
def test_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
    env: Env, redirect_uri: str
) -> None:
    _, challenge = pkce_pair()
    query = authorize_query(challenge, redirect_uri=redirect_uri)
    response = Browser(env.front).send(event("GET", "/oauth/authorize", query=query))
    assert response.status == 400
    assert "Location" not in response.headers
    assert "evil" not in response.body
    assert env.audit.last()["reason"] == "redirect_mismatch"


def test_a_loopback_redirect_may_change_its_port(env: Env) -> None:
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge, redirect_uri="http://127.0.0.1:51999/callback")
    assert callback.headers["Location"].startswith("http://127.0.0.1:51999/callback?")
    code = query_of(callback.headers["Location"])["code"]
    wrong = redeem(env, code, verifier)  # REDIRECT has another port than the one used
    assert body(wrong)["error"] == "invalid_grant"
    assert env.audit.last()["reason"] == "redirect_mismatch"


def test_an_unknown_client_gets_an_error_page(env: Env) -> None:
    _, challenge = pkce_pair()
    response = Browser(env.front).send(
        event("GET", "/oauth/authorize", query=authorize_query(challenge, client_id="nobody"))
    )
    assert response.status == 400
    assert "Location" not in response.headers
    assert env.audit.last()["reason"] == "invalid_client"


def test_a_refused_client_metadata_document_gets_an_error_page(env: Env) -> None:
    class RefusingFetcher:
        def fetch(self, client_id: str, *, before_download: Any = None) -> Any:
            raise CimdError("the host resolves to a private address")

    env.front.fetcher_factory = RefusingFetcher  # type: ignore[assignment]
    env.front.reset()
    _, challenge = pkce_pair()
    query = authorize_query(challenge, client_id="https://client.example.test/metadata.json")
    response = Browser(env.front).send(event("GET", "/oauth/authorize", query=query))
    assert response.status == 400
    assert "Location" not in response.headers
    assert "private address" in response.body
    assert env.audit.last()["reason"] == "cimd_refused"


@pytest.mark.parametrize(
    ("verifier_of", "reason"),
    [(lambda v: "", "pkce_missing"), (lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"), "pkce_mismatch")],
)
def test_a_wrong_or_missing_code_verifier_is_refused(env: Env, verifier_of: Any, reason: str) -> None:
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge)
    code = query_of(callback.headers["Location"])["code"]
    form_verifier = verifier_of(verifier)
    response = redeem(env, code, form_verifier) if form_verifier else redeem(env, code, "", code_verifier="")
    assert response.status == 400
    assert body(response)["error"] == "invalid_grant"
    assert env.audit.last()["reason"] == reason


def test_consent_needs_the_browser_cookie_and_the_callback_the_same_browser(env: Env) -> None:
    _, challenge = pkce_pair()
    browser = Browser(env.front)
    page = browser.send(event("GET", "/oauth/authorize", query=authorize_query(challenge)))
    fields = hidden_fields(page.body)
    forged = Browser(env.front).send(event("POST", "/oauth/consent", form={**fields, "decision": "approve"}))
    assert forged.status == 403
    assert env.audit.last()["reason"] == "csrf"
    other_origin = browser.send(
        event(
            "POST",
            "/oauth/consent",
            form={**fields, "decision": "approve"},
            headers={"Origin": "https://evil.example.test"},
        )
    )
    assert other_origin.status == 403
    approved = browser.send(event("POST", "/oauth/consent", form={**fields, "decision": "approve"}))
    upstream_query = query_of(approved.headers["Location"])
    callback_query = {"state": upstream_query["state"], "code": upstream_query["test_code"]}
    elsewhere = Browser(env.front).send(event("GET", "/oauth/callback", query=callback_query))
    assert elsewhere.status == 403
    assert "Location" not in elsewhere.headers
    assert env.audit.last()["reason"] == "browser_mismatch"
    # Single use: the login is gone after that attempt.
    again = browser.send(event("GET", "/oauth/callback", query=callback_query))
    assert again.status == 400
    assert env.audit.last()["reason"] == "state_mismatch"


def test_an_unknown_state_at_the_callback_is_refused(env: Env) -> None:
    response = Browser(env.front).send(
        event("GET", "/oauth/callback", query={"state": "made-up", "code": "x"})
    )
    assert response.status == 400
    assert "Location" not in response.headers
    assert env.audit.last()["reason"] == "state_mismatch"


def test_denying_consent_sends_access_denied(env: Env) -> None:
    _, challenge = pkce_pair()
    browser = Browser(env.front)
    page = browser.send(event("GET", "/oauth/authorize", query=authorize_query(challenge)))
    denied = browser.send(
        event("POST", "/oauth/consent", form={**hidden_fields(page.body), "decision": "deny"})
    )
    answer = query_of(denied.headers["Location"])
    assert answer["error"] == "access_denied"
    assert answer["state"] == "client-state-1"
    assert answer["iss"] == ISSUER
    assert env.audit.last()["reason"] == "user_denied"


def test_registration_flood_is_rate_limited_per_address_and_capped(env: Env) -> None:
    document = {"redirect_uris": [REDIRECT], "client_name": "Flood"}
    for _ in range(3):
        assert Browser(env.front).send(event("POST", "/oauth/register", json_body=document)).status == 201
    limited = Browser(env.front).send(event("POST", "/oauth/register", json_body=document))
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert env.audit.last()["reason"] == "rate_limited"
    assert (
        Browser(env.front)
        .send(event("POST", "/oauth/register", json_body=document, source_ip="198.51.100.1"))
        .status
        == 201
    )
    assert (
        Browser(env.front)
        .send(event("POST", "/oauth/register", json_body=document, source_ip="198.51.100.2"))
        .status
        == 201
    )
    closed = Browser(env.front).send(
        event("POST", "/oauth/register", json_body=document, source_ip="198.51.100.3")
    )
    assert closed.status == 400
    assert body(closed)["error"] == "invalid_client_metadata"
    assert "closed" in body(closed)["error_description"]
    assert env.audit.last()["reason"] == "registration_closed"


def test_a_confidential_registered_client_authenticates_with_basic(env: Env) -> None:
    registered = body(
        Browser(env.front).send(
            event(
                "POST",
                "/oauth/register",
                json_body={
                    "redirect_uris": [REDIRECT],
                    "token_endpoint_auth_method": "client_secret_basic",
                    "grant_types": ["authorization_code", "refresh_token"],
                },
            )
        )
    )
    client_id, secret = registered["client_id"], registered["client_secret"]
    assert registered["client_secret_expires_at"] == 0
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge, client_id=client_id)
    code = query_of(callback.headers["Location"])["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
    }
    wrong = base64.b64encode(f"{client_id}:not-the-secret".encode()).decode()
    refused = Browser(env.front).send(
        event("POST", "/oauth/token", form=form, headers={"Authorization": f"Basic {wrong}"})
    )
    assert refused.status == 401
    assert body(refused)["error"] == "invalid_client"
    good = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    ok = Browser(env.front).send(
        event("POST", "/oauth/token", form=form, headers={"Authorization": f"Basic {good}"})
    )
    assert ok.status == 200
    assert body(ok)["refresh_token"]
    assert secret not in env.audit.stream.getvalue()


def test_revocation_ends_the_family_and_always_answers_200(env: Env) -> None:
    tokens = tokens_for(env)
    client = Browser(env.front)
    unknown = client.send(event("POST", "/oauth/revoke", form={"token": "unknown", "client_id": "inspector"}))
    assert unknown.status == 200
    revoked = client.send(
        event("POST", "/oauth/revoke", form={"token": tokens["refresh_token"], "client_id": "inspector"})
    )
    assert revoked.status == 200
    assert env.audit.last()["reason"] == "revoked"
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "inspector"}
    assert body(client.send(event("POST", "/oauth/token", form=form)))["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/oauth/nothing", 404), ("GET", "/oauth/token", 405), ("POST", "/oauth/authorize", 405)],
)
def test_unknown_routes_and_methods_are_clear_errors(env: Env, method: str, path: str, status: int) -> None:
    response = Browser(env.front).send(event(method, path))
    assert response.status == status
    assert body(response)["error"] == "invalid_request"


def test_a_malformed_token_request_is_a_400_not_a_500(env: Env) -> None:
    raw = event("POST", "/oauth/token", form={"grant_type": "authorization_code"})
    raw["body"], raw["isBase64Encoded"] = "%%%not base64", True
    assert Browser(env.front).send(raw).status == 400
    twice = event("POST", "/oauth/token", form={"grant_type": "password", "client_id": "inspector"})
    twice["body"] += "&client_id=inspector"
    response = Browser(env.front).send(twice)
    assert response.status == 400
    assert body(response)["error"] == "invalid_request"
    grant = Browser(env.front).send(
        event("POST", "/oauth/token", form={"grant_type": "password", "client_id": "inspector"})
    )
    assert body(grant)["error"] == "unsupported_grant_type"
