"""Several trusted issuers: each token is checked by its own issuer's verifier, chosen by `iss`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jwt.api_jws import PyJWS

from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier, TrustedIssuers

from .conftest import Keys
from .helpers import ISSUER, JWKS_URL, MCP_URL, FakeClock, FakeFetcher, mint, public_jwk, token_claims

SECOND = "https://second.example.com"
SECOND_JWKS = "https://second.example.com/jwks.json"


@pytest.fixture
def issuers(verifier: JwtVerifier, keys: Keys, fetcher: FakeFetcher, clock: FakeClock) -> TrustedIssuers:
    """The fixture issuer, and a second one publishing only the outsider key, strict on aud/typ."""
    fetcher.documents[SECOND_JWKS] = {"keys": [public_jwk(keys.outsider, keys.outsider.kid, "RS256")]}
    second = JwtSettings(
        issuer=SECOND,
        audiences=(MCP_URL,),
        jwks_url=SECOND_JWKS,
        audience_required=True,
        token_types=("application/AT+JWT",),
    )
    return TrustedIssuers([verifier, JwtVerifier(second, JwksCache(second, fetch_json=fetcher), clock=clock)])


def reason(issuers: TrustedIssuers, token: str) -> ReasonCode:
    with pytest.raises(AuthError) as info:
        issuers.verify(token)
    return info.value.reason


def test_each_issuers_tokens_pass_with_their_own_keys(issuers: TrustedIssuers, keys: Keys) -> None:
    assert issuers.issuers == (ISSUER, SECOND)
    assert issuers.verify(mint(keys.rsa)).subject == "user-123"
    second = mint(keys.outsider, token_claims(iss=SECOND), headers={"typ": "at+jwt"})
    assert issuers.verify(second).subject == "user-123"


def test_each_issuer_keeps_its_own_rules(issuers: TrustedIssuers, keys: Keys) -> None:
    """The first accepts tokens of any typ; the second only at+jwt with an aud."""
    assert issuers.verify(mint(keys.rsa, headers={"typ": "JWT"})).subject == "user-123"
    untyped = mint(keys.outsider, token_claims(iss=SECOND), headers={"typ": "JWT"})
    assert reason(issuers, untyped) is ReasonCode.WRONG_TOKEN_USE
    no_aud = mint(
        keys.outsider, token_claims(iss=SECOND, aud=None, token_use="access"), headers={"typ": "at+jwt"}
    )
    assert reason(issuers, no_aud) is ReasonCode.BAD_AUDIENCE


def test_keys_of_one_issuer_never_verify_anothers_tokens(issuers: TrustedIssuers, keys: Keys) -> None:
    assert reason(issuers, mint(keys.rsa, token_claims(iss=SECOND), headers={"typ": "at+jwt"})) is (
        ReasonCode.UNKNOWN_KID
    )
    assert reason(issuers, mint(keys.outsider, token_claims())) is ReasonCode.UNKNOWN_KID


@pytest.mark.parametrize(
    "iss",
    [None, "https://evil.example.com", [ISSUER], {"iss": ISSUER}, ISSUER.rstrip("/"), SECOND + "/"],
    ids=["none", "stranger", "list", "object", "no-trailing-slash", "trailing-slash"],
)
def test_an_iss_that_is_not_exactly_a_trusted_issuer_is_bad_issuer_before_any_fetch(
    issuers: TrustedIssuers, keys: Keys, fetcher: FakeFetcher, iss: Any
) -> None:
    # Signed over raw JSON: PyJWT's JWT layer refuses to encode a non-string iss.
    payload = json.dumps(token_claims(iss=iss)).encode()
    token = PyJWS().encode(payload, keys.rsa.private, algorithm="RS256", headers={"kid": keys.rsa.kid})
    assert reason(issuers, token) is ReasonCode.BAD_ISSUER
    assert fetcher.total == 0


def test_at_least_one_issuer_is_required() -> None:
    with pytest.raises(ValueError, match="at least one issuer"):
        TrustedIssuers([])


def test_the_single_issuer_verifier_refuses_a_stranger_before_any_fetch(
    verifier: JwtVerifier, keys: Keys, fetcher: FakeFetcher
) -> None:
    with pytest.raises(AuthError) as info:
        verifier.verify(mint(keys.outsider, token_claims(iss="https://evil.example.com")))
    assert info.value.reason is ReasonCode.BAD_ISSUER
    assert fetcher.calls[JWKS_URL] == 0
