"""The issuer's signing keys (JWKS): fetched with a bounded timeout, cached per container.

A warm authorizer container verifies many tokens with the same few keys, so keys are cached by
``kid`` for the life of the container (module-level cache object in the handler). The cache is
refreshed when a token names an unknown ``kid`` (the issuer rotated its keys), at most once per
``jwks_refresh_min_interval_seconds``, so forged ``kid`` values cannot turn the authorizer into
a request amplifier against the issuer; and when the keys are older than ``max_age_seconds``, so
a key the issuer withdrew stops being trusted.

Every failure to obtain keys is an :class:`~app.auth.errors.AuthError` with reason
``jwks_unavailable``: the authorizer fails closed and never lets another exception type escape.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPMessage
from typing import IO, Any, Final, TypeAlias

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from app.auth.errors import AuthError, ReasonCode
from app.auth.jwt_settings import ASYMMETRIC_ALGORITHMS, JwtSettings, is_https_or_loopback

__all__ = [
    "MAX_JWKS_RESPONSE_BYTES",
    "Clock",
    "FetchJson",
    "JwksCache",
    "JwksFetchError",
    "JwksKey",
    "fetch_json",
    "parse_jwks",
]

FetchJson: TypeAlias = Callable[[str, float], dict[str, Any]]
"""``fetch_json(url, timeout_seconds) -> JSON object``; any exception means "unavailable"."""
Clock: TypeAlias = Callable[[], float]

MAX_JWKS_RESPONSE_BYTES: Final = 1024 * 1024
"""Largest discovery or JWKS document read. Real ones are a few KiB."""

_DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
_SIGNING_KEY_TYPES: Final = frozenset({"RSA", "EC", "OKP"})
_MIN_RSA_BITS: Final = 2048
_READ_CHUNK: Final = 64 * 1024


class JwksFetchError(Exception):
    """A discovery or JWKS document could not be fetched or is not usable."""


@dataclass(frozen=True, slots=True)
class JwksKey:
    """One usable public signing key from the JWKS.

    Attributes:
        kid: the key id.
        kty: ``RSA``, ``EC`` or ``OKP``.
        crv: the curve for EC/OKP keys, else ``None``.
        alg: the JWK's own ``alg``, if it declares one; a token must then use exactly it.
        key: the ``cryptography`` public key object, passed to ``jwt.decode``.
    """

    kid: str
    kty: str
    crv: str | None
    alg: str | None
    key: Any


def parse_jwks(document: Mapping[str, Any]) -> dict[str, JwksKey]:
    """Turn a JWKS document into usable signing keys by ``kid``; ``JwksFetchError`` if none.

    Skipped, not fatal: entries without a ``kid``, symmetric (``oct``) keys, encryption keys
    (``use`` other than ``sig``), keys whose ``alg`` is not an accepted asymmetric algorithm,
    RSA keys under 2048 bits, and anything :class:`jwt.PyJWK` cannot load. The first entry wins
    when a ``kid`` repeats.
    """
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JwksFetchError("JWKS document has no 'keys' array")
    keys: dict[str, JwksKey] = {}
    for entry in entries:
        parsed = _parse_jwk(entry)
        if parsed is not None and parsed.kid not in keys:
            keys[parsed.kid] = parsed
    if not keys:
        raise JwksFetchError("JWKS document contains no usable signing key")
    return keys


def _parse_jwk(entry: object) -> JwksKey | None:
    if not isinstance(entry, dict):
        return None
    kid, kty, crv, alg, use = (entry.get(name) for name in ("kid", "kty", "crv", "alg", "use"))
    if not isinstance(kid, str) or not kid or kty not in _SIGNING_KEY_TYPES:
        return None
    if use is not None and use != "sig":
        return None
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        return None
    if crv is not None and not isinstance(crv, str):
        return None
    try:
        key = PyJWK(entry).key
    except (PyJWTError, ValueError, TypeError):
        return None
    if kty == "RSA" and getattr(key, "key_size", 0) < _MIN_RSA_BITS:
        return None
    return JwksKey(kid=kid, kty=str(kty), crv=crv, alg=alg, key=key)


class _SafeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL that passes the same https-or-loopback rule."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not is_https_or_loopback(newurl):
            raise urllib.error.URLError("redirect to a URL that is neither https nor loopback")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_json(url: str, timeout: float) -> dict[str, Any]:
    """Default fetcher: GET ``url`` and return its JSON object body.

    The timeout applies to the connection and to each read; the whole read is also checked
    against a deadline of ``timeout`` seconds, so a server trickling bytes is cut off after
    roughly twice the timeout at worst. The body must be declared JSON (``application/json``
    or ``*+json``), be at most :data:`MAX_JWKS_RESPONSE_BYTES`, and be a JSON object.
    """
    if not is_https_or_loopback(url):
        raise JwksFetchError("refusing to fetch a URL that is neither https nor loopback http")
    request = urllib.request.Request(  # noqa: S310 - scheme checked just above
        url, headers={"Accept": "application/json, application/jwk-set+json"}
    )
    opener = urllib.request.build_opener(_SafeRedirectHandler)
    deadline = time.monotonic() + timeout
    with opener.open(request, timeout=timeout) as response:
        if response.status != 200:
            raise JwksFetchError(f"HTTP status {response.status}")
        content_type = response.headers.get_content_type()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise JwksFetchError(f"expected a JSON response, got {content_type}")
        body = bytearray()
        while chunk := response.read(_READ_CHUNK):
            body += chunk
            if len(body) > MAX_JWKS_RESPONSE_BYTES:
                raise JwksFetchError("response larger than the JWKS size limit")
            if time.monotonic() > deadline:
                raise JwksFetchError("response took longer than the fetch timeout")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise JwksFetchError("expected a JSON object")
    return document


class JwksCache:
    """Signing keys of one issuer, cached by ``kid`` across warm invocations.

    Args:
        settings: issuer, optional ``jwks_url``, refresh interval and fetch timeout.
        fetch_json: ``(url, timeout) -> dict``; injected by tests, defaults to :func:`fetch_json`.
        clock: monotonic seconds; injected by tests.
        max_age_seconds: keys older than this are refetched before use. If that refetch fails,
            the old keys are still used (stale-if-error) until the next attempt is allowed:
            an issuer outage should not take the server down when the keys are known.
        failure_backoff_seconds: after a failed fetch, no new attempt is made for this long
            (capped at the refresh interval), so an issuer outage costs each request nothing
            instead of a full timeout.

    When the JWKS URL is not configured it is discovered from
    ``<issuer>/.well-known/openid-configuration``: that document's ``issuer`` must equal the
    configured issuer exactly (OpenID Connect Discovery §4.3), and its ``jwks_uri`` must pass
    the https-or-loopback rule. The discovered URL is cached like the keys.

    Thread-safe (the local stack may call it from several threads); in Lambda, one
    invocation at a time uses it.
    """

    def __init__(
        self,
        settings: JwtSettings,
        *,
        fetch_json: FetchJson = fetch_json,
        clock: Clock = time.monotonic,
        max_age_seconds: float = 3600.0,
        failure_backoff_seconds: float = 5.0,
    ) -> None:
        self._issuer = settings.issuer
        self._configured_jwks_url = settings.jwks_url
        self._timeout = float(settings.jwks_fetch_timeout_seconds)
        self._min_interval = float(settings.jwks_refresh_min_interval_seconds)
        self._max_age = float(max_age_seconds)
        self._backoff = min(float(failure_backoff_seconds), self._min_interval)
        self._fetch_json = fetch_json
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, JwksKey] | None = None
        self._jwks_url: str | None = None
        self._loaded_at = -math.inf
        self._next_fetch_at = -math.inf
        # The last fetch failed: until the next one, a kid the cached keys lack may well be
        # published, so it is refused as jwks_unavailable (the cause), not unknown_kid.
        self._last_fetch_failed = False

    def clear(self) -> None:
        """Forget keys, the discovered URL and back-off state (e.g. after a SnapStart restore)."""
        with self._lock:
            self._keys = None
            self._jwks_url = None
            self._loaded_at = -math.inf
            self._next_fetch_at = -math.inf
            self._last_fetch_failed = False

    def get_key(self, kid: str) -> JwksKey:
        """The key for ``kid``; ``AuthError`` ``unknown_kid`` or ``jwks_unavailable`` otherwise."""
        with self._lock:
            now = self._clock()
            keys = self._keys
            stale = keys is not None and now - self._loaded_at >= self._max_age
            if keys is not None and not stale and kid in keys:
                return keys[kid]
            if now < self._next_fetch_at:
                # Inside the refresh interval or the failure back-off: no network.
                if keys is not None and kid in keys:
                    return keys[kid]
                if keys is None or self._last_fetch_failed:
                    raise AuthError(ReasonCode.JWKS_UNAVAILABLE, "backing off after a failed fetch")
                raise AuthError(ReasonCode.UNKNOWN_KID)
            try:
                fresh = self._refresh(now)
            except AuthError:
                if stale and keys is not None and kid in keys:
                    return keys[kid]
                raise
            if kid in fresh:
                return fresh[kid]
            raise AuthError(ReasonCode.UNKNOWN_KID)

    def _refresh(self, now: float) -> dict[str, JwksKey]:
        try:
            keys = parse_jwks(self._fetch_json(self._resolve_jwks_url(), self._timeout))
        except Exception as exc:
            self._next_fetch_at = now + self._backoff
            self._last_fetch_failed = True
            # Only the exception type: messages from urllib or json may quote response bytes.
            raise AuthError(ReasonCode.JWKS_UNAVAILABLE, type(exc).__name__) from None
        self._keys = keys
        self._loaded_at = now
        self._next_fetch_at = now + self._min_interval
        self._last_fetch_failed = False
        return keys

    def _resolve_jwks_url(self) -> str:
        if self._configured_jwks_url is not None:
            return self._configured_jwks_url
        if self._jwks_url is None:
            document = self._fetch_json(self._issuer.rstrip("/") + _DISCOVERY_PATH, self._timeout)
            if document.get("issuer") != self._issuer:
                raise JwksFetchError("discovery document 'issuer' differs from OAUTH_ISSUER")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not is_https_or_loopback(jwks_uri):
                raise JwksFetchError("discovery document has no https (or loopback) 'jwks_uri'")
            self._jwks_url = jwks_uri
        return self._jwks_url
