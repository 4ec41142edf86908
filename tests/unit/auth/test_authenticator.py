"""The Authenticator: routing, configuration gaps, base scope, and "only AuthError escapes"."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.api_keys import KeyStore
from app.auth.authenticator import Authenticator
from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier
from app.auth.principal import Principal

from .conftest import Keys
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
    mint,
)


def refusal(authenticator: Authenticator, header: str | None) -> AuthError:
    with pytest.raises(AuthError) as info:
        authenticator.authenticate(header)
    return info.value


def test_jwt_and_api_key_both_authenticate(
    authenticator: Authenticator, keys: Keys, api_keys: ApiKeys
) -> None:
    jwt_principal = authenticator.authenticate(f"Bearer {mint(keys.rsa)}")
    assert jwt_principal.auth_method == "jwt"
    key_principal = authenticator.authenticate(f"Bearer {api_keys.valid}")
    assert key_principal.auth_method == "api_key"
    assert key_principal.subject == "apikey:ci-bot"


def test_without_a_jwt_verifier_jwts_are_not_configured(
    api_keys: ApiKeys, keys: Keys, clock: FakeClock
) -> None:
    api_key_only = Authenticator(None, lambda: api_keys.store, BASE_SCOPE, clock)
    assert refusal(api_key_only, f"Bearer {mint(keys.rsa)}").reason is ReasonCode.JWT_NOT_CONFIGURED
    assert api_key_only.authenticate(f"Bearer {api_keys.valid}").auth_method == "api_key"


def test_without_a_key_store_api_keys_are_unknown(
    verifier: JwtVerifier, api_keys: ApiKeys, clock: FakeClock
) -> None:
    jwt_only = Authenticator(verifier, None, BASE_SCOPE, clock)
    assert refusal(jwt_only, f"Bearer {api_keys.valid}").reason is ReasonCode.UNKNOWN_KEY
    assert refusal(jwt_only, "Bearer mcpk_short").reason is ReasonCode.MALFORMED_CREDENTIAL


def test_failing_key_store_is_unavailable_and_not_read_for_malformed_keys(
    verifier: JwtVerifier, api_keys: ApiKeys, clock: FakeClock
) -> None:
    calls: list[int] = []

    def broken_loader() -> KeyStore:
        calls.append(1)
        raise TimeoutError("secrets manager")

    auth = Authenticator(verifier, broken_loader, BASE_SCOPE, clock)
    error = refusal(auth, f"Bearer {api_keys.valid}")
    assert error.reason is ReasonCode.KEY_STORE_UNAVAILABLE
    assert error.detail == "TimeoutError"
    assert refusal(auth, "Bearer mcpk_0123").reason is ReasonCode.MALFORMED_CREDENTIAL
    assert len(calls) == 1


def test_api_key_expiry_uses_the_injected_clock(
    authenticator: Authenticator, api_keys: ApiKeys, clock: FakeClock
) -> None:
    assert authenticator.authenticate(f"Bearer {api_keys.valid}").key_id is not None
    clock.now = 0  # before the expired key's expiry
    assert authenticator.authenticate(f"Bearer {api_keys.expired}").subject == "apikey:temp-bot"


def test_missing_base_scope_is_403(authenticator: Authenticator, keys: Keys) -> None:
    from .helpers import token_claims

    error = refusal(authenticator, f"Bearer {mint(keys.rsa, token_claims(scope='tools:read'))}")
    assert error.reason is ReasonCode.MISSING_SCOPE
    assert error.status == 403


def test_no_base_scope_means_none_required(verifier: JwtVerifier, keys: Keys, clock: FakeClock) -> None:
    from .helpers import token_claims

    open_auth = Authenticator(verifier, None, None, clock)
    principal = open_auth.authenticate(f"Bearer {mint(keys.rsa, token_claims(scope=None))}")
    assert principal.scopes == frozenset()


def test_invalid_base_scope_is_a_configuration_error(verifier: JwtVerifier) -> None:
    with pytest.raises(ValueError, match="OAUTH_BASE_SCOPE"):
        Authenticator(verifier, None, "two scopes", lambda: NOW)


def test_unexpected_exception_becomes_internal_error(keys: Keys, clock: FakeClock) -> None:
    class ExplodingVerifier(JwtVerifier):
        def verify(self, token: str) -> Principal:
            raise ZeroDivisionError(token)  # a bug that even quotes the token

    settings_ = JwtSettings(issuer=ISSUER, audiences=(MCP_URL,), jwks_url=JWKS_URL)
    exploding = ExplodingVerifier(settings_, JwksCache(settings_, fetch_json=FakeFetcher()))
    token = mint(keys.rsa)
    error = refusal(Authenticator(exploding, None, BASE_SCOPE, clock), f"Bearer {token}")
    assert error.reason is ReasonCode.INTERNAL_ERROR
    assert error.detail == "ZeroDivisionError"
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert token not in str(error)
    assert token not in repr(error)


# --- property: arbitrary headers never yield a principal and never raise anything else ---------

_B64TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_headers = st.one_of(
    st.none(),
    st.text(),
    st.text(max_size=50).map(lambda s: "Bearer " + s),
    st.text(alphabet=_B64TOKEN_CHARS, min_size=1).map(lambda s: "Bearer " + s),
    st.lists(st.text(alphabet=_B64TOKEN_CHARS, min_size=1, max_size=40), min_size=1, max_size=4).map(
        lambda parts: "Bearer " + ".".join(parts)
    ),
    st.from_regex(r"\ABearer mcpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\Z"),
    st.from_regex(r"\ABearer eyJ[A-Za-z0-9_-]{2,60}\.eyJ[A-Za-z0-9_-]{2,60}\.[A-Za-z0-9_-]{0,60}\Z"),
    st.binary(max_size=200).map(lambda b: "Bearer " + b.decode("latin-1")),
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_headers)
def test_arbitrary_headers_only_ever_raise_auth_error(
    keys: Keys, api_keys: ApiKeys, jwks_document: dict[str, Any], header: str | None
) -> None:
    fetcher = FakeFetcher({JWKS_URL: jwks_document})
    jwt_settings = JwtSettings(
        issuer=ISSUER,
        audiences=(MCP_URL,),
        allowed_client_ids=(COGNITO_CLIENT_ID,),
        jwks_url=JWKS_URL,
        jwks_refresh_min_interval_seconds=0,  # let every unknown kid reach the fetcher too
    )
    clock = FakeClock(NOW)
    verifier = JwtVerifier(jwt_settings, JwksCache(jwt_settings, fetch_json=fetcher), clock=clock)
    authenticator = Authenticator(verifier, lambda: api_keys.store, BASE_SCOPE, clock)
    # Any other exception type propagates and fails the test; a returned principal fails too.
    with pytest.raises(AuthError) as info:
        authenticator.authenticate(header)
    assert info.value.status in (401, 403)
    assert info.value.reason is not ReasonCode.INTERNAL_ERROR, "a parser path raised an unexpected exception"
