"""The front's RFC 8414 authorization-server metadata (also served as OpenID discovery).

One document for both well-known forms: MCP clients try the RFC 8414 and the OpenID Connect
discovery URLs in turn (MCP 2025-11-25 authorization, "Authorization Server Metadata
Discovery"). `S256` is the only PKCE method (clients refuse a server that does not say so:
claude-code#35846), CIMD is declared (the SDK client uses a metadata URL only when it is), and
RFC 9207 `iss` in authorization responses is announced.
"""

from __future__ import annotations

from typing import Any

from app.auth.front import AUTHORIZE_PATH, JWKS_PATH, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH
from app.oauth.settings import FrontSettings


def authorization_server_metadata(settings: FrontSettings) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.endpoint(AUTHORIZE_PATH),
        "token_endpoint": settings.endpoint(TOKEN_PATH),
        "jwks_uri": settings.endpoint(JWKS_PATH),
        "revocation_endpoint": settings.endpoint(REVOKE_PATH),
        "scopes_supported": list(settings.scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
    }
    if settings.registration_enabled:
        document["registration_endpoint"] = settings.endpoint(REGISTER_PATH)
    return document
