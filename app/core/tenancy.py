"""Multi-tenancy settings (`MULTI_TENANT`, `TENANT_CLAIM`, `TENANT_GROUP_PREFIX`, `DEFAULT_TENANT`).

Non-secret switches, read from the environment by the authorizer and the authorization front
(the stack sets the same names on both). Off by default: then nothing about tenants changes
(a JWT's `tid`/`tenant`/`org_id` is still recorded in the audit trail as it was, unchecked).

On, every principal the authorizer lets through has a valid tenant (`app.auth.tenants`):

- a JWT from the upstream issuer: the `TENANT_CLAIM` claim (a string, or with
  `TENANT_GROUP_PREFIX` the one group named `<prefix><id>` in a list such as `cognito:groups`);
- a token from the authorization front: its `tenant` claim, which the front copied from the
  upstream's ID token by the same rule when the user signed in;
- an API key: the tenant it was created with (`mcp-lambda keys create --tenant`);
- none of these: `DEFAULT_TENANT` when set, else the request is refused (403 `missing_tenant`).

A tenant claim that is present but invalid (or names two tenants) is refused (403
`invalid_tenant`) and never replaced by the default: that would put a misconfigured caller
into the default tenant's data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from app.auth.errors import AuthError, ReasonCode
from app.auth.principal import Principal
from app.auth.tenants import TenantRule, check_tenant_id, is_tenant_id
from app.core.config import ConfigurationError, read_bool

DEFAULT_TENANT_CLAIM: Final = "tenant"
_DEFAULT_RULE: Final = TenantRule(DEFAULT_TENANT_CLAIM)


@dataclass(frozen=True)
class TenancySettings:
    """Whether every caller needs a tenant, where a JWT names it, and the fallback tenant."""

    multi_tenant: bool = False
    rule: TenantRule = _DEFAULT_RULE
    default_tenant: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TenancySettings:
        """The settings; `ConfigurationError` naming the setting (never echoing its value)."""
        multi_tenant = read_bool(env, "MULTI_TENANT", False)
        claim = env.get("TENANT_CLAIM", "").strip() or DEFAULT_TENANT_CLAIM
        prefix = env.get("TENANT_GROUP_PREFIX", "").strip() or None
        try:
            rule = TenantRule(claim, prefix)
        except ValueError as error:
            raise ConfigurationError(f"{error} (see .env.example)") from None
        default = env.get("DEFAULT_TENANT", "").strip() or None
        if default is not None:
            try:
                check_tenant_id(default, "DEFAULT_TENANT")
            except ValueError as error:
                raise ConfigurationError(f"{error}, or empty to refuse callers without one") from None
        return cls(multi_tenant=multi_tenant, rule=rule, default_tenant=default)

    @property
    def jwt_rule(self) -> TenantRule | None:
        """The rule the upstream issuer's tokens are read by; None (informational) when off."""
        return self.rule if self.multi_tenant else None

    def upstream_tenant(self, claims: Mapping[str, object]) -> str | None:
        """The tenant an upstream ID token names, for the authorization front to carry.

        `None` when multi-tenancy is off (the front then carries nothing, as before) or when the
        token names none but `DEFAULT_TENANT` will apply; `AuthError` (`invalid_tenant`, or
        `missing_tenant` when no default applies) so the front refuses the sign-in itself
        rather than hand out a token every request would be refused with.
        """
        if not self.multi_tenant:
            return None
        tenant = self.rule.tenant_of(claims)
        if tenant is None and self.default_tenant is None:
            raise AuthError(ReasonCode.MISSING_TENANT)
        return tenant

    def require_tenant(self, principal: Principal) -> Principal:
        """`principal` with a valid tenant, or `AuthError` (403): no-op when multi-tenancy is off.

        A principal without a tenant gets `DEFAULT_TENANT` when one is set. A tenant that is
        not valid (an API key record or a token read by an older rule could carry one) is
        refused rather than trusted.
        """
        if not self.multi_tenant:
            return principal
        if principal.tenant is None:
            if self.default_tenant is None:
                raise AuthError(ReasonCode.MISSING_TENANT)
            return dataclasses.replace(principal, tenant=self.default_tenant)
        if not is_tenant_id(principal.tenant):
            raise AuthError(ReasonCode.INVALID_TENANT)
        return principal
