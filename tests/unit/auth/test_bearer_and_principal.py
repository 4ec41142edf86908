"""The Authorization header parser and the Principal's round trip through API Gateway.

The Principal's context is what API Gateway caches with an Allow and hands to the MCP Lambda,
so the tests pin every key it carries: the credential's expiry included (an expired JWT must
not outlive its `exp` through the authorizer cache), and principal names that cannot be
confused between a JWT subject and an API key.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.bearer import MAX_AUTHORIZATION_HEADER_BYTES, extract_bearer
from app.auth.errors import AuthError, ReasonCode
from app.auth.principal import Principal

# --- extract_bearer --------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["abc", "a.b.c", "A-Z_a~z+0/9", "dGVzdA==", "mcpk_0123456789abcdef_" + "x" * 43],
)
def test_valid_bearer_returns_the_token(token: str) -> None:
    assert extract_bearer(f"Bearer {token}") == token


def test_header_of_exactly_the_limit_is_accepted() -> None:
    header = "Bearer " + "a" * (MAX_AUTHORIZATION_HEADER_BYTES - len("Bearer "))
    assert len(header) == MAX_AUTHORIZATION_HEADER_BYTES
    assert extract_bearer(header) == header[7:]
    with pytest.raises(AuthError) as info:
        extract_bearer(header + "a")
    assert info.value.reason is ReasonCode.HEADER_TOO_LARGE


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, ReasonCode.MISSING_CREDENTIAL),
        ("", ReasonCode.MISSING_CREDENTIAL),
        ("Basic abc", ReasonCode.UNSUPPORTED_SCHEME),
        ("Negotiate abc", ReasonCode.UNSUPPORTED_SCHEME),
        ("Basic", ReasonCode.MALFORMED_CREDENTIAL),
        ("bearer abc", ReasonCode.MALFORMED_CREDENTIAL),
        ("BeArEr abc", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer  abc", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer\tabc", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer abc ", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer abc,def", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer a=b", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer =", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer abc\r\n", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer \x00abc", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer abc\ud800", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer:abc", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bear\u0435r abc", ReasonCode.MALFORMED_CREDENTIAL),  # Cyrillic e
        ("\u00a0Bearer abc", ReasonCode.MALFORMED_CREDENTIAL),
        ("Bearer \uff41bc", ReasonCode.MALFORMED_CREDENTIAL),  # fullwidth a
    ],
)
def test_refusals(header: str | None, reason: ReasonCode) -> None:
    with pytest.raises(AuthError) as info:
        extract_bearer(header)
    assert info.value.reason is reason
    assert info.value.status == 401


# --- Principal -------------------------------------------------------------------------

FULL = Principal(
    subject="user-123",
    auth_method="jwt",
    scopes=frozenset({"mcp/access", "b:read", "a/write"}),
    client_id="client-1",
    tenant="tenant-9",
)
API_KEY = Principal(
    subject="apikey:ci-bot", auth_method="api_key", scopes=frozenset(), key_id="0123456789abcdef"
)
EXPIRING_JWT = Principal(
    subject="user-123", auth_method="jwt", scopes=frozenset({"mcp/access"}), expires_at=1_800_000_300
)
EXPIRING_KEY = Principal(
    subject="apikey:temp-bot",
    auth_method="api_key",
    scopes=frozenset({"mcp/access"}),
    key_id="fedcba9876543210",
    expires_at=1_800_003_600,
)


def test_to_context_is_flat_sorted_and_omits_none() -> None:
    assert FULL.to_context() == {
        "principal": "user-123",
        "auth_method": "jwt",
        "scopes": "a/write b:read mcp/access",
        "client_id": "client-1",
        "tenant": "tenant-9",
    }
    assert API_KEY.to_context() == {
        "principal": "apikey:ci-bot",
        "auth_method": "api_key",
        "scopes": "",
        "key_id": "0123456789abcdef",
    }


def test_to_context_carries_the_expiry_as_epoch_seconds() -> None:
    """API Gateway context values are strings, numbers or booleans; this one is a string.

    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
    """
    assert EXPIRING_JWT.to_context()["expires_at"] == "1800000300"
    assert EXPIRING_KEY.to_context()["expires_at"] == "1800003600"
    assert "expires_at" not in API_KEY.to_context()  # a key that never expires


@pytest.mark.parametrize(
    "principal", [FULL, API_KEY, EXPIRING_JWT, EXPIRING_KEY], ids=["jwt", "api-key", "jwt-exp", "key-exp"]
)
def test_round_trip_through_rest_v1_and_http_v2_contexts(principal: Principal) -> None:
    context = principal.to_context()
    rest_v1 = {"principalId": principal.subject, "integrationLatency": 12, **context}
    assert Principal.from_context(rest_v1) == principal
    http_v2_lambda = dict(context)
    assert Principal.from_context(http_v2_lambda) == principal


def test_empty_optional_values_read_as_absent() -> None:
    ctx = {
        "principal": "u",
        "auth_method": "jwt",
        "scopes": "",
        "client_id": "",
        "tenant": None,
        "expires_at": "",
    }
    assert Principal.from_context(ctx) == Principal("u", "jwt", frozenset())


@pytest.mark.parametrize(
    "ctx",
    [
        {},
        {"auth_method": "jwt", "scopes": "a"},
        {"principal": "", "auth_method": "jwt"},
        {"principal": 7, "auth_method": "jwt"},
        {"principal": "u"},
        {"principal": "u", "auth_method": "anonymous"},
        {"principal": "u", "auth_method": "JWT"},
        {"principal": "u", "auth_method": "jwt", "scopes": ["a"]},
        {"principal": "u", "auth_method": "jwt", "scopes": 'a "b"'},
        {"principal": "u", "auth_method": "jwt", "client_id": 5},
    ],
)
def test_from_context_refuses_what_the_authorizer_never_produces(ctx: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="authorizer context"):
        Principal.from_context(ctx)


@pytest.mark.parametrize("value", [1_800_000_300, "1800000300"])
def test_from_context_reads_the_expiry_as_string_or_number(value: object) -> None:
    """REST v1 hands context values on as strings, HTTP API v2 keeps JSON numbers."""
    ctx = {"principal": "u", "auth_method": "jwt", "scopes": "", "expires_at": value}
    assert Principal.from_context(ctx).expires_at == 1_800_000_300


@pytest.mark.parametrize("value", ["soon", "-5", "1.5e9", "12 ", "\uff11", True, 1.5, -1, [1]])
def test_from_context_refuses_an_unreadable_expiry(value: object) -> None:
    """An expiry the MCP Lambda cannot read must not read as "never expires": fail closed."""
    ctx: dict[str, Any] = {"principal": "u", "auth_method": "jwt", "scopes": "", "expires_at": value}
    with pytest.raises(ValueError, match="authorizer context 'expires_at'"):
        Principal.from_context(ctx)


def test_expiry_uses_the_leeway_for_jwts_only() -> None:
    """JWT `exp` tolerates the issuer's clock skew, as the authorizer does; API key expiry is ours.

    At `exp + leeway` the authorizer refuses the token (`exp <= now - leeway`), so the MCP
    Lambda refuses from that instant too, not earlier.
    """
    exp = EXPIRING_JWT.expires_at
    assert exp is not None
    assert not EXPIRING_JWT.is_expired(exp + 29, jwt_leeway_seconds=30)
    assert EXPIRING_JWT.is_expired(exp + 30, jwt_leeway_seconds=30)
    assert EXPIRING_JWT.is_expired(exp, jwt_leeway_seconds=0)
    key_exp = EXPIRING_KEY.expires_at
    assert key_exp is not None
    assert not EXPIRING_KEY.is_expired(key_exp - 1, jwt_leeway_seconds=30)
    assert EXPIRING_KEY.is_expired(key_exp, jwt_leeway_seconds=30)
    assert not API_KEY.is_expired(10**12, jwt_leeway_seconds=30)


@pytest.mark.parametrize("subject", ["apikey:ci-bot", "APIKEY:ci-bot", "ApiKey:x"])
def test_a_jwt_principal_cannot_take_an_api_key_name(subject: str) -> None:
    """`apikey:` names belong to API keys: a JWT `sub` in that form would pose as a key's owner."""
    with pytest.raises(ValueError, match="apikey:"):
        Principal(subject, "jwt", frozenset())
    with pytest.raises(ValueError, match="authorizer context"):
        Principal.from_context({"principal": subject, "auth_method": "jwt", "scopes": ""})


def test_an_api_key_principal_is_always_named_apikey() -> None:
    with pytest.raises(ValueError, match="apikey:"):
        Principal("ci-bot", "api_key", frozenset(), key_id="0123456789abcdef")
    assert Principal.api_key_name("ci-bot") == "apikey:ci-bot"


def test_from_context_refuses_a_non_mapping() -> None:
    with pytest.raises(ValueError, match="authorizer context"):
        Principal.from_context(["principal"])  # type: ignore[arg-type]


def test_has_scopes() -> None:
    assert FULL.has_scopes(["mcp/access"])
    assert FULL.has_scopes(["mcp/access", "b:read"])
    assert FULL.has_scopes([])
    assert not FULL.has_scopes(["mcp/access", "admin"])
    assert not API_KEY.has_scopes(["mcp/access"])


def test_summary_is_json_ready() -> None:
    assert API_KEY.summary() == {
        "principal": "apikey:ci-bot",
        "auth_method": "api_key",
        "scopes": [],
        "client_id": None,
        "key_id": "0123456789abcdef",
        "tenant": None,
    }
    assert FULL.summary()["scopes"] == ["a/write", "b:read", "mcp/access"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject": ""},
        {"auth_method": "anonymous"},
        {"scopes": frozenset({"has space"})},
        {"scopes": {"mutable"}},
        {"client_id": ""},
        {"expires_at": -1},
        {"expires_at": 1.5},
        {"expires_at": True},
        {"expires_at": "1800000000"},
    ],
)
def test_principal_refuses_invalid_fields(kwargs: dict[str, Any]) -> None:
    values: dict[str, Any] = {"subject": "u", "auth_method": "jwt", "scopes": frozenset()}
    values.update(kwargs)
    with pytest.raises((ValueError, TypeError)):
        Principal(**values)
