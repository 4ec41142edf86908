"""The authorizer's logic: current settings → authenticator → decision. No Lambda event shapes.

`Gatekeeper.decide()` turns an Authorization header into a `Decision` and never raises: any
doubt (a bad credential, an unreadable key store, a configuration error, a bug) is a refusal.
Settings are asked of `SettingsSource` on every call, which is cheap (it serves its parsed
settings until the config cache age) and means an SSM change reaches a warm container within
that age.
The JWKS cache and the parsed key store live as long as the settings that produced them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.auth.api_keys import KeyStore
from app.auth.authenticator import Authenticator
from app.auth.errors import AuthError, ReasonCode
from app.auth.principal import Principal
from app.config import AuthSettings, ConfigurationError, SettingsSource

log = logging.getLogger(__name__)

FetchJson = Callable[[str, float], dict[str, Any]]

# A key id the cached key store does not know triggers one fresh read at most this often, so a
# key created a moment ago works at once, while random key ids cannot hammer Secrets Manager.
KEY_STORE_REFRESH_MIN_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True)
class Decision:
    """Allow with a principal, or refuse with a reason: 401 (unauthenticated) or 403 (scope)."""

    principal: Principal | None
    reason: ReasonCode | None = None

    @property
    def allowed(self) -> bool:
        return self.principal is not None and self.reason is None

    @property
    def status(self) -> int:
        if self.allowed:
            return 200
        return 403 if self.reason is ReasonCode.MISSING_SCOPE else 401


class Gatekeeper:
    """Decides, for each request, whether its credential lets it through."""

    def __init__(
        self,
        source: SettingsSource,
        *,
        fetch_json: FetchJson | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._fetch_json = fetch_json
        self._clock = clock
        self._settings: AuthSettings | None = None
        self._authenticator: Authenticator | None = None
        self._key_store: tuple[Mapping[str, Any], KeyStore] | None = None
        self._force_key_store_fetch = False
        self._last_forced_fetch = -KEY_STORE_REFRESH_MIN_INTERVAL_SECONDS

    def check_configuration(self) -> AuthSettings:
        """Read and validate the settings now (at cold start); `ConfigurationError` if broken."""
        self._current_authenticator()
        assert self._settings is not None
        return self._settings

    def decide(self, authorization_header: str | None) -> Decision:
        try:
            try:
                principal = self._current_authenticator().authenticate(authorization_header)
            except AuthError as error:
                if error.reason is not ReasonCode.UNKNOWN_KEY or not self._may_force_key_store_fetch():
                    raise
                self._force_key_store_fetch = True
                principal = self._current_authenticator().authenticate(authorization_header)
        except AuthError as error:
            return Decision(principal=None, reason=error.reason)
        except ConfigurationError as error:
            log.error("authorizer configuration error, request refused: %s", error)
            return Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)
        except Exception as error:  # fail closed on any bug
            log.error("authorizer internal error, request refused: %s", type(error).__name__)
            return Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)
        return Decision(principal=principal)

    def _may_force_key_store_fetch(self) -> bool:
        now = time.monotonic()
        if now - self._last_forced_fetch < KEY_STORE_REFRESH_MIN_INTERVAL_SECONDS:
            return False
        self._last_forced_fetch = now
        return True

    def reset(self) -> None:
        """Forget cached settings, signing keys and key store (after a SnapStart restore)."""
        self._source.clear()
        self._settings = None
        self._authenticator = None
        self._key_store = None

    def _current_authenticator(self) -> Authenticator:
        settings = self._source.auth()
        # `auth()` returns the same object until a setting changes: identity is the cheap test.
        if self._authenticator is None or settings is not self._settings:
            self._authenticator = self._build(settings)
            self._settings = settings
        return self._authenticator

    def _build(self, settings: AuthSettings) -> Authenticator:
        jwt_verifier = None
        if settings.issuer:
            # Imported here: an API-key-only deployment never pays for importing PyJWT.
            from app.auth.jwks import JwksCache
            from app.auth.jwt_settings import JwtSettings
            from app.auth.jwt_verifier import JwtVerifier

            try:
                jwt_settings = JwtSettings(
                    issuer=settings.issuer,
                    audiences=settings.accepted_audiences,
                    allowed_client_ids=settings.allowed_client_ids,
                    base_scope=settings.base_scope,
                    algorithms=settings.algorithms,
                    leeway_seconds=settings.leeway_seconds,
                    jwks_url=settings.jwks_url,
                    jwks_refresh_min_interval_seconds=settings.jwks_refresh_min_interval_seconds,
                    jwks_fetch_timeout_seconds=settings.jwks_fetch_timeout_seconds,
                )
            except ValueError as error:
                raise ConfigurationError(str(error)) from None
            jwks = (
                JwksCache(jwt_settings, fetch_json=self._fetch_json)
                if self._fetch_json
                else JwksCache(jwt_settings)
            )
            jwt_verifier = JwtVerifier(jwt_settings, jwks, clock=self._clock)
        loader = self._load_key_store if self._source.env.get("API_KEYS_SECRET_ID", "").strip() else None
        return Authenticator(jwt_verifier, loader, settings.base_scope, clock=self._clock)

    def _load_key_store(self) -> KeyStore:
        force, self._force_key_store_fetch = self._force_key_store_fetch, False
        document = self._source.api_key_store(force_fetch=force)
        if document is None:
            return KeyStore.from_json({})
        # The source returns the same document object until the secret changes.
        if self._key_store is None or self._key_store[0] is not document:
            self._key_store = (document, KeyStore.from_json(document))
        return self._key_store[1]
