"""The authorization front Lambda: an OAuth 2.1 authorization server in front of Cognito or any OIDC
provider, for clients that register themselves (client ID metadata documents, dynamic registration)
and listen on loopback redirects. Imports app.core and app.auth only (no MCP SDK, no Starlette)."""
