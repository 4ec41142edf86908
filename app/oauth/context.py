"""What every flow of the front works with, built once per settings version by the handler."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

from app.oauth.cimd import CimdFetcher
from app.oauth.settings import FrontSettings
from app.oauth.signer import KmsSigner
from app.oauth.store import FrontStore
from app.oauth.upstream import UpstreamClient

BROWSER_COOKIE: Final = "mcp_oauth_browser"
# On https the cookie carries the `__Host-` prefix: a browser accepts it only with Secure,
# Path=/ and no Domain, so a sibling host (another API under the same parent domain) cannot
# plant a value of its choosing ("cookie tossing") and bind a victim's browser to a login the
# attacker started (RFC 6265bis §4.1.3.2, "The __Host- Prefix"). Plain http (the local stack)
# cannot use the prefix and keeps the bare name.
SECURE_BROWSER_COOKIE: Final = "__Host-" + BROWSER_COOKIE
# RFC 7636 §4.1 / §4.2: 43-128 unreserved characters; an S256 challenge is exactly 43 base64url.
_VERIFIER: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_BROWSER_VALUE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class FrontContext:
    settings: FrontSettings
    store: FrontStore
    signer: KmsSigner
    upstream: UpstreamClient
    fetcher: CimdFetcher


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def is_s256_challenge(value: str) -> bool:
    return _CHALLENGE.fullmatch(value) is not None


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6 with S256, compared in constant time."""
    if _VERIFIER.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(s256(verifier), challenge)


def is_browser_value(value: str | None) -> bool:
    return value is not None and _BROWSER_VALUE.fullmatch(value) is not None


def browser_cookie_name(settings: FrontSettings) -> str:
    """The cookie's name: `__Host-` prefixed on https, the bare name on http (local stack)."""
    return SECURE_BROWSER_COOKIE if settings.issuer.startswith("https://") else BROWSER_COOKIE


def browser_cookie(value: str, settings: FrontSettings) -> str:
    """The browser-binding cookie: HttpOnly, SameSite=Lax (sent on the upstream's top-level
    redirect back to the callback), no Domain. On https: `__Host-`, Secure and Path=/ (what the
    prefix demands; the value is random and HttpOnly, so other paths of the API learn nothing).
    On http: Path is the front's own."""
    from urllib.parse import urlsplit

    if settings.issuer.startswith("https://"):
        return f"{SECURE_BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Secure"
    path = urlsplit(settings.issuer).path or "/"
    return f"{BROWSER_COOKIE}={value}; Path={path}; HttpOnly; SameSite=Lax"
