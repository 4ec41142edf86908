"""Where the front may send a browser back to: redirect URI validation and matching.

An authorization server that redirects to a URI it did not check is an open redirector, and one
that redirects an authorization code to the wrong place hands the user's grant to an attacker.
So redirect URIs are checked twice:

* when a client is registered (RFC 7591) or its metadata document is read (CIMD), every URI must
  be a shape a real client uses: ``https`` with a host, ``http`` only on a loopback literal (RFC
  8252 §7.3, §8.3), or a private-use scheme in reverse-DNS form (RFC 8252 §7.1); never a fragment
  (RFC 6749 §3.1.2), userinfo, ``javascript:``/``data:``/``file:``, or anything a browser might
  parse differently from this code (backslashes, spaces, control or non-ASCII characters, bad
  percent-escapes);
* when ``/authorize`` names one, it must equal a registered URI character for character (RFC 6749
  §3.1.2.3, RFC 9700 §4.1.3), with one exception: for an ``http`` loopback URI the port may differ,
  because a native client listens on a port the OS picks at run time (RFC 8252 §7.3). Host, path and
  query still match exactly: ``127.0.0.1`` never becomes ``localhost`` or ``[::1]``.

Matching works on the raw strings, not on a parser's normalised view, so two URIs a browser could
resolve differently can never compare equal here. Error messages never repeat the URI: it comes
from an untrusted client and may end up in a page or a log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = [
    "MAX_REDIRECT_URI_LENGTH",
    "RedirectUriError",
    "find_redirect_uri",
    "is_loopback_redirect",
    "redirect_uri_matches",
    "validate_redirect_uri",
]

MAX_REDIRECT_URI_LENGTH: Final = 2000
"""Longest redirect URI accepted; real ones are well under a few hundred characters."""

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "[::1]", "localhost"})
"""The loopback host literals of RFC 8252 §7.3 (IP literals) and §8.3 (``localhost``, allowed)."""

# RFC 3986 §2: unreserved, reserved and '%'. Everything else (space, '"', '<', '>', '\', '^', '`',
# '{', '|', '}', control and non-ASCII characters) is refused: browsers repair such URIs in ways
# that differ from each other and from this code (a '\' is a '/' to a browser in an https URL).
_URI_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Scheme, lowercase only: comparison is by exact string, so one spelling per scheme.
_SCHEME: Final = re.compile(r"([a-z][a-z0-9+.\-]*):")
# https authority: a DNS name or an IP literal, an optional port; no userinfo, no percent-escapes.
_DNS_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOST: Final = rf"(?:{_DNS_LABEL}(?:\.{_DNS_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
_PORT: Final = r"(?::(?P<port>[1-9][0-9]{0,4}))?"
_HTTPS: Final = re.compile(rf"https://(?P<host>{_HOST}){_PORT}(?P<rest>[/?][^#]*)?")
_MAX_PORT: Final = 65535
# http loopback: the host literal, an optional port, then path and query kept verbatim.
_LOOPBACK: Final = re.compile(rf"http://(?P<host>127\.0\.0\.1|\[::1\]|localhost){_PORT}(?P<rest>[/?][^#]*)?")
# Schemes a browser or OS would treat as something other than "deliver to an app".
_REFUSED_SCHEMES: Final = frozenset(
    {"javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ftp", "ws", "wss"}
)


class RedirectUriError(ValueError):
    """A redirect URI is malformed, not allowed, or not registered.

    The message is safe to show to the user and to log: it never contains the URI itself.
    """


def validate_redirect_uri(uri: str) -> None:
    """Refuse a redirect URI a client may not register; return None when it is acceptable.

    Accepted: ``https://host[:port][/path][?query]``; ``http://`` on ``127.0.0.1``, ``[::1]`` or
    ``localhost`` (RFC 8252 §7.3, §8.3); a private-use scheme with a dot, such as
    ``com.example.app:/cb`` (RFC 8252 §7.1). No fragment, no userinfo, at most
    :data:`MAX_REDIRECT_URI_LENGTH` characters.
    """
    if not isinstance(uri, str) or not uri:
        raise RedirectUriError("redirect URI must be a non-empty string")
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise RedirectUriError(f"redirect URI is longer than {MAX_REDIRECT_URI_LENGTH} characters")
    if _URI_CHARACTERS.fullmatch(uri) is None:
        raise RedirectUriError(
            "redirect URI contains characters not allowed in a URI (spaces, '\\', controls)"
        )
    if _BAD_PERCENT.search(uri):
        raise RedirectUriError("redirect URI contains a malformed percent-escape")
    if "#" in uri:
        raise RedirectUriError("redirect URI must not contain a fragment (RFC 6749 §3.1.2)")
    scheme_match = _SCHEME.match(uri)
    if scheme_match is None:
        raise RedirectUriError("redirect URI must be absolute, with a lowercase scheme")
    scheme = scheme_match.group(1)
    if scheme == "https":
        if not _port_ok(_HTTPS.fullmatch(uri)):
            raise RedirectUriError("https redirect URI needs a valid host and port, and no userinfo")
        return
    if scheme == "http":
        if not _port_ok(_LOOPBACK.fullmatch(uri)):
            raise RedirectUriError(
                "http redirect URIs are allowed only on a loopback host: 127.0.0.1, [::1] or localhost "
                "(RFC 8252 §7.3)"
            )
        return
    if scheme in _REFUSED_SCHEMES or "." not in scheme:
        raise RedirectUriError(
            "redirect URI scheme not allowed: use https, http on a loopback host, or a private-use "
            "scheme in reverse-DNS form such as com.example.app (RFC 8252 §7.1)"
        )
    _check_private_use(uri[len(scheme) + 1 :])


def _port_ok(match: re.Match[str] | None) -> bool:
    if match is None:
        return False
    port = match.group("port")
    return port is None or int(port) <= _MAX_PORT


def _check_private_use(rest: str) -> None:
    """A private-use URI must carry something after the scheme and no authority with userinfo."""
    if not rest:
        raise RedirectUriError("private-use redirect URI needs a path")
    if rest.startswith("//"):
        authority = rest[2:].split("/", 1)[0].split("?", 1)[0]
        if "@" in authority:
            raise RedirectUriError("redirect URI must not contain userinfo")


def is_loopback_redirect(uri: str) -> bool:
    """True for a valid ``http`` redirect URI on a loopback host literal (RFC 8252 §7.3).

    Only these get the "any port" exception; an ``https://localhost`` URI is matched exactly.
    """
    return isinstance(uri, str) and len(uri) <= MAX_REDIRECT_URI_LENGTH and _is_valid_loopback(uri)


def _is_valid_loopback(uri: str) -> bool:
    try:
        validate_redirect_uri(uri)
    except RedirectUriError:
        return False
    return _LOOPBACK.fullmatch(uri) is not None


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Whether ``requested`` (from ``/authorize``) is the ``registered`` URI.

    Exact string equality (RFC 6749 §3.1.2.3), except that when ``registered`` is an ``http``
    loopback URI, ``requested`` may name any port or none (RFC 8252 §7.3); the host literal, the
    path and the query must still be identical, character for character. ``requested`` must itself
    be a valid redirect URI.
    """
    try:
        validate_redirect_uri(requested)
        validate_redirect_uri(registered)
    except RedirectUriError:
        return False
    if requested == registered:
        return True
    registered_loopback = _LOOPBACK.fullmatch(registered)
    requested_loopback = _LOOPBACK.fullmatch(requested)
    if registered_loopback is None or requested_loopback is None:
        return False
    return registered_loopback.group("host") == requested_loopback.group("host") and (
        registered_loopback.group("rest") or ""
    ) == (requested_loopback.group("rest") or "")


def find_redirect_uri(registered: Sequence[str], requested: str | None) -> str:
    """The redirect URI to send the browser to, or :class:`RedirectUriError`.

    With ``requested`` absent the client must have exactly one registered URI, which is used (RFC
    6749 §3.1.2.3). Otherwise ``requested`` must match one registered URI under
    :func:`redirect_uri_matches`, and is returned as given (its loopback port may differ from the
    registered one).
    """
    if requested is None:
        if len(registered) == 1:
            return registered[0]
        raise RedirectUriError("redirect_uri is required: the client has more than one registered")
    if any(redirect_uri_matches(candidate, requested) for candidate in registered):
        return requested
    raise RedirectUriError("redirect_uri is not one of the client's registered redirect URIs")
