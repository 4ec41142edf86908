"""Tenants: what a tenant id may look like, and how a token names its tenant. Pure: no I/O.

A tenant id travels further than any other caller string: into the authorizer context, the
audit trail, an STS session tag (`tenant=<id>`), the DynamoDB partition key the tenant's data
lives under, and the IAM condition that compares the two. So it is held to a plain charset
that every one of those accepts unchanged and that no consumer can read two ways:

- 1 to 64 characters of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit. STS accepts
  session tag values of up to 256 characters of letters, digits, spaces and ``_ . : / = + - @``
  ("Pass session tags in AWS STS", IAM User Guide); ``:`` and ``/`` are left out so a tenant can
  never be mistaken for a group prefix (``tenant:<id>``) or a path, and spaces because several
  consumers trim them.
- Compared exactly (case-sensitive), as IAM's ``StringEquals`` and DynamoDB keys compare.

:class:`TenantRule` reads the tenant from verified JWT claims, in one of two shapes:

- a string claim (``tenant``, ``custom:tenant``, Entra's ``tid``): its value is the tenant;
- a list-of-groups claim (``cognito:groups``, an Okta or Entra ``groups`` claim) with a prefix:
  the tenant is the one group named ``<prefix><id>`` (``tenant:acme`` → ``acme``). Groups are
  how Amazon Cognito puts a tenant into ACCESS tokens on every feature plan (docs/tenants.md).

A claim that is present but does not name exactly one valid tenant is an error
(``invalid_tenant``), never "no tenant": with a default tenant configured, "no tenant" would
quietly put a misconfigured user into the default tenant's data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.auth.errors import AuthError, ReasonCode

__all__ = [
    "FRONT_TENANT_RULE",
    "MAX_TENANT_LENGTH",
    "TENANT_PATTERN",
    "TenantRule",
    "check_tenant_id",
    "is_tenant_id",
]

MAX_TENANT_LENGTH: Final = 64
TENANT_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_TENANT: Final = re.compile(TENANT_PATTERN, re.ASCII)
# A claim name as issuers write them (`tenant`, `custom:tenant`, `cognito:groups`, a URL-style
# namespaced claim like `https://example.com/tenant`): printable ASCII, no spaces or quotes.
_CLAIM_NAME: Final = re.compile(r"[\x21\x23-\x7e]{1,256}", re.ASCII)
_GROUP_PREFIX: Final = re.compile(r"[\x21\x23-\x7e]{1,64}", re.ASCII)
# Groups claims are short lists; a huge one is no token a real issuer signs for this use.
_MAX_GROUPS: Final = 256


def is_tenant_id(value: object) -> bool:
    """True if ``value`` is a string that is a valid tenant id."""
    return isinstance(value, str) and _TENANT.fullmatch(value) is not None


def check_tenant_id(value: object, what: str = "tenant") -> str:
    """``value`` if it is a valid tenant id; ``ValueError`` naming ``what`` otherwise (never the value)."""
    if not is_tenant_id(value):
        raise ValueError(
            f"{what} must be 1-{MAX_TENANT_LENGTH} characters of A-Z a-z 0-9 . _ - "
            "starting with a letter or digit"
        )
    assert isinstance(value, str)
    return value


@dataclass(frozen=True, slots=True)
class TenantRule:
    """Which claim names the tenant, and how.

    Attributes:
        claim: the claim's name, exactly as in the token.
        group_prefix: ``None`` for a string claim; for a list-of-groups claim, the prefix that
            marks a tenant group (``"tenant:"``).
    """

    claim: str = "tenant"
    group_prefix: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.claim, str) or _CLAIM_NAME.fullmatch(self.claim) is None:
            raise ValueError("TENANT_CLAIM must be a claim name (printable ASCII, no spaces or quotes)")
        if self.group_prefix is not None and (
            not isinstance(self.group_prefix, str) or _GROUP_PREFIX.fullmatch(self.group_prefix) is None
        ):
            raise ValueError(
                "TENANT_GROUP_PREFIX must be 1-64 printable ASCII characters without spaces or quotes "
                "(e.g. tenant:), or empty for a string claim"
            )

    def tenant_of(self, claims: Mapping[str, Any]) -> str | None:
        """The tenant the claims name, ``None`` when the claim is absent; ``AuthError`` otherwise.

        ``invalid_tenant``: the claim has the wrong type, or is not a valid tenant id, or (groups)
        names no tenant group's id validly or more than one tenant group.
        """
        if self.claim not in claims:
            return None
        value = claims[self.claim]
        if self.group_prefix is None:
            if not is_tenant_id(value):
                raise AuthError(ReasonCode.INVALID_TENANT, f"the {self.claim} claim is not a valid tenant id")
            assert isinstance(value, str)
            return value
        return self._tenant_of_groups(value)

    def _tenant_of_groups(self, groups: object) -> str | None:
        prefix = self.group_prefix
        assert prefix is not None
        if not isinstance(groups, list) or len(groups) > _MAX_GROUPS:
            raise AuthError(ReasonCode.INVALID_TENANT, f"the {self.claim} claim is not a list of groups")
        found = [g[len(prefix) :] for g in groups if isinstance(g, str) and g.startswith(prefix)]
        if not found:
            return None
        if len(found) > 1:
            # Two tenant groups: which one a request acts for would be a guess. An administrator
            # moves a user by removing the old group, not by adding a second one.
            raise AuthError(ReasonCode.INVALID_TENANT, f"the {self.claim} claim names several tenants")
        if not is_tenant_id(found[0]):
            raise AuthError(ReasonCode.INVALID_TENANT, f"a {self.claim} tenant group is not valid")
        return found[0]

    def claims_for(self, tenant: str) -> dict[str, Any]:
        """The claim an issuer writes to name ``tenant`` under this rule (the local dev issuer's)."""
        check_tenant_id(tenant)
        if self.group_prefix is None:
            return {self.claim: tenant}
        return {self.claim: [f"{self.group_prefix}{tenant}"]}


# The authorization front resolves the upstream's tenant (by the configured rule) when a user
# signs in, and writes the result into its own tokens as this one string claim, whatever shape
# the upstream used: so the authorizer reads the front's tokens the same way under any setting.
FRONT_TENANT_RULE: Final = TenantRule(claim="tenant")
