"""The authenticated caller, and its round trip through the API Gateway authorizer context.

The authorizer Lambda turns a :class:`Principal` into the flat ``context`` of its policy
(:meth:`Principal.to_context`); API Gateway hands that context to the MCP Lambda, which turns it
back into the same :class:`Principal` (:meth:`Principal.from_context`). API Gateway only
accepts string, number and boolean context values, hence the flat, all-string shape.

There is deliberately no anonymous principal: a request without a verified credential has no
``Principal`` at all, and code that needs one must fail closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, get_args

from app.auth.scopes import split_scope_string, validate_scopes

__all__ = ["AuthMethod", "Principal"]

AuthMethod: TypeAlias = Literal["jwt", "api_key"]
_AUTH_METHODS: Final[frozenset[str]] = frozenset(get_args(AuthMethod))
_OPTIONAL_KEYS: Final = ("client_id", "key_id", "tenant")


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
    """

    subject: str
    auth_method: AuthMethod
    scopes: frozenset[str]
    client_id: str | None = None
    key_id: str | None = None
    tenant: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str) or not self.subject:
            raise ValueError("Principal.subject must be a non-empty string")
        if self.auth_method not in _AUTH_METHODS:
            raise ValueError("Principal.auth_method must be 'jwt' or 'api_key'")
        if not isinstance(self.scopes, frozenset):
            raise TypeError("Principal.scopes must be a frozenset")
        validate_scopes(self.scopes)
        for name in _OPTIONAL_KEYS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"Principal.{name} must be a non-empty string or None")

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
        none) and, when set, ``client_id``, ``key_id``, ``tenant``.
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
        return context

    @classmethod
    def from_context(cls, ctx: Mapping[str, Any]) -> Principal:
        """Rebuild a principal from an authorizer context; ``ValueError`` if it is not one.

        Accepts the REST API (v1) ``requestContext.authorizer`` dict, which also carries
        ``principalId`` and possibly ``integrationLatency`` (ignored), and the HTTP API (v2)
        ``requestContext.authorizer.lambda`` dict. Unknown keys are ignored; an empty optional
        value is read as absent. The caller must treat ``ValueError`` as "no principal": 401.
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
        return cls(
            subject=subject,
            auth_method=method,
            scopes=scopes,
            client_id=optional["client_id"],
            key_id=optional["key_id"],
            tenant=optional["tenant"],
        )
