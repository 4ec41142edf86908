"""Example: a tool that calls an upstream API with the SERVER's own credential.

Copy this to call your own backend. The rules it shows:

- The caller's token is never passed through (the MCP authorization spec forbids it): that
  token was issued for THIS server (its audience is `MCP_URL`), not for the upstream API. The
  tool builds its request from scratch with the server's credential only; it never reads the
  incoming request's headers, so the Authorization header API Gateway hands the MCP Lambda
  cannot be forwarded by accident.
- The credential lives in Secrets Manager (`UPSTREAM_SECRET_ID`: a JSON object whose `api_key`
  is the credential, as the stack creates it, or the credential as plain text) and is read through
  `server.settings.upstream_credential()` (Powertools, cached for `CONFIG_CACHE_SECONDS`, so a
  rotated secret is picked up). The upstream URL is a non-secret switch (`UPSTREAM_URL`), read
  at call time.
- Bounded: a timeout (`UPSTREAM_TIMEOUT_SECONDS`), a response size limit, no redirects (a
  redirect would carry the credential to wherever it points), https only (plain http only to
  the local machine, for development).
- Failures are `ToolError`s the model can read; their text names the upstream host and the
  HTTP status or error class, never the credential, the path or the query string.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Final
from urllib.parse import urlsplit

from mcp.server.mcpserver.exceptions import ToolError

from app.core.config import ConfigurationError, read_float
from app.mcp.permissions import ScopedServer

UPSTREAM_SCOPE: Final = "mcp/upstream"
DEFAULT_TIMEOUT_SECONDS: Final = 5.0
MAX_RESPONSE_BYTES: Final = 1024 * 1024
NOT_CONFIGURED: Final = (
    "the upstream API is not configured: set UPSTREAM_URL and UPSTREAM_SECRET_ID (see .env.example)"
)
UNREADABLE_CREDENTIAL: Final = (
    "the upstream credential could not be read: check that the UPSTREAM_SECRET_ID secret exists "
    "and that this function may read it (the function log names the cause)"
)
_LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})

log = logging.getLogger(__name__)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a 3xx becomes an HTTPError instead of a second request."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def register(server: ScopedServer) -> None:
    """Register the `upstream_status` example tool on `server`."""

    @server.tool(title="Upstream API status", scopes=[UPSTREAM_SCOPE])
    def upstream_status() -> dict[str, Any]:
        """Fetch the status document of the upstream API this server is configured with."""
        settings = server.settings
        url = settings.env.get("UPSTREAM_URL", "").strip() if settings is not None else ""
        if settings is None or not url:
            raise ToolError(NOT_CONFIGURED)
        try:
            timeout = read_float(
                settings.env, "UPSTREAM_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS, minimum=0.1
            )
        except ConfigurationError as error:
            raise ToolError(str(error)) from None  # names the setting, never echoes its value
        try:
            credential = settings.upstream_credential()
        except ConfigurationError as error:
            # The operator gets the secret id and the cause; the caller only what to check.
            log.warning("upstream_status: %s", error)
            raise ToolError(UNREADABLE_CREDENTIAL) from None
        if credential is None:
            raise ToolError(NOT_CONFIGURED)
        return fetch_json(url, credential_in(credential), timeout)


def credential_in(secret: str) -> str:
    """The credential a secret holds: its `api_key` field if it is a JSON object, else all of it.

    The stack and the local stack store `{"description": ..., "api_key": ...}`; a plain string
    secret works too. Errors never quote the secret.
    """
    text = secret.strip()
    if not text.startswith("{"):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    value = document.get("api_key") if isinstance(document, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise ToolError(
            'the UPSTREAM_SECRET_ID secret must be a JSON object with a non-empty "api_key" string, '
            "or the credential itself as plain text"
        )
    return value.strip()


def fetch_json(url: str, credential: str, timeout: float) -> dict[str, Any]:
    """GET `url` with `Authorization: Bearer <credential>`; the JSON object it answers."""
    host = _checked_host(url)
    if not credential:
        raise ToolError("the upstream credential is empty: put it in the UPSTREAM_SECRET_ID secret")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        method="GET",
        headers={
            "Authorization": f"Bearer {credential}",
            "Accept": "application/json",
            "User-Agent": "serverless-mcp",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        error.close()
        raise ToolError(f"the upstream API at {host} answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        cause = getattr(error, "reason", None)
        kind = type(cause if isinstance(cause, BaseException) else error).__name__
        raise ToolError(f"the upstream API at {host} could not be reached ({kind})") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise ToolError(f"the upstream API at {host} answered more than {MAX_RESPONSE_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise ToolError(f"the upstream API at {host} did not answer JSON") from None
    if not isinstance(document, dict):
        raise ToolError(f"the upstream API at {host} did not answer a JSON object")
    return document


def _checked_host(url: str) -> str:
    """The host of `url`, if it is safe to send the credential there; ToolError otherwise."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # .port raises ValueError when malformed
    except ValueError:
        raise ToolError("UPSTREAM_URL is not a valid URL") from None
    if not host or parts.username is not None or parts.password is not None:
        raise ToolError("UPSTREAM_URL must be an https:// URL with a host and without user:password@")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOCAL_HOSTS):
        raise ToolError("UPSTREAM_URL must use https:// (plain http is allowed only for 127.0.0.1/localhost)")
    return host
