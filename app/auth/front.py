"""Where the authorization front lives, derived from the MCP URL, so every function agrees.

The front (the OAuth authorization server in `app/oauth/`) is served by the same API as `/mcp`,
beside it: `https://h/prod/mcp` has the front `https://h/prod/oauth`. The authorizer trusts the
tokens that issuer signs, the MCP function names it in its protected-resource metadata, and the
front signs with it as `iss`. Deriving it from one value (the MCP URL) means none of the three
can name a different front than the others.

Discovery (RFC 8414 §3.1, OpenID Connect Discovery §4): a client with an issuer whose path is
`/prod/oauth` tries `/.well-known/oauth-authorization-server/prod/oauth`, then
`/.well-known/openid-configuration/prod/oauth`, then `/prod/oauth/.well-known/openid-configuration`
at the host root. On an execute-api URL with a stage only the last form is routable; on a custom
domain mapped at the root (no stage in the path) all of them are.
"""

from __future__ import annotations

from typing import Final

MCP_PATH: Final = "/mcp"
FRONT_PATH: Final = "/oauth"

# Paths relative to the API's root (inside the stage), as API Gateway routes them.
AUTHORIZATION_SERVER_METADATA_PATHS: Final = (
    f"/.well-known/oauth-authorization-server{FRONT_PATH}",
    f"/.well-known/openid-configuration{FRONT_PATH}",
    f"{FRONT_PATH}/.well-known/oauth-authorization-server",
    f"{FRONT_PATH}/.well-known/openid-configuration",
)
JWKS_PATH: Final = f"{FRONT_PATH}/jwks.json"
REGISTER_PATH: Final = f"{FRONT_PATH}/register"
AUTHORIZE_PATH: Final = f"{FRONT_PATH}/authorize"
CONSENT_PATH: Final = f"{FRONT_PATH}/consent"
CALLBACK_PATH: Final = f"{FRONT_PATH}/callback"
TOKEN_PATH: Final = f"{FRONT_PATH}/token"
REVOKE_PATH: Final = f"{FRONT_PATH}/revoke"


def front_issuer(mcp_url: str) -> str:
    """The front's issuer for `mcp_url`: its last `/mcp` segment replaced by `/oauth`.

    Raises ValueError when `mcp_url` does not end in `/mcp` (the settings that carry it check
    that first, with a message naming the setting).
    """
    if not mcp_url.endswith(MCP_PATH):
        raise ValueError("the MCP URL must end in /mcp")
    return mcp_url[: -len(MCP_PATH)] + FRONT_PATH


def front_jwks_url(mcp_url: str) -> str:
    """Where the front publishes the public keys of the tokens it signs."""
    return front_issuer(mcp_url) + JWKS_PATH.removeprefix(FRONT_PATH)
