"""The Cognito stand-in's federation (devtools/federation.py): attribute mapping and federated users
as Cognito makes them, and the sign-in round trip to the stand-in corporate provider over HTTP.

Cognito behaviour followed: attributes are mapped from the provider's claims at every sign-in, a
claim not sent leaves the attribute out, a value longer than the attribute allows fails the
sign-in; the federated user is `<provider>_<provider subject>` with an `identities` claim and a
`sub` of the pool's own
(https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-specifying-attribute-mapping.html,
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html).
A disabled user cannot sign in or refresh (AdminDisableUser). An answer naming another issuer is a
mix-up (RFC 9207 §2.4).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import jwt
import pytest

from devtools.dev_issuer import DevIssuer, DevIssuerServer, DevUser
from devtools.federation import MappingError, federated_user, map_attributes
from devtools.sso import start_corporate_provider
from infra.sso_settings import SsoSettings

PROVIDER = "Corp"
CLIENT = "front"
CALLBACK = "http://127.0.0.1:9/oauth/callback"  # never contacted: the test stops at the redirect
SAML_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


def test_mapping_copies_the_claims_a_provider_sent_as_strings() -> None:
    mapping = {"email": "mail", "custom:tenant": "tid", "email_verified": "verified", "locale": "locale"}
    claims = {"mail": "a@corp.test", "tid": "t-1", "verified": True, "groups": ["x"]}
    assert map_attributes(mapping, claims) == {
        "email": "a@corp.test",
        "custom:tenant": "t-1",
        "email_verified": "true",
    }
    assert map_attributes({"address": "addr"}, {"addr": {"country": "NZ"}}) == {"address": '{"country":"NZ"}'}
    assert map_attributes({"custom:tenant": "tid"}, {"tid": ""}) == {}


def test_a_value_longer_than_its_attribute_fails_the_sign_in() -> None:
    assert map_attributes({"custom:tenant": "tid"}, {"tid": "t" * 256})
    with pytest.raises(MappingError, match="custom:tenant"):
        map_attributes({"custom:tenant": "tid"}, {"tid": "t" * 257})
    with pytest.raises(MappingError, match="name"):
        map_attributes({"name": "n"}, {"n": "n" * 2049})


def test_a_federated_user_has_cognitos_shape() -> None:
    user = federated_user(PROVIDER, "abc", {"email": "a@corp.test", "custom:tenant": "t-1"}, created_ms=5)
    again = federated_user(PROVIDER, "abc", {"email": "new@corp.test"}, created_ms=9)
    assert user.subject == again.subject  # the pool's own sub, stable across sign-ins
    assert user.subject not in ("abc", f"{PROVIDER}_abc")
    assert federated_user("Other", "abc", {}, created_ms=5).subject != user.subject
    claims = user.id_token_claims()
    assert claims["email"] == "a@corp.test"
    assert claims["custom:tenant"] == "t-1"
    assert claims["cognito:username"] == f"{PROVIDER}_abc"
    assert claims["identities"] == [
        {
            "userId": "abc",
            "providerName": PROVIDER,
            "providerType": "OIDC",
            "issuer": None,
            "primary": "true",
            "dateCreated": "5",
        }
    ]
    # Unverified unless the provider's own `email_verified` is mapped.
    assert claims["email_verified"] is False
    mapped = federated_user(PROVIDER, "abc", {"email": "a@corp.test", "email_verified": "true"}, created_ms=5)
    assert mapped.id_token_claims()["email_verified"] is True


# --- the round trip over HTTP -----------------------------------------------------------------


@dataclass
class Pool:
    issuer: DevIssuer
    corporate: DevIssuer
    secret: str


def _sso(**overrides: Any) -> SsoSettings:
    fields: dict[str, Any] = {
        "provider_type": "saml",
        "provider_name": PROVIDER,
        "attributes": {"email": SAML_EMAIL, "custom:tenant": "tenant"},
        "scopes": (),
    }
    fields.update(overrides)
    return SsoSettings(**fields)


@pytest.fixture
def pool() -> Iterator[Pool]:
    """The Cognito stand-in federated to the corporate stand-in (which approves at once)."""
    server = DevIssuerServer()
    corporate, stop = start_corporate_provider(server.issuer, _sso(), auto_approve=True)
    issuer = server.start()
    secret = secrets.token_urlsafe(24)
    issuer.register_client(CLIENT, client_secret=secret, redirect_uris=[CALLBACK], scopes=["openid", "email"])
    try:
        yield Pool(issuer, corporate, secret)
    finally:
        server.stop()
        stop()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def _sign_in(pool: Pool, **extra: str) -> tuple[dict[str, str], str]:
    """Follow the redirects from the pool's /authorize to the client's callback: (its query, verifier)."""
    verifier, challenge = _pkce()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "scope": "openid email",
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "identity_provider": PROVIDER,
        **extra,
    }
    url = f"{pool.issuer.issuer_url}/authorize?{urlencode(params)}"
    with httpx2.Client(timeout=10) as http:
        for _ in range(6):
            reply = http.get(url)
            assert reply.status_code == 302, reply.text
            url = urljoin(url, reply.headers["location"])
            if url.startswith(CALLBACK):
                return _query(url), verifier
    raise AssertionError("no redirect to the client")


def _tokens(pool: Pool, code: str, verifier: str) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    reply = httpx2.post(f"{pool.issuer.issuer_url}/token", data=form, auth=(CLIENT, pool.secret), timeout=10)
    assert reply.status_code == 200, reply.text
    tokens: dict[str, Any] = reply.json()
    return tokens


def _id_claims(pool: Pool, id_token: str) -> dict[str, Any]:
    key = jwt.PyJWK(pool.issuer.jwks()["keys"][0]).key
    claims: dict[str, Any] = jwt.decode(
        id_token, key, algorithms=["RS256"], audience=CLIENT, issuer=pool.issuer.issuer_url
    )
    return claims


def test_a_named_provider_signs_the_user_in_there_and_the_mapping_fills_the_id_token(pool: Pool) -> None:
    query, verifier = _sign_in(pool)
    assert query["state"] == "s-1"
    claims = _id_claims(pool, _tokens(pool, query["code"], verifier)["id_token"])
    # A SAML-style mapping: the stand-in issued the claim URI the mapping reads.
    assert claims["email"] == "alice@corp.example.test"
    assert claims["custom:tenant"] == "tenant-a"
    assert claims["cognito:username"] == f"{PROVIDER}_corp-alice"
    assert claims["nonce"] == "n-1"


def test_a_disabled_federated_user_can_neither_sign_in_nor_refresh(pool: Pool) -> None:
    query, verifier = _sign_in(pool)
    tokens = _tokens(pool, query["code"], verifier)
    subject = _id_claims(pool, tokens["id_token"])["sub"]
    pool.issuer.disable_user(subject)
    assert _sign_in(pool)[0]["error"] == "access_denied"
    refresh = httpx2.post(
        f"{pool.issuer.issuer_url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CLIENT, pool.secret),
        timeout=10,
    )
    assert (refresh.status_code, refresh.json()["error"]) == (400, "invalid_grant")


def test_each_sign_in_maps_the_attributes_again(pool: Pool) -> None:
    query, verifier = _sign_in(pool)
    first = _id_claims(pool, _tokens(pool, query["code"], verifier)["id_token"])
    alice = pool.corporate.user("corp-alice")
    assert alice is not None
    pool.corporate.put_user(
        DevUser(alice.subject, alice.name, alice.email, {**alice.claims, "tenant": "moved"})
    )
    query, verifier = _sign_in(pool)
    second = _id_claims(pool, _tokens(pool, query["code"], verifier)["id_token"])
    assert (second["sub"], second["custom:tenant"]) == (first["sub"], "moved")


def test_a_tenant_too_long_for_the_pool_refuses_the_sign_in(pool: Pool) -> None:
    alice = pool.corporate.user("corp-alice")
    assert alice is not None
    pool.corporate.put_user(
        DevUser(alice.subject, alice.name, alice.email, {**alice.claims, "tenant": "t" * 300})
    )
    query, _ = _sign_in(pool)
    assert query["error"] == "access_denied"
    assert "code" not in query


def test_an_answer_naming_another_issuer_is_refused(pool: Pool) -> None:
    """A code and state delivered with `iss` of another provider: a mix-up, never redeemed."""
    _, challenge = _pkce()
    request = pool.issuer.begin_authorization(
        {
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": CALLBACK,
            "scope": "openid",
            "state": "s-2",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    federation = pool.issuer.federation
    assert federation is not None
    state = _query(federation.start(request))["state"]
    answer = urlencode({"code": "stolen", "state": state, "iss": "https://attacker.example"})
    reply = httpx2.get(f"{pool.issuer.issuer_url}/idpresponse?{answer}", timeout=10)
    assert reply.status_code == 302
    assert _query(reply.headers["location"]) == {
        "error": "access_denied",
        "error_description": f"the answer did not come from {PROVIDER}",
        "state": "s-2",
        "iss": pool.issuer.issuer_url,
    }


def test_an_unknown_answer_is_shown_not_redirected(pool: Pool) -> None:
    reply = httpx2.get(f"{pool.issuer.issuer_url}/idpresponse?code=x&state=nobody", timeout=10)
    assert reply.status_code == 400
    assert "start again" in reply.text


def test_without_federation_there_is_no_idpresponse() -> None:
    server = DevIssuerServer()
    issuer = server.start()
    try:
        assert httpx2.get(f"{issuer.issuer_url}/idpresponse?code=x&state=y", timeout=10).status_code == 404
    finally:
        server.stop()
