"""Whether the gateway's 401/403 challenges name a `resource_metadata` URL (issue 14, several servers).

Gateway responses belong to the API, not to a route, and their headers are literals or request
parameters ("Gateway responses for REST APIs", https://docs.aws.amazon.com/apigateway/latest/
developerguide/api-gateway-gatewayResponse-definition.html), so one WWW-Authenticate literal
answers for every server's path. With ONE server it names that server's metadata, as it always
has. With SEVERAL it could name only one server's metadata, which would send a client of another
server to the wrong resource (RFC 9728 §3.3: the client rejects metadata whose `resource` is not
the URL it called). So it names none, and clients discover each server's metadata at the
path-inserted well-known URL (RFC 9728 §3.1, `/.well-known/oauth-protected-resource/<name>/mcp`),
as the mcp SDK client does (client/auth/utils.py, build_protected_resource_metadata_discovery_urls)
— except where that URL is not routable: on an execute-api URL the stage comes first
(`/prod/...`), so the host-root well-known URLs answer 403, and the primary server's metadata is
named so that at least its clients still find it (other servers need CUSTOM_DOMAIN_NAME; synth
warns). The local stack (devtools/gateway.py) has no stage prefix: it applies this rule with
`root_well_known_routable=True`; a test keeps the two copies of the rule equal.
"""

from __future__ import annotations


def challenge_names_resource_metadata(server_count: int, *, root_well_known_routable: bool) -> bool:
    """True: the 401 and 403 carry the primary server's `resource_metadata`; False: they omit it."""
    return server_count == 1 or not root_well_known_routable
