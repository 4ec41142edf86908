"""Which API Gateway usage key (`usageIdentifierKey`) an allowed caller is metered under.

The rules are in `app.core.usage` and docs/quotas.md. Called once per allowed decision, so the
warm path is dictionary lookups: the shared keys' values are read from API Gateway once per
`CONFIG_CACHE_SECONDS`, and an API key's own usage key is in its key store record.

With an authorizer cache (TTL > 0) API Gateway keeps the answer, `usageIdentifierKey` included,
per Authorization header. That is right here because the usage key is a function of the
credential alone: an API key's record, or a JWT's `client_id` claim. Only a changed setting
(`USAGE_CLIENT_TIERS`, a tier's shared key) waits for the cached answers to expire.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.auth.api_keys import ApiKeyRecord
from app.auth.principal import Principal
from app.core.config import READ_RETRY_SECONDS, ConfigurationError, read_int
from app.core.usage import ApiGatewayKeys, UsageSettings


@dataclass(frozen=True)
class Metering:
    """The caller's tier, and the usage key API Gateway meters the request under.

    The tier travels beside the principal rather than in a copy of it: rebuilding a `Principal`
    re-runs its checks, which cost more than the rest of the metering (about 20 µs here).
    """

    tier: str
    usage_key: str

    def __repr__(self) -> str:  # the key value stays out of every log line and traceback
        return f"Metering(tier={self.tier!r})"


class UsageIdentifiers:
    """Names each allowed caller's tier and usage key; off (None) without `USAGE_KEY_IDS`."""

    def __init__(
        self,
        env: Mapping[str, str],
        keys: ApiGatewayKeys | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = env
        self._keys = keys or ApiGatewayKeys()
        self._clock = clock
        self._settings: UsageSettings | None = None
        self._loaded = False
        self._shared: dict[str, tuple[float, str]] = {}
        # A read that failed is not tried again for READ_RETRY_SECONDS (as every settings read):
        # an API Gateway outage must not turn each request into another call to it.
        self._failed: dict[str, tuple[float, ConfigurationError]] = {}

    def settings(self) -> UsageSettings | None:
        """Parsed once (at cold start, by `check_configuration`); `ConfigurationError` if broken."""
        if not self._loaded:
            self._settings = UsageSettings.from_env(self._env)
            self._loaded = True
        return self._settings

    def reset(self) -> None:
        """Forget settings, cached values and the API Gateway client (SnapStart restore)."""
        self._settings, self._loaded = None, False
        self._shared.clear()
        self._failed.clear()
        self._keys.reset()

    def meter(self, principal: Principal, record: ApiKeyRecord | None) -> Metering | None:
        """The caller's metering, or None when usage plans are off.

        `record` is the key store record of an API key caller. `ConfigurationError` (the caller
        is then refused, fail closed) when no usage key can be named: an unknown tier or a
        shared key API Gateway does not give.
        """
        settings = self.settings()
        if settings is None:
            return None
        if principal.auth_method == "api_key":
            if record is None or record.key_id != principal.key_id:
                raise ConfigurationError("the API key's record was not at hand to name its usage key")
            tier = record.tier or settings.default_tier
            if record.usage_key is not None:
                return Metering(tier, record.usage_key)
        else:
            tier = settings.tier_for_client(principal.client_id)
        return Metering(tier, self._shared_key(settings, tier))

    def _shared_key(self, settings: UsageSettings, tier: str) -> str:
        key_id = settings.key_ids.get(tier)
        if key_id is None:
            raise ConfigurationError(
                f"usage tier {tier!r} has no shared key in USAGE_KEY_IDS (was it removed from USAGE_TIERS?)"
            )
        now = self._clock()
        cached = self._shared.get(tier)
        if cached is not None and now < cached[0]:
            return cached[1]
        failed = self._failed.get(tier)
        if failed is not None and now < failed[0]:
            raise failed[1]
        try:
            value = self._keys.value(key_id)
        except ConfigurationError as error:
            self._failed[tier] = (now + READ_RETRY_SECONDS, error)
            raise
        self._failed.pop(tier, None)
        self._shared[tier] = (now + read_int(self._env, "CONFIG_CACHE_SECONDS", 300), value)
        return value
