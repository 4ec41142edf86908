"""The single entry point of the authorizer: an Authorization header in, a Principal out.

The authorizer Lambda handler turns its event into the header value, calls
:meth:`Authenticator.authenticate`, and turns the result into an Allow policy (with
:meth:`~app.auth.principal.Principal.to_context`) or a refusal. Every outcome other than a
returned :class:`Principal` is an :class:`AuthError`, so the handler needs exactly one
``except`` clause, and any doubt, including a bug here, ends as a refusal (fail closed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from app.auth.api_keys import API_KEY_PREFIX, ApiKeyVerifier, KeyStore, parse_api_key
from app.auth.bearer import extract_bearer
from app.auth.errors import AuthError, ReasonCode
from app.auth.principal import Principal
from app.auth.scopes import is_scope_token

__all__ = ["Authenticator", "TokenVerifier"]


class TokenVerifier(Protocol):
    """A JWT verifier: one issuer's `JwtVerifier`, or `TrustedIssuers` choosing among several.

    A protocol rather than an import: importing `app.auth.jwt_verifier` pulls in PyJWT, which
    API-key-only setups never pay for.
    """

    def verify(self, token: str) -> Principal: ...


class Authenticator:
    """Route a bearer credential to the right verifier and enforce the base scope.

    Args:
        jwt_verifier: verifies OAuth access tokens (from one issuer, or from several through
            ``TrustedIssuers``); ``None`` when no issuer is configured, in which case every
            JWT is refused with ``jwt_not_configured``.
        key_store_loader: returns the current :class:`KeyStore` snapshot; it should cache
            (the store changes rarely and a Secrets Manager call per request is slow). Any
            exception it raises becomes ``key_store_unavailable``. ``None`` when API keys are
            off: every API key is then ``unknown_key``.
        base_scope: the scope every caller must hold (RFC 6750 ``insufficient_scope``, 403,
            when missing); ``None`` to require none. Applies to API keys too, so keys must be
            created with it.
        clock: epoch seconds, for API key expiry; injected by tests.
    """

    def __init__(
        self,
        jwt_verifier: TokenVerifier | None,
        key_store_loader: Callable[[], KeyStore] | None,
        base_scope: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if base_scope is not None and not is_scope_token(base_scope):
            raise ValueError("OAUTH_BASE_SCOPE must be one scope token (no spaces), or unset")
        self._jwt_verifier = jwt_verifier
        self._key_store_loader = key_store_loader
        self._base_scope = base_scope
        self._clock = clock
        self._api_keys = ApiKeyVerifier()

    @property
    def base_scope(self) -> str | None:
        return self._base_scope

    def authenticate(self, authorization_header: str | None) -> Principal:
        """Return the caller's principal, or raise :class:`AuthError` (and nothing else).

        ``status`` of the error is 401, or 403 for ``missing_scope``.
        """
        try:
            credential = extract_bearer(authorization_header)
            if credential.startswith(API_KEY_PREFIX):
                principal = self._authenticate_api_key(credential)
            else:
                principal = self._authenticate_jwt(credential)
            if self._base_scope is not None and not principal.has_scopes((self._base_scope,)):
                raise AuthError(ReasonCode.MISSING_SCOPE, self._base_scope)
            return principal
        except AuthError:
            raise
        except Exception as exc:
            # from None: the chained exception could quote the credential in a log traceback.
            raise AuthError(ReasonCode.INTERNAL_ERROR, type(exc).__name__) from None

    def _authenticate_api_key(self, credential: str) -> Principal:
        # Reject a malformed key before it costs a key store read.
        if parse_api_key(credential) is None:
            raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "not an API key")
        if self._key_store_loader is None:
            raise AuthError(ReasonCode.UNKNOWN_KEY, "API keys are not enabled")
        try:
            store = self._key_store_loader()
        except AuthError:
            raise
        except Exception as exc:
            raise AuthError(ReasonCode.KEY_STORE_UNAVAILABLE, type(exc).__name__) from None
        return self._api_keys.verify(credential, store, self._clock())

    def _authenticate_jwt(self, credential: str) -> Principal:
        if self._jwt_verifier is None:
            raise AuthError(ReasonCode.JWT_NOT_CONFIGURED)
        return self._jwt_verifier.verify(credential)
