"""The front's client at the upstream OpenID provider, against a small OIDC server on 127.0.0.1.

The server below is test-local (keys generated at test time) and speaks just enough OIDC: discovery,
JWKS, and a token endpoint that checks ``client_secret_basic``, the code, the PKCE verifier and the
redirect URI, and answers with ID tokens whose claims each test chooses.

Sources: OpenID Connect Core 1.0 §3.1.3.7 (ID token validation: iss exact, aud contains the client
ID, azp when several audiences, signature with the issuer's keys and the expected alg, exp, nonce
equal to the one sent) and §12.2 (a refresh response's ID token has the same sub; no nonce);
OpenID Connect Discovery 1.0 §4.3 (the document's issuer equals the issuer exactly); RFC 6749
§2.3.1 (client_secret_basic with form-encoded ID and secret), §5.1 (scope omitted when equal to the
request), §5.2 (error responses; invalid_grant); RFC 7636 §4.3 (S256 challenge).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.oauth.upstream import (
    UpstreamClient,
    UpstreamConfig,
    UpstreamError,
    UpstreamRefused,
)

CLIENT_ID = "front-client"
REDIRECT_URI = "http://127.0.0.1:9999/oauth/callback"


@functools.cache
def _rsa_key(role: str) -> rsa.RSAPrivateKey:
    """One RSA key per role for the module: generated at test time, once (keygen is the slow part)."""
    return rsa.generate_private_key(65537, 2048)


@dataclass
class Oidc:
    """State of the test issuer: what it expects, what it answers, what it saw."""

    issuer: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: _rsa_key("issuer"))
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> {verifier, nonce, sub}
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> sub
    disabled: set[str] = field(default_factory=set)
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    token_response_overrides: dict[str, Any] = field(default_factory=dict)
    claim_overrides: dict[str, Any] = field(default_factory=dict)
    sign_with: str = "RS256"
    forced_status: int | None = None
    rotate_refresh: bool = True
    refresh_sub: str | None = None  # the sub a refreshed ID token names, if not the stored one
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    discovery_fetches: int = 0

    def id_token(self, sub: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "email": "dev@example.test",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.claim_overrides)
        claims = {key: value for key, value in claims.items() if value is not None}
        if self.sign_with == "ES256":
            return jwt.encode(claims, self.ec_key, algorithm="ES256", headers={"kid": "ec-1"})
        if self.sign_with == "HS256":
            return jwt.encode(claims, self.secret, algorithm="HS256", headers={"kid": "rsa-1"})
        if self.sign_with == "forged":
            other = _rsa_key("forger")
            return jwt.encode(claims, other, algorithm="RS256", headers={"kid": "rsa-1"})
        return jwt.encode(claims, self.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {"keys": [{**rsa_jwk, "kid": "rsa-1", "use": "sig"}, {**ec_jwk, "kid": "ec-1", "use": "sig"}]}

    def new_code(self, verifier: str, nonce: str, sub: str = "user-123") -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"verifier": verifier, "nonce": nonce, "sub": sub}
        return code

    def new_refresh_token(self, sub: str = "user-123") -> str:
        token = secrets.token_urlsafe(16)
        self.refresh_tokens[token] = sub
        return token


class _Handler(BaseHTTPRequestHandler):
    server: _OidcServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        oidc = self.server.oidc
        if self.path == "/.well-known/openid-configuration":
            oidc.discovery_fetches += 1
            document = {
                "issuer": oidc.issuer,
                "authorization_endpoint": f"{oidc.issuer}/authorize",
                "token_endpoint": f"{oidc.issuer}/token",
                "jwks_uri": f"{oidc.issuer}/jwks",
                "code_challenge_methods_supported": ["S256"],
            }
            document.update(oidc.discovery_overrides)
            self._json(200, {k: v for k, v in document.items() if v is not None})
        elif self.path == "/jwks":
            self._json(200, oidc.jwks())
        else:
            self._json(404, {})

    def do_POST(self) -> None:
        oidc = self.server.oidc
        length = int(self.headers.get("Content-Length", "0"))
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        oidc.token_requests.append({"form": form, "authorization": self.headers.get("Authorization")})
        if self.path == "/token-redirect":
            self.send_response(307)
            self.send_header("Location", f"{oidc.issuer}/token")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if oidc.forced_status is not None:
            self._json(oidc.forced_status, {"error": "server_error"} if oidc.forced_status < 500 else {})
            return
        if not self._client_authenticated():
            self._json(401, {"error": "invalid_client"})
            return
        if form.get("grant_type") == "authorization_code":
            self._authorization_code(form)
        elif form.get("grant_type") == "refresh_token":
            self._refresh(form)
        else:
            self._json(400, {"error": "unsupported_grant_type"})

    def _client_authenticated(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        return unquote(client_id) == CLIENT_ID and unquote(secret) == self.server.oidc.secret

    def _authorization_code(self, form: dict[str, str]) -> None:
        oidc = self.server.oidc
        grant = oidc.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("redirect_uri") != REDIRECT_URI
            or form.get("code_verifier") != grant["verifier"]
        ):
            self._json(400, {"error": "invalid_grant"})
            return
        refresh_token = oidc.new_refresh_token(grant["sub"])
        self._json(
            200,
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": refresh_token,
                "id_token": oidc.id_token(grant["sub"], grant["nonce"]),
                **oidc.token_response_overrides,
            },
        )

    def _refresh(self, form: dict[str, str]) -> None:
        oidc = self.server.oidc
        sub = oidc.refresh_tokens.get(form.get("refresh_token", ""))
        if sub is None or sub in oidc.disabled:
            self._json(400, {"error": "invalid_grant", "error_description": "User is disabled."})
            return
        body: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": oidc.id_token(oidc.refresh_sub or sub, None),
            **oidc.token_response_overrides,
        }
        if oidc.rotate_refresh:
            oidc.refresh_tokens.pop(form["refresh_token"])
            body["refresh_token"] = oidc.new_refresh_token(sub)
        self._json(200, {k: v for k, v in body.items() if v is not None})


class _OidcServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    oidc: Oidc


@pytest.fixture
def oidc() -> Iterator[Oidc]:
    httpd = _OidcServer(("127.0.0.1", 0), _Handler)
    httpd.oidc = Oidc(issuer=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd.oidc
    httpd.shutdown()
    httpd.server_close()


def _client(oidc: Oidc, **kwargs: Any) -> UpstreamClient:
    config = UpstreamConfig(
        issuer=oidc.issuer,
        client_id=CLIENT_ID,
        client_secret=oidc.secret,
        redirect_uri=REDIRECT_URI,
        scopes=("openid", "email"),
    )
    return UpstreamClient(config, timeout_seconds=2.0, **kwargs)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _assert_no_secrets(error: BaseException, *values: str) -> None:
    text = f"{error} {getattr(error, 'description', '')} {error!r}"
    for value in values:
        assert value not in text


def test_the_authorization_url_asks_for_a_pkce_code_with_state_and_nonce(oidc: Oidc) -> None:
    _, challenge = _pkce()
    url = _client(oidc).authorization_url(state="st-1", code_challenge=challenge, nonce="n-1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{oidc.issuer}/authorize"
    assert {key: values[0] for key, values in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert oidc.secret not in url


def test_a_pool_federated_with_one_provider_is_asked_to_go_straight_to_it(oidc: Oidc) -> None:
    """SSO_ONLY: `identity_provider` makes Cognito's /oauth2/authorize skip its own page and send the
    user to that provider (https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html)."""
    _, challenge = _pkce()
    config = UpstreamConfig(
        issuer=oidc.issuer,
        client_id=CLIENT_ID,
        client_secret=oidc.secret,
        redirect_uri=REDIRECT_URI,
        identity_provider="Entra ID",
    )
    url = UpstreamClient(config, timeout_seconds=2.0).authorization_url(
        state="s", code_challenge=challenge, nonce="n"
    )
    assert parse_qs(urlsplit(url).query)["identity_provider"] == ["Entra ID"]
    plain = _client(oidc).authorization_url(state="s", code_challenge=challenge, nonce="n")
    assert "identity_provider" not in parse_qs(urlsplit(plain).query)


def test_a_plain_pkce_challenge_is_not_sent(oidc: Oidc) -> None:
    with pytest.raises(ValueError, match="S256"):
        _client(oidc).authorization_url(state="s", code_challenge="plain-verifier", nonce="n")


def test_discovery_is_fetched_once_and_reused(oidc: Oidc) -> None:
    client = _client(oidc)
    _, challenge = _pkce()
    for _ in range(3):
        client.authorization_url(state="s", code_challenge=challenge, nonce="n")
    assert oidc.discovery_fetches == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"issuer": "http://127.0.0.1:1/other"}, "another issuer"),
        ({"token_endpoint": "http://evil.example/token"}, "token_endpoint"),
        ({"authorization_endpoint": None}, "authorization_endpoint"),
        ({"code_challenge_methods_supported": ["plain"]}, "S256"),
    ],
)
def test_an_unusable_discovery_document_is_refused(
    oidc: Oidc, override: dict[str, Any], message: str
) -> None:
    oidc.discovery_overrides = override
    _, challenge = _pkce()
    with pytest.raises(UpstreamError, match=message) as caught:
        _client(oidc).authorization_url(state="s", code_challenge=challenge, nonce="n")
    assert caught.value.error == "temporarily_unavailable"


def test_a_discovery_document_without_pkce_methods_is_accepted_like_cognitos(oidc: Oidc) -> None:
    oidc.discovery_overrides = {"code_challenge_methods_supported": None}
    _, challenge = _pkce()
    assert _client(oidc).authorization_url(state="s", code_challenge=challenge, nonce="n")


def test_exchange_code_returns_the_verified_user(oidc: Oidc) -> None:
    verifier, _ = _pkce()
    code = oidc.new_code(verifier, nonce="nonce-1", sub="user-123")
    grant = _client(oidc).exchange_code(code, verifier, "nonce-1")
    assert grant.subject == "user-123"
    assert grant.email == "dev@example.test"
    assert grant.scopes == ("openid", "email")  # scope omitted in the response: the requested ones
    assert grant.refresh_token in oidc.refresh_tokens
    assert grant.id_token_claims["nonce"] == "nonce-1"
    request = oidc.token_requests[0]
    assert request["form"] == {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    assert request["authorization"].startswith("Basic ")
    assert grant.refresh_token is not None
    assert grant.refresh_token not in repr(grant)


def test_a_secret_with_reserved_characters_is_form_encoded_in_basic_auth(oidc: Oidc) -> None:
    oidc.secret = "a:b+c/d%e f"
    verifier, _ = _pkce()
    grant = _client(oidc).exchange_code(oidc.new_code(verifier, "n"), verifier, "n")
    assert grant.subject == "user-123"


def test_es256_id_tokens_are_accepted(oidc: Oidc) -> None:
    oidc.sign_with = "ES256"
    verifier, _ = _pkce()
    assert _client(oidc).exchange_code(oidc.new_code(verifier, "n"), verifier, "n").subject == "user-123"


def test_the_granted_scope_from_the_token_response_is_reported(oidc: Oidc) -> None:
    oidc.token_response_overrides = {"scope": "openid"}
    verifier, _ = _pkce()
    assert _client(oidc).exchange_code(oidc.new_code(verifier, "n"), verifier, "n").scopes == ("openid",)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"sign_with": "forged"}, "refused"),
        ({"sign_with": "HS256"}, "algorithm"),
        ({"claim_overrides": {"aud": "another-client"}}, "InvalidAudienceError"),
        ({"claim_overrides": {"aud": [CLIENT_ID, "another-client"]}}, "several clients"),
        ({"claim_overrides": {"iss": "https://evil.example"}}, "InvalidIssuerError"),
        ({"claim_overrides": {"exp": int(time.time()) - 3600}}, "ExpiredSignatureError"),
        ({"claim_overrides": {"nonce": "replayed-nonce"}}, "nonce"),
        ({"claim_overrides": {"nonce": None}}, "nonce"),
        ({"claim_overrides": {"sub": None}}, "MissingRequiredClaimError"),
        ({"token_response_overrides": {"id_token": None}}, "no ID token"),
        ({"token_response_overrides": {"token_type": "mac"}}, "Bearer"),
        ({"token_response_overrides": {"scope": 'bad"scope'}}, "invalid scope"),
    ],
)
def test_a_bad_id_token_or_token_response_is_refused(oidc: Oidc, setup: dict[str, Any], message: str) -> None:
    for name, value in setup.items():
        setattr(oidc, name, value)
    verifier, _ = _pkce()
    code = oidc.new_code(verifier, "expected-nonce")
    with pytest.raises(UpstreamError, match=message) as caught:
        _client(oidc).exchange_code(code, verifier, "expected-nonce")
    assert not isinstance(caught.value, UpstreamRefused)
    _assert_no_secrets(caught.value, code, verifier, oidc.secret)


def test_a_wrong_verifier_or_reused_code_is_invalid_grant(oidc: Oidc) -> None:
    verifier, _ = _pkce()
    code = oidc.new_code(verifier, "n")
    client = _client(oidc)
    with pytest.raises(UpstreamRefused) as caught:
        client.exchange_code(code, "wrong-verifier", "n")
    assert caught.value.error == "invalid_grant"
    _assert_no_secrets(caught.value, code, verifier, oidc.secret)
    code = oidc.new_code(verifier, "n")
    client.exchange_code(code, verifier, "n")
    with pytest.raises(UpstreamRefused):
        client.exchange_code(code, verifier, "n")


def test_a_wrong_client_secret_is_invalid_client_not_a_refusal_of_the_user(oidc: Oidc) -> None:
    client = _client(oidc)
    oidc.secret = "rotated-" + secrets.token_urlsafe(8)
    verifier, _ = _pkce()
    with pytest.raises(UpstreamError) as caught:
        client.exchange_code(oidc.new_code(verifier, "n"), verifier, "n")
    assert caught.value.error == "invalid_client"
    assert not isinstance(caught.value, UpstreamRefused)
    _assert_no_secrets(caught.value, oidc.secret, client.config.client_secret)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_upstream_outage_is_temporarily_unavailable(oidc: Oidc, status: int) -> None:
    oidc.forced_status = status
    verifier, _ = _pkce()
    with pytest.raises(UpstreamError) as caught:
        _client(oidc).exchange_code(oidc.new_code(verifier, "n"), verifier, "n")
    assert caught.value.error == "temporarily_unavailable"


def test_an_unreachable_upstream_is_temporarily_unavailable() -> None:
    config = UpstreamConfig(
        issuer="http://127.0.0.1:9",  # discard port: nothing listens
        client_id=CLIENT_ID,
        client_secret="unused",
        redirect_uri=REDIRECT_URI,
    )
    _, challenge = _pkce()
    with pytest.raises(UpstreamError) as caught:
        UpstreamClient(config, timeout_seconds=1.0).authorization_url(
            state="s", code_challenge=challenge, nonce="n"
        )
    assert caught.value.error == "temporarily_unavailable"


def test_a_redirecting_token_endpoint_is_not_followed(oidc: Oidc) -> None:
    oidc.discovery_overrides = {"token_endpoint": f"{oidc.issuer}/token-redirect"}
    verifier, _ = _pkce()
    with pytest.raises(UpstreamError, match="HTTP 307"):
        _client(oidc).exchange_code(oidc.new_code(verifier, "n"), verifier, "n")
    assert len(oidc.token_requests) == 1  # the secret was not sent again to the Location


def test_refresh_rotates_and_keeps_the_user(oidc: Oidc) -> None:
    refresh_token = oidc.new_refresh_token("user-123")
    grant = _client(oidc).refresh(refresh_token, subject="user-123")
    assert grant.subject == "user-123"
    assert grant.refresh_token in oidc.refresh_tokens
    assert grant.refresh_token != refresh_token
    assert oidc.token_requests[0]["form"] == {"grant_type": "refresh_token", "refresh_token": refresh_token}


def test_refresh_without_rotation_keeps_the_used_refresh_token(oidc: Oidc) -> None:
    oidc.rotate_refresh = False
    refresh_token = oidc.new_refresh_token("user-123")
    assert _client(oidc).refresh(refresh_token, subject="user-123").refresh_token == refresh_token


def test_refresh_without_an_id_token_uses_the_stored_subject(oidc: Oidc) -> None:
    oidc.token_response_overrides = {"id_token": None}
    grant = _client(oidc).refresh(oidc.new_refresh_token("user-123"), subject="user-123")
    assert grant.subject == "user-123"
    assert dict(grant.id_token_claims) == {}


def test_a_refreshed_id_token_naming_another_user_is_refused(oidc: Oidc) -> None:
    oidc.refresh_sub = "someone-else"
    refresh_token = oidc.new_refresh_token("user-123")
    with pytest.raises(UpstreamError, match="another user") as caught:
        _client(oidc).refresh(refresh_token, subject="user-123")
    _assert_no_secrets(caught.value, refresh_token)


def test_a_user_disabled_upstream_loses_the_refresh(oidc: Oidc) -> None:
    refresh_token = oidc.new_refresh_token("user-123")
    oidc.disabled.add("user-123")
    with pytest.raises(UpstreamRefused) as caught:
        _client(oidc).refresh(refresh_token, subject="user-123")
    assert caught.value.error == "invalid_grant"
    assert "disabled" not in caught.value.description  # the upstream's own text is not relayed
    _assert_no_secrets(caught.value, refresh_token, oidc.secret)


@pytest.mark.parametrize(
    ("field_name", "value", "message"),
    [
        ("issuer", "http://idp.example.com", "https"),
        ("redirect_uri", "http://front.example.com/oauth/callback", "callback"),
        ("client_id", "", "client_id"),
        ("client_secret", "", "secret"),
        ("scopes", ("email",), "openid"),
        ("scopes", ("openid", "bad scope"), "scope"),
    ],
)
def test_a_misconfigured_upstream_is_refused_at_start(field_name: str, value: Any, message: str) -> None:
    fields: dict[str, Any] = {
        "issuer": "https://idp.example.com",
        "client_id": CLIENT_ID,
        "client_secret": "s",
        "redirect_uri": "https://front.example.com/oauth/callback",
        "scopes": ("openid",),
    }
    fields[field_name] = value
    with pytest.raises(ValueError, match=message):
        UpstreamConfig(**fields)


def test_the_config_repr_hides_the_secret() -> None:
    config = UpstreamConfig(
        issuer="https://idp.example.com",
        client_id=CLIENT_ID,
        client_secret="very-secret-value",
        redirect_uri="https://front.example.com/oauth/callback",
    )
    assert "very-secret-value" not in repr(config)
