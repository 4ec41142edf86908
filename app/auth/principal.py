"""The authenticated caller, and its round trip through the API Gateway authorizer context.

The authorizer Lambda turns a :class:`Principal` into the flat ``context`` of its policy
(:meth:`Principal.to_context`); API Gateway hands that context to the MCP Lambda, which turns it
back into the same :class:`Principal` (:meth:`Principal.from_context`). API Gateway only
accepts string, number and boolean context values, hence the flat, all-string shape.

API Gateway caches that Allow and its context for the authorizer's TTL, during which the
authorizer is not asked again. So the context also carries the credential's expiry
(``expires_at``: the JWT ``exp``, or the API key's ``expires_at``), and the MCP Lambda refuses
a principal whose credential has expired (:meth:`Principal.is_expired`) instead of trusting a
cached Allow to the end of the TTL.

Principal names cannot be confused between the two ways in: an API key's principal is always
``apikey:<owner>`` (:meth:`Principal.api_key_name`), and a JWT principal may never carry that
prefix (in any letter case). The JWT verifier refuses such a ``sub`` rather than renaming it:
JWT subjects stay exactly what the issuer wrote (that is what audit queries, tools and the
issuer's own logs key on), and only a subject no mainstream issuer mints is affected. A
constructor check makes the rule hold for every ``Principal``, including one rebuilt from an
authorizer context.

There is deliberately no anonymous principal: a request without a verified credential has no
``Principal`` at all, and code that needs one must fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, get_args

from app.auth.scopes import split_scope_string, validate_scopes

__all__ = ["AuthMethod", "Principal"]

AuthMethod: TypeAlias = Literal["jwt", "api_key"]
_AUTH_METHODS: Final[frozenset[str]] = frozenset(get_args(AuthMethod))
_OPTIONAL_KEYS: Final = ("client_id", "key_id", "tenant", "tier")
API_KEY_PREFIX: Final = "apikey:"
_EPOCH_DIGITS: Final = re.compile(r"[0-9]{1,16}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, how they proved it, and what they may do.

    Attributes:
        subject: stable identifier of the caller: the JWT ``sub``, or ``apikey:<owner>``.
        auth_method: ``"jwt"`` or ``"api_key"``.
        scopes: granted scopes; each is an RFC 6749 scope token (no spaces).
        client_id: the OAuth client the token was issued to, if known.
        key_id: the API key id (never the secret), for API keys.
        tenant: the issuer's tenant / organisation id, if the token carries one.
        tier: the usage tier (API Gateway usage plan) the caller is metered in, when usage
            plans are on (docs/quotas.md); set by the authorizer, not by the credential alone.
        expires_at: epoch seconds from which the credential is refused: the JWT ``exp``
            (rounded down), or the API key's ``expires_at``; ``None`` for a key that never
            expires.
    """

    subject: str
    auth_method: AuthMethod
    scopes: frozenset[str]
    client_id: str | None = None
    key_id: str | None = None
    tenant: str | None = None
    expires_at: int | None = None
    tier: str | None = None
    # A JWT's `aud` values (RFC 8707 resources), empty for an aud-less token or an API key: which
    # MCP server of the API the token is for (the authorizer decides; never in the context).
    audiences: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    # The MCP servers of the API this credential may call, by registry name, as the authorizer
    # decided them (its context's `servers`); None: it named none (a single-server authorizer).
    servers: frozenset[str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str) or not self.subject:
            raise ValueError("Principal.subject must be a non-empty string")
        if self.auth_method not in _AUTH_METHODS:
            raise ValueError("Principal.auth_method must be 'jwt' or 'api_key'")
        named_as_key = self.subject[: len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX
        if named_as_key != (self.auth_method == "api_key"):
            raise ValueError(
                f"Principal names starting with {API_KEY_PREFIX!r} belong to API keys, and only to them"
            )
        if self.expires_at is not None and (
            isinstance(self.expires_at, bool) or not isinstance(self.expires_at, int) or self.expires_at < 0
        ):
            raise ValueError("Principal.expires_at must be non-negative epoch seconds (an int) or None")
        if not isinstance(self.scopes, frozenset):
            raise TypeError("Principal.scopes must be a frozenset")
        validate_scopes(self.scopes)
        for name in _OPTIONAL_KEYS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"Principal.{name} must be a non-empty string or None")

    @staticmethod
    def api_key_name(owner: str) -> str:
        """The principal name of the API keys of ``owner``."""
        return API_KEY_PREFIX + owner

    def is_expired(self, now: float, *, jwt_leeway_seconds: float) -> bool:
        """True from the instant the authorizer would refuse this credential.

        The authorizer accepts a JWT until ``exp + leeway`` (clock skew between the issuer and
        us) and an API key until ``expires_at`` (our own clock, no skew). Refusing earlier
        would answer 401 to a token the authorizer just allowed; refusing later would be the
        cache window this check exists to close.
        """
        if self.expires_at is None:
            return False
        leeway = jwt_leeway_seconds if self.auth_method == "jwt" else 0
        return now >= self.expires_at + leeway

    def has_scopes(self, required: Iterable[str]) -> bool:
        """True if every scope in ``required`` was granted (an empty requirement is met)."""
        return self.scopes.issuperset(required)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for tools and audit events (scopes as a sorted list).

        Every key is present; unset optional values are ``None``. Holds no secret: a key id is
        a public name, never the key.
        """
        return {
            "principal": self.subject,
            "auth_method": self.auth_method,
            "scopes": sorted(self.scopes),
            "client_id": self.client_id,
            "key_id": self.key_id,
            "tenant": self.tenant,
        }

    def to_context(self) -> dict[str, str]:
        """Flat string-valued dict for an API Gateway authorizer ``context``.

        Keys: ``principal``, ``auth_method``, ``scopes`` (sorted, space-joined; ``""`` when
        none) and, when set, ``client_id``, ``key_id``, ``tenant``, ``tier`` and ``expires_at``
        (epoch seconds as decimal digits).
        """
        context = {
            "principal": self.subject,
            "auth_method": self.auth_method,
            "scopes": " ".join(sorted(self.scopes)),
        }
        for name in _OPTIONAL_KEYS:
            value = getattr(self, name)
            if value is not None:
                context[name] = value
        if self.expires_at is not None:
            context["expires_at"] = str(self.expires_at)
        return context

    @classmethod
    def from_context(cls, ctx: Mapping[str, Any]) -> Principal:
        """Rebuild a principal from an authorizer context; ``ValueError`` if it is not one.

        Accepts the REST API (v1) ``requestContext.authorizer`` dict, which also carries
        ``principalId`` and possibly ``integrationLatency`` (ignored), and the HTTP API (v2)
        ``requestContext.authorizer.lambda`` dict. Unknown keys are ignored; an empty optional
        value is read as absent. ``expires_at`` may be a string of digits (REST v1 passes every
        context value on as a string) or an int (HTTP API v2 keeps JSON numbers); anything else
        is refused, never read as "does not expire". The caller must treat ``ValueError`` as
        "no principal": 401.
        """
        if not isinstance(ctx, Mapping):
            raise ValueError("authorizer context is not a mapping")
        subject = ctx.get("principal")
        if not isinstance(subject, str) or not subject:
            raise ValueError("authorizer context has no 'principal'")
        auth_method = ctx.get("auth_method")
        if auth_method == "jwt":
            method: AuthMethod = "jwt"
        elif auth_method == "api_key":
            method = "api_key"
        else:
            raise ValueError("authorizer context has no valid 'auth_method'")
        raw_scopes = ctx.get("scopes", "")
        if raw_scopes is None:
            raw_scopes = ""
        if not isinstance(raw_scopes, str):
            raise ValueError("authorizer context 'scopes' must be a string")
        try:
            scopes = split_scope_string(raw_scopes)
        except ValueError:
            raise ValueError("authorizer context 'scopes' holds an invalid scope token") from None
        optional: dict[str, str | None] = {}
        for name in _OPTIONAL_KEYS:
            value = ctx.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"authorizer context {name!r} must be a string")
            optional[name] = value or None
        raw_servers = ctx.get("servers")
        if raw_servers is not None and not isinstance(raw_servers, str):
            raise ValueError("authorizer context 'servers' must be a string")
        try:
            return cls(
                servers=frozenset(raw_servers.split()) if raw_servers is not None else None,
                subject=subject,
                auth_method=method,
                scopes=scopes,
                client_id=optional["client_id"],
                key_id=optional["key_id"],
                tenant=optional["tenant"],
                tier=optional["tier"],
                expires_at=_expiry_from_context(ctx.get("expires_at")),
            )
        except ValueError as error:
            raise ValueError(f"authorizer context does not describe a valid principal: {error}") from None


def _expiry_from_context(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    # ASCII digits only: `str.isdigit` would take "¹" or fullwidth digits, and int() would take
    # "+5", " 5" or "5_0"; none of those is something the authorizer writes.
    if isinstance(value, str) and _EPOCH_DIGITS.fullmatch(value):
        return int(value)
    raise ValueError("authorizer context 'expires_at' must be epoch seconds")
