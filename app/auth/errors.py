"""Why a credential was refused, as a closed set of reason codes.

The authorizer answers every refusal the same way to the client (API Gateway turns it into a
401 or 403 gateway response), so the reason code is for operators: it goes into the audit
event and the logs. It is an enum rather than free text so that dashboards and alarms can
count refusals by cause, and so that no code path can smuggle credential material into a
message: an :class:`AuthError` is built from a reason code and, optionally, a short detail
that the code itself chose (an exception *type* name, never an exception message).
"""

from __future__ import annotations

from enum import StrEnum, auto
from typing import Final

__all__ = ["FORBIDDEN_REASONS", "AuthError", "ReasonCode"]


class ReasonCode(StrEnum):
    """Machine-readable cause of an authentication or authorization refusal.

    Values are the lower-case member names (``ReasonCode.EXPIRED == "expired"``), stable
    across releases because they appear in audit logs and metric dimensions.
    """

    # The Authorization header itself.
    MISSING_CREDENTIAL = auto()
    MALFORMED_CREDENTIAL = auto()
    HEADER_TOO_LARGE = auto()
    UNSUPPORTED_SCHEME = auto()
    # JWT claims and signature.
    EXPIRED = auto()
    NOT_YET_VALID = auto()
    ISSUED_IN_FUTURE = auto()
    BAD_ISSUER = auto()
    BAD_AUDIENCE = auto()
    BAD_SIGNATURE = auto()
    UNKNOWN_KID = auto()
    ALGORITHM_NOT_ALLOWED = auto()
    JWKS_UNAVAILABLE = auto()
    WRONG_TOKEN_USE = auto()
    CLIENT_NOT_ALLOWED = auto()
    # API keys.
    UNKNOWN_KEY = auto()
    REVOKED_KEY = auto()
    EXPIRED_KEY = auto()
    BAD_SECRET = auto()
    KEY_STORE_UNAVAILABLE = auto()
    KEY_STORE_INVALID = auto()
    # Authorization and configuration.
    MISSING_SCOPE = auto()
    INSUFFICIENT_SCOPE = auto()
    # Tenants (MULTI_TENANT=true): the credential names no tenant, or not a valid one.
    MISSING_TENANT = auto()
    INVALID_TENANT = auto()
    # Several servers behind one API (docs/servers.md): the credential is valid, but not for the
    # server the request is for (a token's aud, an API key's `servers`); or the request is for a
    # path no server of the authorizer's tool-scopes document is served at.
    WRONG_SERVER = auto()
    UNKNOWN_SERVER = auto()
    JWT_NOT_CONFIGURED = auto()
    SETTINGS_UNAVAILABLE = auto()
    INTERNAL_ERROR = auto()


_DESCRIPTIONS: Final[dict[ReasonCode, str]] = {
    ReasonCode.MISSING_CREDENTIAL: "no credential: send 'Authorization: Bearer <token or API key>'",
    ReasonCode.MALFORMED_CREDENTIAL: (
        "the credential is malformed: send exactly 'Bearer', one space and one token"
    ),
    ReasonCode.HEADER_TOO_LARGE: "the Authorization header is larger than 8192 bytes",
    ReasonCode.UNSUPPORTED_SCHEME: "unsupported authorization scheme: only 'Bearer' is accepted",
    ReasonCode.EXPIRED: "the token has expired: obtain a new one",
    ReasonCode.NOT_YET_VALID: "the token is not valid yet (nbf): check the clocks",
    ReasonCode.ISSUED_IN_FUTURE: "the token was issued in the future (iat): check the clocks",
    ReasonCode.BAD_ISSUER: "the token was issued by an issuer this server does not trust",
    ReasonCode.BAD_AUDIENCE: "the token was issued for another resource (aud): request one for this server",
    ReasonCode.BAD_SIGNATURE: "the token signature does not verify",
    ReasonCode.UNKNOWN_KID: "the token is signed with a key the issuer does not publish (kid)",
    ReasonCode.ALGORITHM_NOT_ALLOWED: "the token signature algorithm is not allowed",
    ReasonCode.JWKS_UNAVAILABLE: "the issuer's signing keys (JWKS) could not be fetched",
    ReasonCode.WRONG_TOKEN_USE: "an access token is required (not an ID token)",
    ReasonCode.CLIENT_NOT_ALLOWED: "the token was issued to a client this server does not accept",
    ReasonCode.UNKNOWN_KEY: "no such API key",
    ReasonCode.REVOKED_KEY: "the API key has been revoked",
    ReasonCode.EXPIRED_KEY: "the API key has expired",
    ReasonCode.BAD_SECRET: "the API key secret is wrong",
    ReasonCode.KEY_STORE_UNAVAILABLE: "the API key store could not be read",
    ReasonCode.KEY_STORE_INVALID: "the API key store is not a valid key store document",
    ReasonCode.MISSING_SCOPE: "the credential lacks a scope this server requires",
    ReasonCode.INSUFFICIENT_SCOPE: "the credential lacks a scope the named tool, prompt or resource requires",
    ReasonCode.MISSING_TENANT: "the credential names no tenant, and this server requires one",
    ReasonCode.INVALID_TENANT: (
        "the credential's tenant is not a valid tenant id, or it names several tenants"
    ),
    ReasonCode.WRONG_SERVER: (
        "the credential is for another MCP server of this API: request a token for this server's "
        "resource URL, or an API key that names this server"
    ),
    ReasonCode.UNKNOWN_SERVER: "the request is for a path no MCP server of this API is served at",
    ReasonCode.JWT_NOT_CONFIGURED: "JWTs are not accepted here: no OAuth issuer is configured",
    ReasonCode.SETTINGS_UNAVAILABLE: "the server's settings (SSM) could not be read",
    ReasonCode.INTERNAL_ERROR: "internal error while checking the credential",
}


# The caller proved who it is but may not pass: a missing base scope, or (MULTI_TENANT) no valid
# tenant. Signing in again as the same caller cannot help, so these are 403, not 401.
FORBIDDEN_REASONS: Final = frozenset(
    {ReasonCode.MISSING_SCOPE, ReasonCode.MISSING_TENANT, ReasonCode.INVALID_TENANT}
)


class AuthError(Exception):
    """A refused credential.

    Attributes:
        reason: the :class:`ReasonCode`.
        status: the HTTP status the refusal maps to: 403 for ``missing_scope`` (the caller
            is known but may not do this: RFC 6750 ``insufficient_scope``) and for
            ``missing_tenant``/``invalid_tenant``, 401 otherwise.
        detail: an optional operator hint chosen by the raising code (for example the type
            name of an unexpected exception). It is never derived from the credential.

    The message is the fixed description of the reason code (plus ``detail``): it can never
    contain the credential or any part of it, so an ``AuthError`` may be logged as it is.
    Callers raise it ``from None`` when wrapping library errors whose messages might quote
    token content, so the traceback does not carry that content either.
    """

    def __init__(self, reason: ReasonCode, detail: str | None = None) -> None:
        self.reason: ReasonCode = ReasonCode(reason)
        self.detail: str | None = detail
        # args stay (reason, detail) so the error pickles and copies faithfully.
        super().__init__(self.reason, detail)

    def __str__(self) -> str:
        message = f"{self.reason.value}: {_DESCRIPTIONS[self.reason]}"
        return f"{message} ({self.detail})" if self.detail else message

    @property
    def status(self) -> int:
        """HTTP status for this refusal: 403 for a known caller who may not pass, else 401."""
        return 403 if self.reason in FORBIDDEN_REASONS else 401

    @property
    def description(self) -> str:
        """The fixed human description of the reason, without the code or the detail."""
        return _DESCRIPTIONS[self.reason]

    def __repr__(self) -> str:
        return f"AuthError(reason={self.reason.value!r}, status={self.status})"
