"""Validated settings for OAuth access-token verification.

Settings are checked once, when the authorizer starts, so that a misconfiguration shows up as
a clear start-up error naming the environment variable (``OAUTH_ISSUER``, ``OAUTH_ALGORITHMS``,
...) instead of as a stream of refused tokens, or worse, accepted ones.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from app.auth.algorithms import ASYMMETRIC_ALGORITHMS, DEFAULT_BASE_SCOPE
from app.auth.scopes import is_scope_token
from app.auth.tenants import TenantRule

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_BASE_SCOPE",
    "JwtSettings",
    "is_https_or_loopback",
    "normalise_token_type",
]


_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_LEEWAY_SECONDS: Final = 300
_MAX_FETCH_TIMEOUT_SECONDS: Final = 30.0


def is_https_or_loopback(url: str) -> bool:
    """True for an ``https`` URL with a host, or an ``http`` URL on a loopback host.

    Plain ``http`` is allowed only for 127.0.0.1, ``localhost`` and ``::1`` so the local
    stack's issuer works, while a deployed authorizer can never fetch signing keys over a
    network an attacker could sit on. Credentials in the URL, fragments and unknown schemes
    (``file:``, ``ftp:``) are refused.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_token_type(value: str) -> str:
    """A JOSE ``typ`` in the one form compared: lower case, no ``application/`` prefix (RFC 7515 §4.1.9)."""
    lowered = value.lower()
    return lowered[len("application/") :] if lowered.startswith("application/") else lowered


def _check_number(name: str, value: float, low: float, high: float, *, low_inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        bound = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bound}{low}, {high}]")


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """How access tokens are verified. Construction validates and normalises every field.

    Attributes:
        issuer: the exact ``iss`` value (``OAUTH_ISSUER``). ``https``, or ``http`` on a
            loopback host for local development.
        audiences: accepted ``aud`` values; the caller always includes the canonical MCP
            URL (RFC 8707). Compared exactly, character for character.
        allowed_client_ids: clients whose ``aud``-less Amazon Cognito access tokens are
            accepted (``OAUTH_ALLOWED_CLIENT_IDS``). Empty: no ``aud``-less token is accepted.
        base_scope: the scope every caller needs (``OAUTH_BASE_SCOPE``), or ``None``. Not
            checked by the verifier: the :class:`~app.auth.authenticator.Authenticator`
            checks it for JWTs and API keys alike.
        algorithms: accepted JWS algorithms (``OAUTH_ALGORITHMS``), a subset of
            :data:`ASYMMETRIC_ALGORITHMS`. ``HS*`` or ``none`` is a configuration error.
        leeway_seconds: clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        jwks_url: the JWKS location (``OAUTH_JWKS_URL``); ``None`` to discover it from
            ``<issuer>/.well-known/openid-configuration``.
        jwks_refresh_min_interval_seconds: an unknown ``kid`` triggers at most one JWKS
            refetch per this interval, so forged ``kid`` values cannot make the authorizer
            hammer the issuer.
        jwks_fetch_timeout_seconds: budget of one JWKS or discovery fetch; beyond it the
            authorizer fails closed (``jwks_unavailable``).
        audience_required: refuse a token without ``aud`` (``bad_audience``) instead of
            considering the Amazon Cognito exception above. Set for the authorization front,
            whose tokens always name the MCP URL (RFC 8707), so no other shape may pass.
        token_types: accepted JOSE ``typ`` values (compared as RFC 7515 §4.1.9 says: case
            insensitive, ``application/`` optional); empty accepts any ``typ`` or none. The
            front sets ``at+jwt`` (RFC 9068 §4: a resource server MUST check it when the
            issuer uses it), so nothing else the front's key might sign passes as a token.
        tenant_rule: which claim names the caller's tenant (``MULTI_TENANT``: the upstream's
            ``TENANT_CLAIM``, the front's own ``tenant``); ``None`` keeps the informational
            reading of ``tid``, ``tenant`` or ``org_id`` used when multi-tenancy is off.
    """

    issuer: str
    audiences: tuple[str, ...]
    allowed_client_ids: tuple[str, ...] = ()
    base_scope: str | None = DEFAULT_BASE_SCOPE
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    leeway_seconds: int = 30
    jwks_url: str | None = None
    jwks_refresh_min_interval_seconds: float = 60
    jwks_fetch_timeout_seconds: float = 3
    audience_required: bool = False
    token_types: tuple[str, ...] = ()
    tenant_rule: TenantRule | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not is_https_or_loopback(self.issuer):
            raise ValueError(
                "OAUTH_ISSUER must be an https URL (http is allowed only on 127.0.0.1, localhost "
                "or ::1 for local development)"
            )
        if self.jwks_url is not None and not is_https_or_loopback(self.jwks_url):
            raise ValueError(
                "OAUTH_JWKS_URL must be an https URL (http only on a loopback host), or empty to "
                "use OIDC discovery"
            )

        audiences = _string_tuple(self.audiences, "OAUTH_AUDIENCES / MCP_URL")
        if not audiences:
            raise ValueError("at least one audience is required: pass MCP_URL (OAUTH_AUDIENCES adds more)")
        object.__setattr__(self, "audiences", audiences)
        object.__setattr__(
            self, "allowed_client_ids", _string_tuple(self.allowed_client_ids, "OAUTH_ALLOWED_CLIENT_IDS")
        )

        if self.base_scope is not None and not is_scope_token(self.base_scope):
            raise ValueError("OAUTH_BASE_SCOPE must be one scope token (no spaces), or unset")

        object.__setattr__(self, "algorithms", _allowed_algorithms(self.algorithms))
        if not isinstance(self.audience_required, bool):
            raise ValueError("audience_required must be true or false")
        types = _string_tuple(self.token_types, "token types")
        object.__setattr__(self, "token_types", tuple(normalise_token_type(value) for value in types))
        if self.tenant_rule is not None and not isinstance(self.tenant_rule, TenantRule):
            raise ValueError("tenant_rule must be a TenantRule or None")

        if isinstance(self.leeway_seconds, bool) or not isinstance(self.leeway_seconds, int):
            raise ValueError("JWT_LEEWAY_SECONDS must be an integer")
        _check_number("JWT_LEEWAY_SECONDS", self.leeway_seconds, 0, _MAX_LEEWAY_SECONDS)
        _check_number("JWKS_REFRESH_MIN_INTERVAL_SECONDS", self.jwks_refresh_min_interval_seconds, 0, 86400)
        _check_number(
            "JWKS_FETCH_TIMEOUT_SECONDS",
            self.jwks_fetch_timeout_seconds,
            0,
            _MAX_FETCH_TIMEOUT_SECONDS,
            low_inclusive=False,
        )


def _string_tuple(values: object, setting: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, tuple | list | frozenset | set):
        raise ValueError(f"{setting} must be a sequence of strings")
    result: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value or value != value.strip():
            raise ValueError(f"{setting}: every entry must be a non-empty string without surrounding spaces")
        if value not in result:
            result.append(value)
    return tuple(result)


def _allowed_algorithms(values: object) -> tuple[str, ...]:
    """Intersect the configured list with :data:`ASYMMETRIC_ALGORITHMS`, refusing extras.

    ``none`` and ``HS*`` get their own message because they are the dangerous ones; any other
    name outside the asymmetric set (a typo, ``ES256K``) is refused too, since silently
    dropping it would hide a configuration mistake.
    """
    names = _string_tuple(values, "OAUTH_ALGORITHMS")
    for name in names:
        if name.lower() == "none" or name.upper().startswith("HS"):
            raise ValueError("OAUTH_ALGORITHMS must not contain 'none' or HMAC (HS*) algorithms")
        if name not in ASYMMETRIC_ALGORITHMS:
            raise ValueError(
                f"OAUTH_ALGORITHMS: unknown algorithm; allowed: {', '.join(ASYMMETRIC_ALGORITHMS)}"
            )
    allowed = tuple(name for name in ASYMMETRIC_ALGORITHMS if name in names)
    if not allowed:
        raise ValueError("OAUTH_ALGORITHMS must name at least one asymmetric algorithm")
    return allowed
