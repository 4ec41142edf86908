"""Fixtures for the auth tests: keys generated at test time, a JWKS, a wired Authenticator.

Key generation happens once per session (RSA-2048 takes a noticeable fraction of a second);
everything stateful (clocks, fetch counters, caches, the key store) is fresh per test.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.auth.api_keys import KeyStore, generate_api_key
from app.auth.authenticator import Authenticator
from app.auth.jwks import JwksCache
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier

from .helpers import (
    BASE_SCOPE,
    COGNITO_CLIENT_ID,
    ISSUER,
    JWKS_URL,
    MCP_URL,
    NOW,
    ApiKeys,
    FakeClock,
    FakeFetcher,
    SigningKey,
    b64url,
    public_jwk,
)


@dataclass(frozen=True)
class Keys:
    """The session's signing keys. ``outsider`` is not published in the JWKS."""

    rsa: SigningKey
    ec: SigningKey
    ed: SigningKey
    rsa_no_alg: SigningKey  # published without "alg": usable for RS* and PS*
    outsider: SigningKey

    @property
    def published(self) -> tuple[SigningKey, ...]:
        return (self.rsa, self.ec, self.ed, self.rsa_no_alg)


def _signing_key(kid: str, alg: str, private: Any, *, publish_alg: bool = True) -> SigningKey:
    return SigningKey(
        kid=kid, alg=alg, private=private, jwk=public_jwk(private, kid, alg if publish_alg else None)
    )


@pytest.fixture(scope="session")
def keys() -> Keys:
    shared_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keys(
        rsa=_signing_key("rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ec=_signing_key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()), publish_alg=False),
        ed=_signing_key("ed-1", "EdDSA", ed25519.Ed25519PrivateKey.generate()),
        rsa_no_alg=_signing_key("rsa-any", "PS256", shared_rsa, publish_alg=False),
        outsider=_signing_key(
            "outsider", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
    )


@pytest.fixture
def jwks_document(keys: Keys) -> dict[str, Any]:
    """The issuer's JWKS: the published public keys plus entries a verifier must skip."""
    return {
        "keys": [
            *(key.jwk for key in keys.published),
            # A symmetric key an issuer should never publish: generated here, must be skipped.
            {"kty": "oct", "kid": "hmac-1", "k": b64url(secrets.token_bytes(32)), "alg": "HS256"},
            {**public_jwk(keys.outsider, "enc-1", "RS256"), "use": "enc"},
        ]
    }


@pytest.fixture
def clock() -> FakeClock:
    """Epoch-seconds clock for token times and API key expiry."""
    return FakeClock(NOW)


@pytest.fixture
def mono() -> FakeClock:
    """Monotonic clock for the JWKS cache."""
    return FakeClock(1000.0)


@pytest.fixture
def fetcher(jwks_document: dict[str, Any]) -> FakeFetcher:
    return FakeFetcher({JWKS_URL: jwks_document})


@pytest.fixture
def settings() -> JwtSettings:
    return JwtSettings(
        issuer=ISSUER,
        audiences=(MCP_URL,),
        allowed_client_ids=(COGNITO_CLIENT_ID,),
        base_scope=BASE_SCOPE,
        jwks_url=JWKS_URL,
    )


@pytest.fixture
def jwks(settings: JwtSettings, fetcher: FakeFetcher, mono: FakeClock) -> JwksCache:
    return JwksCache(settings, fetch_json=fetcher, clock=mono)


@pytest.fixture
def verifier(settings: JwtSettings, jwks: JwksCache, clock: FakeClock) -> JwtVerifier:
    return JwtVerifier(settings, jwks, clock=clock)


@pytest.fixture
def api_keys(clock: FakeClock) -> ApiKeys:
    """One valid, one revoked, one expired and one scope-less key, created an hour ago."""
    created = clock.now - 3600
    valid, valid_record = generate_api_key("ci-bot", [BASE_SCOPE, "tools:read"], None, created)
    revoked, revoked_record = generate_api_key("old-bot", [BASE_SCOPE], None, created)
    expired, expired_record = generate_api_key("temp-bot", [BASE_SCOPE], int(created) + 60, created)
    bare, bare_record = generate_api_key("bare-bot", ["tools:read"], None, created)
    store = KeyStore().add(valid_record).add(revoked_record).add(expired_record).add(bare_record)
    return ApiKeys(
        store=store.revoke(revoked_record.key_id),
        valid=valid,
        revoked=revoked,
        expired=expired,
        no_base_scope=bare,
    )


@pytest.fixture
def authenticator(verifier: JwtVerifier, api_keys: ApiKeys, clock: FakeClock) -> Authenticator:
    return Authenticator(verifier, lambda: api_keys.store, BASE_SCOPE, clock)
