"""What API Gateway answers a browser on /mcp when ALLOWED_ORIGINS is set: the policy the stack
declares (infra/constructs/mcp_cors.py builds the template from these values) and the emulator
serves.

Two pieces, both API Gateway's own (no function runs), both absent when the list is empty:

- the CORS preflight (OPTIONS /mcp): a MOCK integration, no authorizer ("CORS for REST APIs in
  API Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html;
  an authorizer belongs to a method, and the OPTIONS method has none:
  https://docs.aws.amazon.com/apigateway/latest/api/API_Method.html, `authorizationType`). Its
  `Access-Control-Allow-Origin` is the FIRST allowed origin as a literal, and with several
  origins its response mapping template replaces it with the request's `Origin` when that equals
  one of the others exactly (`$context.responseOverride.header.Access-Control-Allow-Origin`:
  "Override your API's request and response parameters and status codes for REST APIs",
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html).
  That is what aws-cdk's `add_cors_preflight` renders (tests/infra/test_mcp_cors.py reads it
  from the template). Any other origin gets the first one back, which its browser rejects.
- the CORS headers of every gateway response (401 UNAUTHORIZED, 403 ACCESS_DENIED and
  MISSING_AUTHENTICATION_TOKEN, and through DEFAULT_4XX/DEFAULT_5XX 413, 429, 500, 502, 504...:
  types left uncustomized fall back to those, https://docs.aws.amazon.com/apigateway/latest/
  developerguide/supported-gateway-response-types.html). A gateway response cannot vary by
  Origin: its header values are literals or request parameters
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-swagger-extensions-gateway-responses.responseParameters.html) and its templates
  are not run by VTL (https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-gatewayResponse-definition.html). Mapping `method.request.header.Origin` would
  grant every origin, so it is never done. One allowed origin: that origin. Several: `*`, which
  lets any page read what these answers say and nothing more: a fixed message and the public
  challenge (the protected-resource metadata is `*` already), never with credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# A browser MCP client's request headers beyond the safelisted ones: the bearer token, a JSON
# body, the Streamable HTTP transport's protocol version and session id, and the routing headers
# of protocol 2026-07-28. `*` would not cover Authorization (Fetch standard, CORS-preflight fetch).
ALLOW_HEADERS: Final = (
    "Authorization",
    "Content-Type",
    "MCP-Protocol-Version",
    "Mcp-Method",
    "Mcp-Name",
    "Mcp-Session-Id",
)
# What such a client must read on a gateway response: the challenge (where the resource metadata
# is), the session id and the protocol version; app/mcp/cors.py exposes the same on the function's.
EXPOSE_HEADERS: Final = ("WWW-Authenticate", "Mcp-Session-Id", "Mcp-Protocol-Version")
MAX_AGE_SECONDS: Final = 3600


@dataclass(frozen=True)
class McpCors:
    """The /mcp CORS policy for the allowed origins, in order (the first one is the literal)."""

    origins: tuple[str, ...] = ()

    def preflight_headers(self, methods: Sequence[str], origin: str | None) -> dict[str, str]:
        """The MOCK preflight's headers for a request from `origin`: its literals, then the override."""
        allow_origin = self.origins[0]
        if origin is not None and origin in self.origins[1:]:
            allow_origin = origin
        return {
            "Access-Control-Allow-Headers": ",".join(ALLOW_HEADERS),
            "Access-Control-Allow-Origin": allow_origin,
            "Vary": "Origin",
            "Access-Control-Allow-Methods": ",".join(methods),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        }

    def gateway_response_headers(self) -> dict[str, str]:
        """The CORS headers every gateway response carries (none without allowed origins)."""
        if not self.origins:
            return {}
        exposed = {"Access-Control-Expose-Headers": ",".join(EXPOSE_HEADERS)}
        if len(self.origins) == 1:
            return {"Access-Control-Allow-Origin": self.origins[0], "Vary": "Origin", **exposed}
        return {"Access-Control-Allow-Origin": "*", **exposed}
