"""Tokens that must be accepted, in the shapes real issuers produce, and what they yield."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from jwt.api_jws import PyJWS
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from app.auth.authenticator import Authenticator
from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier, reason_for_pyjwt_error
from app.auth.principal import Principal

from .conftest import Keys
from .helpers import (
    BASE_SCOPE,
    COGNITO_CLIENT_ID,
    ISSUER,
    MCP_URL,
    NOW,
    FakeClock,
    FakeFetcher,
    SigningKey,
    mint,
    token_claims,
)


def _key(keys: Keys, name: str) -> SigningKey:
    key: SigningKey = getattr(keys, name)
    return key


PROVIDERS: list[tuple[str, str, dict[str, Any], Principal]] = [
    (
        "rs256-aud-mcp-url",
        "rsa",
        token_claims(),
        Principal("user-123", "jwt", frozenset({BASE_SCOPE, "tools:read"}), client_id="example-client"),
    ),
    (
        "es256-aud-mcp-url",
        "ec",
        token_claims(client_id=None, scope=BASE_SCOPE),
        Principal("user-123", "jwt", frozenset({BASE_SCOPE})),
    ),
    (
        "eddsa",
        "ed",
        token_claims(client_id=None, scope=BASE_SCOPE),
        Principal("user-123", "jwt", frozenset({BASE_SCOPE})),
    ),
    (
        "ps256-with-a-jwk-without-alg",
        "rsa_no_alg",
        token_claims(client_id=None, scope=BASE_SCOPE),
        Principal("user-123", "jwt", frozenset({BASE_SCOPE})),
    ),
    (
        "auth0-scope-string-aud-list-azp",
        "rsa",
        token_claims(
            sub="auth0|abc",
            aud=[MCP_URL, "https://tenant.auth0.com/userinfo"],
            azp="auth0-client",
            client_id=None,
            scope=f"openid profile {BASE_SCOPE}",
            org_id="org_123",
        ),
        Principal(
            "auth0|abc",
            "jwt",
            frozenset({"openid", "profile", BASE_SCOPE}),
            client_id="auth0-client",
            tenant="org_123",
        ),
    ),
    (
        "okta-scp-list-cid",
        "rsa",
        token_claims(
            sub="00u1", scope=None, scp=[BASE_SCOPE, "tools:write"], cid="okta-client", client_id=None
        ),
        Principal("00u1", "jwt", frozenset({BASE_SCOPE, "tools:write"}), client_id="okta-client"),
    ),
    (
        "entra-scp-string-tid-appid",
        "rsa",
        token_claims(
            sub="entra-oid",
            scope=None,
            scp=f"{BASE_SCOPE} Files.Read",
            tid="72f988bf-tenant",
            appid="entra-app",
            client_id=None,
        ),
        Principal(
            "entra-oid",
            "jwt",
            frozenset({BASE_SCOPE, "Files.Read"}),
            client_id="entra-app",
            tenant="72f988bf-tenant",
        ),
    ),
    (
        "keycloak-azp-scope-aud-list",
        "rsa",
        token_claims(
            sub="kc-user",
            aud=["account", MCP_URL],
            azp="kc-client",
            client_id=None,
            scope=f"email {BASE_SCOPE}",
        ),
        Principal("kc-user", "jwt", frozenset({"email", BASE_SCOPE}), client_id="kc-client"),
    ),
    (
        "cognito-access-token-without-aud",
        "rsa",
        token_claims(
            sub="cognito-sub",
            aud=None,
            token_use="access",
            client_id=COGNITO_CLIENT_ID,
            scope=BASE_SCOPE,
            username="alice",
        ),
        Principal("cognito-sub", "jwt", frozenset({BASE_SCOPE}), client_id=COGNITO_CLIENT_ID),
    ),
]


@pytest.mark.parametrize(
    ("key_name", "claims", "expected"),
    [case[1:] for case in PROVIDERS],
    ids=[case[0] for case in PROVIDERS],
)
def test_issuer_styles_are_accepted(
    keys: Keys, authenticator: Authenticator, key_name: str, claims: dict[str, Any], expected: Principal
) -> None:
    token = mint(_key(keys, key_name), claims)
    # The principal also carries the token's expiry, for the MCP Lambda (see app.auth.principal).
    assert authenticator.authenticate(f"Bearer {token}") == replace(expected, expires_at=claims["exp"])


def test_leeway_accepts_small_clock_skew(verifier: JwtVerifier, keys: Keys) -> None:
    token = mint(keys.rsa, token_claims(exp=NOW - 29, nbf=NOW + 29, iat=NOW + 29))
    assert verifier.verify(token).subject == "user-123"


def test_leeway_is_configurable(settings: JwtSettings, jwks: JwksCache, clock: FakeClock, keys: Keys) -> None:
    strict = JwtVerifier(
        JwtSettings(issuer=ISSUER, audiences=(MCP_URL,), jwks_url=settings.jwks_url, leeway_seconds=0),
        jwks,
        clock=clock,
    )
    with pytest.raises(AuthError) as info:
        strict.verify(mint(keys.rsa, token_claims(exp=NOW)))
    assert info.value.reason is ReasonCode.EXPIRED


def test_time_checks_use_the_injected_clock(verifier: JwtVerifier, clock: FakeClock, keys: Keys) -> None:
    token = mint(keys.rsa)
    assert verifier.verify(token).subject == "user-123"
    clock.advance(300 + 30)
    with pytest.raises(AuthError) as info:
        verifier.verify(token)
    assert info.value.reason is ReasonCode.EXPIRED


def test_extra_audiences_are_accepted(
    jwks: JwksCache, clock: FakeClock, settings: JwtSettings, keys: Keys
) -> None:
    verifier = JwtVerifier(
        JwtSettings(issuer=ISSUER, audiences=(MCP_URL, "api://mcp"), jwks_url=settings.jwks_url),
        jwks,
        clock=clock,
    )
    assert verifier.verify(mint(keys.rsa, token_claims(aud="api://mcp"))).subject == "user-123"


def test_algorithm_outside_the_configured_list_is_refused(
    jwks: JwksCache, clock: FakeClock, settings: JwtSettings, keys: Keys
) -> None:
    rsa_only = JwtVerifier(
        JwtSettings(issuer=ISSUER, audiences=(MCP_URL,), jwks_url=settings.jwks_url, algorithms=("RS256",)),
        jwks,
        clock=clock,
    )
    assert rsa_only.verify(mint(keys.rsa)).subject == "user-123"
    with pytest.raises(AuthError) as info:
        rsa_only.verify(mint(keys.ec))
    assert info.value.reason is ReasonCode.ALGORITHM_NOT_ALLOWED


def test_alg_check_happens_before_any_jwks_fetch(verifier: JwtVerifier, fetcher: FakeFetcher) -> None:
    with pytest.raises(AuthError):
        verifier.verify("eyJhbGciOiJub25lIiwia2lkIjoicnNhLTEifQ.eyJzdWIiOiJ4In0.")
    assert fetcher.total == 0


def test_cognito_token_with_no_allowed_clients_configured_is_refused(
    jwks: JwksCache, clock: FakeClock, settings: JwtSettings, keys: Keys
) -> None:
    no_clients = JwtVerifier(
        JwtSettings(issuer=ISSUER, audiences=(MCP_URL,), jwks_url=settings.jwks_url), jwks, clock=clock
    )
    token = mint(keys.rsa, token_claims(aud=None, token_use="access", client_id=COGNITO_CLIENT_ID))
    with pytest.raises(AuthError) as info:
        no_clients.verify(token)
    assert info.value.reason is ReasonCode.CLIENT_NOT_ALLOWED


MALFORMED = ReasonCode.MALFORMED_CREDENTIAL


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (token_claims(scope=["mcp/access"]), MALFORMED),
        (token_claims(scope=None, scp=[1, 2]), MALFORMED),
        (token_claims(scope=None, scp={"a": 1}), MALFORMED),
        (token_claims(scope='mcp/access "quoted"'), MALFORMED),
        (token_claims(sub=""), MALFORMED),
        (token_claims(sub=123), MALFORMED),
        (token_claims(exp=True), MALFORMED),
        (token_claims(nbf="soon"), MALFORMED),
        (token_claims(aud=123), ReasonCode.BAD_AUDIENCE),
        (token_claims(aud=[123]), ReasonCode.BAD_AUDIENCE),
    ],
    ids=[
        "scope-list",
        "scp-ints",
        "scp-object",
        "scope-bad-char",
        "sub-empty",
        "sub-int",
        "exp-bool",
        "nbf-string",
        "aud-int",
        "aud-list-of-int",
    ],
)
def test_malformed_claims_are_refused(
    verifier: JwtVerifier, keys: Keys, claims: dict[str, Any], reason: ReasonCode
) -> None:
    with pytest.raises(AuthError) as info:
        verifier.verify(mint(keys.rsa, claims))
    assert info.value.reason is reason


def test_unexpected_exception_becomes_internal_error(
    settings: JwtSettings, clock: FakeClock, keys: Keys
) -> None:
    class BrokenCache(JwksCache):
        def get_key(self, kid: str) -> Any:
            raise RuntimeError("bug")

    verifier = JwtVerifier(settings, BrokenCache(settings, fetch_json=FakeFetcher()), clock=clock)
    with pytest.raises(AuthError) as info:
        verifier.verify(mint(keys.rsa))
    assert info.value.reason is ReasonCode.INTERNAL_ERROR
    assert info.value.detail == "RuntimeError"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ExpiredSignatureError(), ReasonCode.EXPIRED),
        (ImmatureSignatureError(), ReasonCode.NOT_YET_VALID),
        (InvalidIssuerError(), ReasonCode.BAD_ISSUER),
        (InvalidAudienceError(), ReasonCode.BAD_AUDIENCE),
        (InvalidSignatureError(), ReasonCode.BAD_SIGNATURE),
        (InvalidAlgorithmError(), ReasonCode.ALGORITHM_NOT_ALLOWED),
        (MissingRequiredClaimError("iss"), ReasonCode.BAD_ISSUER),
        (MissingRequiredClaimError("aud"), ReasonCode.BAD_AUDIENCE),
        (MissingRequiredClaimError("exp"), ReasonCode.MALFORMED_CREDENTIAL),
        (DecodeError(), ReasonCode.MALFORMED_CREDENTIAL),
        (PyJWTError(), ReasonCode.MALFORMED_CREDENTIAL),
    ],
)
def test_every_pyjwt_error_maps_to_a_reason(error: PyJWTError, reason: ReasonCode) -> None:
    assert reason_for_pyjwt_error(error) is reason


def _sign_raw(key: SigningKey, payload: bytes, headers: dict[str, Any] | None = None) -> str:
    """A correctly signed JWS over any payload bytes: what PyJWT's JWS layer alone accepts."""
    return PyJWS().encode(
        payload, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})}
    )


def _claims_json(**overrides: Any) -> bytes:
    return json.dumps(token_claims(**overrides)).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[1, 2, 3]", MALFORMED),
        (b'"a string"', MALFORMED),
        (b"null", MALFORMED),
        (b"{not json", MALFORMED),
        (b"\xff\xfe", MALFORMED),
        (b"[" * 100_000 + b"]" * 100_000, MALFORMED),
        (_claims_json(iss=None), ReasonCode.BAD_ISSUER),
        (_claims_json(iss="https://evil.example.com"), ReasonCode.BAD_ISSUER),
        (_claims_json(iss=[ISSUER]), ReasonCode.BAD_ISSUER),
        (_claims_json(exp=None), MALFORMED),
        (_claims_json(iat=None), MALFORMED),
        (_claims_json(sub=None), MALFORMED),
    ],
    ids=[
        "array",
        "string",
        "null",
        "not-json",
        "not-utf8",
        "deeply-nested",
        "no-iss",
        "other-iss",
        "iss-list",
        "no-exp",
        "no-iat",
        "no-sub",
    ],
)
def test_signed_payloads_that_are_not_valid_claims_are_refused(
    verifier: JwtVerifier, keys: Keys, payload: bytes, reason: ReasonCode
) -> None:
    """The signature verifies, so only this server's own claim checks stand in the way."""
    with pytest.raises(AuthError) as info:
        verifier.verify(_sign_raw(keys.rsa, payload))
    assert info.value.reason is reason


@pytest.mark.parametrize(
    "headers",
    [{"b64": False, "crit": ["b64"]}, {"b64": False}, {"crit": ["exp"]}, {"crit": "b64"}],
    ids=["detached-payload", "b64-not-critical", "unknown-critical", "crit-not-a-list"],
)
def test_jws_header_extensions_are_refused(
    verifier: JwtVerifier, keys: Keys, headers: dict[str, Any]
) -> None:
    with pytest.raises(AuthError) as info:
        verifier.verify(_sign_raw(keys.rsa, _claims_json(), headers))
    assert info.value.reason is MALFORMED


@pytest.mark.parametrize(
    ("token", "canonical"),
    [
        ("eyJh.eyJz.c2ln", True),
        ("eyJh.eyJz.c2lnAA", True),  # 2 spare characters, low 4 bits zero
        ("eyJh.eyJz.c2lnAB", False),  # same bytes as "AA" once decoded: refused
        ("eyJh.eyJz.c2lnAAF", False),  # 3 spare characters, low 2 bits set
        ("eyJh.eyJz.c2lnAAE", True),
        ("eyJh.eyJz.c2ln==", False),  # padding
        ("eyJh.eyJz.c2lnA", False),  # a length no base64 has
        ("eyJh.eyJz.c2l+", False),  # base64, not base64url
        ("eyJh.eyJz.", True),  # empty: refused later for its algorithm (none), not here
    ],
)
def test_only_the_canonical_spelling_of_a_signature_is_accepted(token: str, canonical: bool) -> None:
    """RFC 7515 §2: base64url without padding; decoders ignore padding and spare bits, we do not."""
    from app.auth.jwt_verifier import has_canonical_signature

    assert has_canonical_signature(token) is canonical


def test_any_respelling_of_a_valid_jwt_is_refused(verifier: JwtVerifier, keys: Keys) -> None:
    """Header and payload are covered by the signature input; the signature by the check above."""
    token = mint(keys.rsa, token_claims())
    verifier.verify(token)
    header, payload, signature = token.split(".")
    respelled = [
        f"{header}=.{payload}.{signature}",
        f"{header}.{payload}==.{signature}",
        f"{header}.{payload}.{signature}==",
    ]
    for variant in respelled:
        with pytest.raises(AuthError):
            verifier.verify(variant)
