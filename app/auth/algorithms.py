"""The JWS algorithms this server can accept, and its default base scope.

Dependency-free on purpose: `app.core.config` needs these constants at import, and importing them
from `app.auth.jwt_settings` would build its dataclass on every cold start of the MCP function,
which never verifies a token itself.
"""

from __future__ import annotations

from typing import Final

ASYMMETRIC_ALGORITHMS: Final[tuple[str, ...]] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
"""Every JWS algorithm this server can accept. HS* and ``none`` are never among them: an
HMAC key would have to be shared with the issuer, and the classic key-confusion attack feeds
the issuer's *public* key to an HMAC verifier as the secret."""

DEFAULT_BASE_SCOPE: Final = "mcp/access"
"""The scope every caller must hold unless `OAUTH_BASE_SCOPE` names another."""
