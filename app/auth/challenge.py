"""`WWW-Authenticate` challenges (RFC 6750 §3, RFC 9728 §5.1, MCP authorization).

One function builds every challenge this project sends, so the MCP Lambda, the local gateway
emulator and (by the same rules, in CDK) the API Gateway gateway responses say the same thing:

- 401, no credential sent:  Bearer resource_metadata="…", scope="<base>"
- 401, a credential sent:   Bearer error="invalid_token", resource_metadata="…", scope="<base>"
- 403, scope missing:       Bearer error="insufficient_scope", scope="<needed>", resource_metadata="…"

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
    resource_metadata_url: str,
    scopes: Iterable[str],
    error: ChallengeError | None = None,
) -> str:
    """The header value for a 401 (`error` None or invalid_token) or 403 (insufficient_scope)."""
    scope = " ".join(sorted(set(scopes)))
    parts: list[str] = []
    if error is not None:
        parts.append(f"error={_quoted(error)}")
    if error == "insufficient_scope":
        parts.append(f"scope={_quoted(scope)}")
        parts.append(f"resource_metadata={_quoted(resource_metadata_url)}")
    else:
        parts.append(f"resource_metadata={_quoted(resource_metadata_url)}")
        if scope:
            parts.append(f"scope={_quoted(scope)}")
    return "Bearer " + ", ".join(parts)
