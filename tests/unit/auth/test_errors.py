"""Reason codes and AuthError: stable values, status mapping, safe messages."""

from __future__ import annotations

import pickle

import pytest

from app.auth.errors import AuthError, ReasonCode

DOCUMENTED = [
    "missing_credential",
    "malformed_credential",
    "header_too_large",
    "unsupported_scheme",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "bad_issuer",
    "bad_audience",
    "bad_signature",
    "unknown_kid",
    "algorithm_not_allowed",
    "jwks_unavailable",
    "wrong_token_use",
    "client_not_allowed",
    "unknown_key",
    "revoked_key",
    "expired_key",
    "bad_secret",
    "key_store_unavailable",
    "key_store_invalid",
    "missing_scope",
    "insufficient_scope",
    "missing_tenant",
    "invalid_tenant",
    "wrong_server",
    "unknown_server",
    "jwt_not_configured",
    "settings_unavailable",
    "internal_error",
]


def test_reason_values_are_the_documented_ones() -> None:
    assert [reason.value for reason in ReasonCode] == DOCUMENTED
    assert ReasonCode("missing_scope") is ReasonCode.MISSING_SCOPE
    assert str(ReasonCode.EXPIRED) == "expired"
    assert f"{ReasonCode.BAD_SECRET}" == "bad_secret"


@pytest.mark.parametrize("reason", list(ReasonCode))
def test_status_is_403_only_for_missing_scope_and_tenant(reason: ReasonCode) -> None:
    error = AuthError(reason)
    forbidden = {ReasonCode.MISSING_SCOPE, ReasonCode.MISSING_TENANT, ReasonCode.INVALID_TENANT}
    assert error.status == (403 if reason in forbidden else 401)
    assert str(error).startswith(f"{reason.value}: ")
    assert error.description in str(error)
    assert repr(error) == f"AuthError(reason={reason.value!r}, status={error.status})"


def test_detail_is_appended_and_the_error_pickles() -> None:
    error = AuthError(ReasonCode.JWKS_UNAVAILABLE, "TimeoutError")
    assert str(error).endswith("(TimeoutError)")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.reason, copy.detail, str(copy)) == (error.reason, error.detail, str(error))
