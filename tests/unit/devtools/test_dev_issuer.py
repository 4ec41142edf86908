"""The development issuer is a real OAuth 2.1 / OpenID provider over HTTP on 127.0.0.1.

It is the front's upstream in `make dev`, so it must behave like one: a registered client, an
exact redirect URI, PKCE S256, single-use codes, rotated refresh tokens, client credentials only
for a client allowed them, and RFC 6749 errors for everything else (no token without a grant).

References: RFC 6749 §4.1 (authorization code), §4.1.2.1 (errors at the redirect URI, and when
not to redirect), §5.2 (token errors; 401 + WWW-Authenticate for a failed Basic client
authentication), §2.3.1 (Basic credentials are form-urlencoded), §3.1 (no repeated parameters);
RFC 7636 §4 (S256); RFC 9207 (`iss` in the authorization response); RFC 9700 §4.14.2
(refresh-token rotation, reuse revokes); OpenID Connect Core §2 (ID token `aud`, `nonce`).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jwt
import pytest

from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier
from devtools.dev_issuer import DevIssuer, DevIssuerServer

AUDIENCE = "http://127.0.0.1:8787/mcp"
FRONT = "front"
FRONT_SECRET = secrets.token_urlsafe(24)
CALLBACK = "http://127.0.0.1:8787/oauth/callback"
MACHINE = "machine"
MACHINE_SECRET = secrets.token_urlsafe(24)
PUBLIC = "public-app"
PUBLIC_CALLBACK = "http://127.0.0.1:9999/cb"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def location(self) -> dict[str, str]:
        """The redirect's query, one value per name."""
        query = parse_qs(urlsplit(self.headers["location"]).query)
        assert all(len(values) == 1 for values in query.values())
        return {name: values[0] for name, values in query.items()}


@dataclass
class Issuer:
    server: DevIssuerServer
    issuer: DevIssuer
    clock: Clock

    @property
    def port(self) -> int:
        return int(urlsplit(self.issuer.issuer_url).port or 0)

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            sent = dict(headers or {})
            if body is not None:
                sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def token(self, form: dict[str, str], *, basic: tuple[str, str] | None = None) -> Reply:
        headers = {}
        if basic is not None:
            raw = f"{quote(basic[0], safe='')}:{quote(basic[1], safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return self.request("POST", "/token", urlencode(form), headers)

    def verifier(self, audience: str = AUDIENCE) -> JwtVerifier:
        settings = JwtSettings(issuer=self.issuer.issuer_url, audiences=(audience,), base_scope=None)
        return JwtVerifier(settings, JwksCache(settings), clock=self.clock)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _start(auto_approve: bool) -> Iterator[Issuer]:
    clock = Clock()
    server = DevIssuerServer(audience=AUDIENCE, auto_approve=auto_approve, clock=clock)
    issuer = server.start()
    issuer.register_client(
        FRONT, client_secret=FRONT_SECRET, redirect_uris=[CALLBACK], scopes=["openid", "email", "profile"]
    )
    issuer.register_client(
        MACHINE,
        client_secret=MACHINE_SECRET,
        grant_types=["client_credentials"],
        scopes=["mcp/access", "mcp/profile", "reports/write"],
    )
    issuer.register_client(PUBLIC, client_secret=None, redirect_uris=[PUBLIC_CALLBACK])
    try:
        yield Issuer(server, issuer, clock)
    finally:
        server.stop()


@pytest.fixture
def idp() -> Iterator[Issuer]:
    """A fresh issuer with the login page (state never leaks between tests)."""
    yield from _start(auto_approve=False)


@pytest.fixture
def auto() -> Iterator[Issuer]:
    yield from _start(auto_approve=True)


def authorize_query(challenge: str, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "client_id": FRONT,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-123",
        "nonce": "n-456",
        "scope": "openid email",
    }
    params.update(overrides)
    return "/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def sign_in(idp: Issuer, challenge: str, **overrides: str | None) -> dict[str, str]:
    """GET /authorize, read the login page, click "Sign in": the redirect's query."""
    page = idp.request("GET", authorize_query(challenge, **overrides))
    assert page.status == 200, page.body
    fields = dict(re.findall(r'name="(request_id|csrf)" value="([^"]+)"', page.body.decode()))
    click = idp.request("POST", "/authorize", urlencode({**fields, "action": "approve"}))
    assert click.status == 302
    return click.location


def redeem(idp: Issuer, code: str, verifier: str, **overrides: str) -> Reply:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    form.update(overrides)
    return idp.token(form, basic=(FRONT, FRONT_SECRET))


def error_of(reply: Reply) -> str:
    assert reply.headers["cache-control"] == "no-store"
    document = reply.json()
    assert set(document) == {"error", "error_description"}
    error: str = document["error"]
    return error


# --- discovery -------------------------------------------------------------------------------


def test_discovery_says_what_mcp_clients_and_the_front_check(idp: Issuer) -> None:
    """claude-code#35846: a document without `code_challenge_methods_supported` is refused."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        document = idp.request("GET", path).json()
        assert document["issuer"] == idp.issuer.issuer_url
        assert document["authorization_endpoint"] == f"{idp.issuer.issuer_url}/authorize"
        assert document["token_endpoint"] == f"{idp.issuer.issuer_url}/token"
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert set(document["grant_types_supported"]) == {
            "authorization_code",
            "refresh_token",
            "client_credentials",
        }
        assert "client_secret_basic" in document["token_endpoint_auth_methods_supported"]
        assert document["authorization_response_iss_parameter_supported"] is True


# --- the authorization code flow ---------------------------------------------------------------


def test_the_login_page_names_the_client_its_return_host_and_the_scopes(idp: Issuer) -> None:
    _, challenge = pkce()
    page = idp.request("GET", authorize_query(challenge))
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    text = page.body.decode()
    assert FRONT in text
    assert "127.0.0.1:8787" in text
    assert "openid email" in text
    assert "Dev User (dev-user@example.test)" in text


def test_one_click_signs_in_and_the_code_buys_access_id_and_refresh_tokens(idp: Issuer) -> None:
    verifier, challenge = pkce()
    back = sign_in(idp, challenge)
    assert back["state"] == "st-123"
    assert back["iss"] == idp.issuer.issuer_url  # RFC 9207
    reply = redeem(idp, back["code"], verifier)
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
    tokens = reply.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid email"
    principal = idp.verifier().verify(tokens["access_token"])
    assert (principal.subject, principal.client_id) == ("dev-user", FRONT)
    assert principal.scopes == frozenset({"openid", "email"})
    identity = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert identity["aud"] == FRONT
    assert identity["nonce"] == "n-456"
    assert (identity["sub"], identity["email"], identity["name"]) == (
        "dev-user",
        "dev-user@example.test",
        "Dev User",
    )
    assert tokens["refresh_token"]


def test_auto_approve_redirects_back_at_once(auto: Issuer) -> None:
    verifier, challenge = pkce()
    reply = auto.request("GET", authorize_query(challenge))
    assert reply.status == 302
    assert reply.headers["location"].startswith(CALLBACK + "?")
    back = reply.location
    assert (back["state"], back["iss"]) == ("st-123", auto.issuer.issuer_url)
    assert redeem(auto, back["code"], verifier).status == 200


def test_a_public_client_uses_pkce_without_a_secret(auto: Issuer) -> None:
    verifier, challenge = pkce()
    back = auto.request(
        "GET", authorize_query(challenge, client_id=PUBLIC, redirect_uri=PUBLIC_CALLBACK)
    ).location
    form = {
        "grant_type": "authorization_code",
        "client_id": PUBLIC,
        "code": back["code"],
        "redirect_uri": PUBLIC_CALLBACK,
        "code_verifier": verifier,
    }
    assert auto.token(form).status == 200


def test_no_id_token_without_openid(auto: Issuer) -> None:
    verifier, challenge = pkce()
    back = auto.request("GET", authorize_query(challenge, scope="email")).location
    assert "id_token" not in redeem(auto, back["code"], verifier).json()


@pytest.mark.parametrize(
    ("fields", "why"),
    [({"csrf": "forged"}, "forged csrf"), ({"request_id": "guessed"}, "unknown request")],
)
def test_the_click_needs_the_pages_own_request_and_csrf_values(
    idp: Issuer, fields: dict[str, str], why: str
) -> None:
    _, challenge = pkce()
    page = idp.request("GET", authorize_query(challenge)).body.decode()
    real = dict(re.findall(r'name="(request_id|csrf)" value="([^"]+)"', page))
    reply = idp.request("POST", "/authorize", urlencode({**real, **fields, "action": "approve"}))
    assert reply.status == 400, why
    assert "location" not in reply.headers
    # The genuine click still works once, and only once.
    assert idp.request("POST", "/authorize", urlencode({**real, "action": "approve"})).status == 302
    assert idp.request("POST", "/authorize", urlencode({**real, "action": "approve"})).status == 400


def test_cancel_returns_access_denied(idp: Issuer) -> None:
    _, challenge = pkce()
    page = idp.request("GET", authorize_query(challenge)).body.decode()
    fields = dict(re.findall(r'name="(request_id|csrf)" value="([^"]+)"', page))
    back = idp.request("POST", "/authorize", urlencode({**fields, "action": "deny"})).location
    assert (back["error"], back["state"]) == ("access_denied", "st-123")
    assert "code" not in back


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "nobody"},
        {"redirect_uri": "http://127.0.0.1:8788/oauth/callback"},
        {"redirect_uri": CALLBACK + "/extra"},
        {"redirect_uri": "https://evil.example.com/cb"},
        {"redirect_uri": None},
    ],
    ids=["unknown-client", "other-port", "longer-path", "other-host", "missing"],
)
def test_an_untrusted_client_or_redirect_is_never_redirected_to(
    idp: Issuer, overrides: dict[str, str | None]
) -> None:
    """RFC 6749 §4.1.2.1: with an invalid client or redirect URI the server must not redirect."""
    _, challenge = pkce()
    reply = idp.request("GET", authorize_query(challenge, **overrides))
    assert reply.status == 400
    assert "location" not in reply.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "admin"}, "invalid_scope"),
    ],
    ids=["no-pkce", "plain", "no-method", "bad-challenge", "implicit", "scope"],
)
def test_other_authorization_errors_go_back_to_the_client_with_state_and_iss(
    idp: Issuer, overrides: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce()
    reply = idp.request("GET", authorize_query(challenge, **overrides))
    assert reply.status == 302
    back = reply.location
    assert (back["error"], back["state"], back["iss"]) == (error, "st-123", idp.issuer.issuer_url)
    assert "code" not in back


def test_state_is_required(idp: Issuer) -> None:
    _, challenge = pkce()
    back = idp.request("GET", authorize_query(challenge, state=None)).location
    assert back["error"] == "invalid_request"


def test_a_repeated_parameter_is_an_invalid_request(idp: Issuer) -> None:
    _, challenge = pkce()
    reply = idp.request("GET", authorize_query(challenge) + "&client_id=" + PUBLIC)
    assert reply.status == 400
    assert "location" not in reply.headers


# --- redeeming codes ---------------------------------------------------------------------------


def test_a_wrong_or_missing_verifier_is_refused(auto: Issuer) -> None:
    verifier, challenge = pkce()
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    assert error_of(redeem(auto, code, pkce()[0])) == "invalid_grant"
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    assert error_of(redeem(auto, code, "")) == "invalid_grant"
    # The challenge itself is not the verifier (a `plain` downgrade).
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    assert error_of(redeem(auto, code, challenge)) == "invalid_grant"
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    assert redeem(auto, code, verifier).status == 200


def test_a_code_is_single_use_and_its_replay_revokes_what_it_bought(auto: Issuer) -> None:
    verifier, challenge = pkce()
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    first = redeem(auto, code, verifier).json()
    assert error_of(redeem(auto, code, verifier)) == "invalid_grant"
    refresh = auto.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, basic=(FRONT, FRONT_SECRET)
    )
    assert error_of(refresh) == "invalid_grant"


def test_a_code_lives_sixty_seconds(auto: Issuer) -> None:
    verifier, challenge = pkce()
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    auto.clock.now += 61
    assert error_of(redeem(auto, code, verifier)) == "invalid_grant"


def test_a_code_is_bound_to_its_client_and_redirect_uri(auto: Issuer) -> None:
    verifier, challenge = pkce()
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    assert error_of(redeem(auto, code, verifier, redirect_uri=PUBLIC_CALLBACK)) == "invalid_grant"
    code = auto.request("GET", authorize_query(challenge)).location["code"]
    stolen = {
        "grant_type": "authorization_code",
        "client_id": PUBLIC,
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    assert error_of(auto.token(stolen)) == "invalid_grant"


@pytest.mark.parametrize(
    ("basic", "form"),
    [
        ((FRONT, "wrong"), {}),
        (None, {"client_id": FRONT, "client_secret": "wrong"}),
        (None, {"client_id": FRONT}),
        (("nobody", "x"), {}),
        (None, {"client_id": PUBLIC, "client_secret": "invented"}),
    ],
    ids=["basic-wrong-secret", "post-wrong-secret", "no-secret", "unknown-client", "public-with-secret"],
)
def test_failed_client_authentication_is_a_401_invalid_client(
    auto: Issuer, basic: tuple[str, str] | None, form: dict[str, str]
) -> None:
    reply = auto.token({"grant_type": "client_credentials", **form}, basic=basic)
    assert reply.status == 401
    assert error_of(reply) == "invalid_client"
    assert reply.headers["www-authenticate"].startswith("Basic")


def test_the_old_anything_goes_token_request_gets_nothing(idp: Issuer) -> None:
    """Until this issue, POST /token with just a scope returned a token for anyone."""
    reply = idp.request("POST", "/token", urlencode({"scope": "mcp/access", "sub": "admin"}))
    assert reply.status == 401
    assert "access_token" not in reply.json()


# --- refresh tokens ----------------------------------------------------------------------------


def _refresh(idp: Issuer, token: str, **form: str) -> Reply:
    return idp.token(
        {"grant_type": "refresh_token", "refresh_token": token, **form}, basic=(FRONT, FRONT_SECRET)
    )


def _signed_in(idp: Issuer) -> dict[str, Any]:
    verifier, challenge = pkce()
    code = idp.request("GET", authorize_query(challenge)).location["code"]
    tokens: dict[str, Any] = redeem(idp, code, verifier).json()
    return tokens


def test_refresh_rotates_and_a_reused_token_revokes_the_family(auto: Issuer) -> None:
    first = _signed_in(auto)
    second = _refresh(auto, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert auto.verifier().verify(second["access_token"]).subject == "dev-user"
    assert error_of(_refresh(auto, first["refresh_token"])) == "invalid_grant"
    # The thief's replay also ends the legitimate holder's session (RFC 9700 §4.14.2).
    assert error_of(_refresh(auto, second["refresh_token"])) == "invalid_grant"


def test_a_disabled_user_cannot_refresh_or_sign_in(auto: Issuer) -> None:
    tokens = _signed_in(auto)
    auto.issuer.disable_user("dev-user")
    assert error_of(_refresh(auto, tokens["refresh_token"])) == "invalid_grant"
    _, challenge = pkce()
    assert auto.request("GET", authorize_query(challenge)).location["error"] == "access_denied"
    auto.issuer.enable_user("dev-user")
    assert _refresh(auto, tokens["refresh_token"]).status == 200


def test_a_refresh_may_narrow_but_not_widen_the_scopes(auto: Issuer) -> None:
    tokens = _signed_in(auto)
    assert error_of(_refresh(auto, tokens["refresh_token"], scope="openid email profile")) == "invalid_scope"
    narrowed = _refresh(auto, tokens["refresh_token"], scope="openid").json()
    assert narrowed["scope"] == "openid"


def test_a_refresh_token_is_bound_to_its_client(auto: Issuer) -> None:
    tokens = _signed_in(auto)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC}
    assert error_of(auto.token(form)) == "invalid_grant"


# --- client credentials ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["basic", "post"])
def test_client_credentials_for_the_registered_machine_client(idp: Issuer, method: str) -> None:
    form = {"grant_type": "client_credentials", "scope": "mcp/access mcp/profile", "resource": AUDIENCE}
    if method == "basic":
        reply = idp.token(form, basic=(MACHINE, MACHINE_SECRET))
    else:
        reply = idp.token({**form, "client_id": MACHINE, "client_secret": MACHINE_SECRET})
    tokens = reply.json()
    assert reply.status == 200
    assert "refresh_token" not in tokens
    assert "id_token" not in tokens
    principal = idp.verifier().verify(tokens["access_token"])
    assert (principal.subject, principal.client_id) == (MACHINE, MACHINE)  # RFC 9068 §2.2
    assert principal.scopes == frozenset({"mcp/access", "mcp/profile"})


def test_client_credentials_default_to_every_scope_the_client_may_have(idp: Issuer) -> None:
    tokens = idp.token({"grant_type": "client_credentials"}, basic=(MACHINE, MACHINE_SECRET)).json()
    assert set(tokens["scope"].split()) == {"mcp/access", "mcp/profile", "reports/write"}


def test_an_access_token_lifetime_may_be_shortened_never_lengthened(idp: Issuer) -> None:
    for asked, given in (("300", 300), ("999999", 3600), ("x", 3600)):
        form = {"grant_type": "client_credentials", "expires_in": asked}
        tokens = idp.token(form, basic=(MACHINE, MACHINE_SECRET)).json()
        assert tokens["expires_in"] == given
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == given


@pytest.mark.parametrize(
    ("form", "basic", "error"),
    [
        ({"grant_type": "client_credentials", "scope": "admin"}, (MACHINE, MACHINE_SECRET), "invalid_scope"),
        ({"grant_type": "client_credentials"}, (FRONT, FRONT_SECRET), "unauthorized_client"),
        (
            {"grant_type": "password", "username": "dev-user"},
            (MACHINE, MACHINE_SECRET),
            "unsupported_grant_type",
        ),
        (
            {"grant_type": "client_credentials", "resource": "https://other.example.com/mcp"},
            (MACHINE, MACHINE_SECRET),
            "invalid_target",
        ),
        (
            {"grant_type": "client_credentials", "client_id": FRONT},
            (MACHINE, MACHINE_SECRET),
            "invalid_request",
        ),
    ],
    ids=["scope", "grant-not-allowed", "password-grant", "other-resource", "two-client-ids"],
)
def test_token_requests_that_do_not_qualify_get_rfc_6749_errors(
    idp: Issuer, form: dict[str, str], basic: tuple[str, str], error: str
) -> None:
    reply = idp.token(form, basic=basic)
    assert reply.status == 400
    assert error_of(reply) == error


def test_the_token_endpoint_wants_a_form(idp: Issuer) -> None:
    body = json.dumps({"grant_type": "client_credentials"})
    reply = idp.request("POST", "/token", body, {"Content-Type": "application/json"})
    assert (reply.status, error_of(reply)) == (400, "invalid_request")


def test_secrets_codes_and_tokens_are_never_stored_as_issued(auto: Issuer) -> None:
    tokens = _signed_in(auto)
    state = repr(auto.issuer._state)
    assert FRONT_SECRET not in state
    assert MACHINE_SECRET not in state
    assert tokens["refresh_token"] not in state


def test_registering_a_client_checks_what_it_may_do(idp: Issuer) -> None:
    with pytest.raises(ValueError, match="confidential"):
        idp.issuer.register_client("x", client_secret=None, grant_types=["client_credentials"])
    with pytest.raises(ValueError, match="grant types"):
        idp.issuer.register_client("x", client_secret="s", grant_types=["password"])
    with pytest.raises(ValueError, match="fragment"):
        idp.issuer.register_client("x", client_secret="s", redirect_uris=["http://127.0.0.1/cb#x"])


def test_expired_tokens_from_the_issuer_are_refused_by_the_authorizer(idp: Issuer) -> None:
    token = idp.token(
        {"grant_type": "client_credentials", "expires_in": "60"}, basic=(MACHINE, MACHINE_SECRET)
    )
    access = token.json()["access_token"]
    idp.clock.now += 60 + 31  # past exp and the authorizer's 30 s leeway
    with pytest.raises(AuthError) as info:
        idp.verifier().verify(access)
    assert info.value.reason is ReasonCode.EXPIRED


def test_a_rotated_key_signs_new_tokens_and_old_ones_still_verify(idp: Issuer) -> None:
    """As an issuer rotating its keys: the JWKS (over HTTP) publishes the new key first and keeps
    the old one, so a relying party that fetches it again verifies tokens of both."""
    old = idp.issuer.mint(audience=AUDIENCE)
    old_kid = jwt.get_unverified_header(old)["kid"]
    new_kid = idp.issuer.rotate_key()
    new = idp.issuer.mint(audience=AUDIENCE)
    assert jwt.get_unverified_header(new)["kid"] == new_kid != old_kid
    published = [key["kid"] for key in idp.request("GET", "/jwks.json").json()["keys"]]
    assert published == [new_kid, old_kid]
    verifier = idp.verifier()
    assert verifier.verify(new).subject == verifier.verify(old).subject
