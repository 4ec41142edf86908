"""`WWW-Authenticate` challenges (RFC 6750 §3, RFC 9728 §5.1, MCP authorization).

One function builds every challenge this project sends, so the MCP Lambda, the local gateway
emulator and (by the same rules, in CDK) the API Gateway gateway responses say the same thing:

- 401, no credential sent:  Bearer resource_metadata="…", scope="<base>"
- 401, a credential sent:   Bearer error="invalid_token", resource_metadata="…", scope="<base>"
- 403, scope missing:       Bearer error="insufficient_scope", scope="<needed>", resource_metadata="…"

`resource_metadata` is left out when the URL is None: a gateway in front of several MCP servers
answers for all of them with one literal, which can't name each one's metadata (docs/servers.md);
clients then find it at the path-inserted well-known URL (RFC 9728 §3.1).

RFC 6750 §3.1 says not to include an error code when the request had no credential at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

ChallengeError = Literal["invalid_token", "insufficient_scope"]


def _quoted(value: str) -> str:
    # Scope tokens and URLs never contain quotes or backslashes; strip them defensively.
    return '"' + value.replace("\\", "").replace('"', "") + '"'


def www_authenticate(
    resource_metadata_url: str | None,
    scopes: Iterable[str],
    error: ChallengeError | None = None,
) -> str:
    """The header value for a 401 (`error` None or invalid_token) or 403 (insufficient_scope)."""
    scope = " ".join(sorted(set(scopes)))
    parts: list[str] = []
    if error is not None:
        parts.append(f"error={_quoted(error)}")
    metadata = [f"resource_metadata={_quoted(resource_metadata_url)}"] if resource_metadata_url else []
    if error == "insufficient_scope":
        parts.append(f"scope={_quoted(scope)}")
        parts.extend(metadata)
    else:
        parts.extend(metadata)
        if scope:
            parts.append(f"scope={_quoted(scope)}")
    return "Bearer " + ", ".join(parts)
