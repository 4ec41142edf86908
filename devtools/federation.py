"""SSO in `make dev`: the dev issuer federates to a stand-in corporate OpenID provider, as Cognito does.

Deployed with `SSO_PROVIDER`, the Cognito pool signs users in at the company's provider (Entra ID,
Okta, Google Workspace) and copies the provider's attributes into the user's pool attributes by the
`SSO_ATTRIBUTES` mapping, at every sign-in. Locally the dev issuer stands in for Cognito and a
second dev issuer for the company's provider, and this module is the part of Cognito between them:

- `start`: the dev issuer sends the browser to the corporate provider's authorization endpoint as
  its own confidential client (authorization code, PKCE S256, `state`, `nonce`); Cognito does the
  same from `/oauth2/authorize` with `identity_provider=<Name>` or the provider's button;
- `finish`: back at the dev issuer's `/idpresponse` (Cognito: `/oauth2/idpresponse`), the code is
  redeemed and the ID token verified (signature against the provider's JWKS, `iss`, `aud`, `exp`,
  `nonce`: `app.oauth.upstream.UpstreamClient`, the front's own relying-party code), then the
  claims are mapped to pool attributes and the federated user is created or updated.

What a client of the pool sees is Cognito's shape: the user is `<Name>_<provider subject>`
(`cognito:username`), with a stable `sub` of its own, an `identities` claim naming the provider,
and the mapped attributes (`email`, `custom:tenant`, …) in its ID tokens
(https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-specifying-attribute-mapping.html,
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html).
The stand-in is always an OpenID provider, whatever `SSO_PROVIDER`'s type: it issues the claim
names the mapping asks for, so a SAML mapping (attribute URIs) is exercised the same way.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.oauth.context import s256
from app.oauth.upstream import UpstreamClient, UpstreamError
from devtools.dev_issuer import AuthorizationRequest, DevUser, OAuthError, RedirectError
from infra.sso_settings import TENANT_ATTRIBUTE, TENANT_ATTRIBUTE_MAX_LENGTH

FEDERATION_SECONDS: Final = 600
# Cognito's limit on a standard attribute value; custom ones are bounded by their schema.
ATTRIBUTE_MAX_LENGTH: Final = 2048
_SUBJECTS: Final = uuid.UUID("5f3c1f8e-6f7a-4a51-9d7e-3c2b1a0f9e8d")

Clock = Callable[[], float]


class MappingError(ValueError):
    """A provider attribute Cognito could not store (too long for its pool attribute)."""


def map_attributes(mapping: Mapping[str, str], claims: Mapping[str, Any]) -> dict[str, str]:
    """Pool attribute -> value, from the provider's claims by `SSO_ATTRIBUTES`.

    As Cognito: a claim the provider did not send (or sent empty) leaves the attribute out; values
    are stored as strings (booleans as `true`/`false`, other JSON values as their JSON text); a value
    longer than the pool attribute allows fails the sign-in (`MappingError`).
    """
    attributes: dict[str, str] = {}
    for pool_attribute, source in mapping.items():
        value = claims.get(source)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, separators=(",", ":"))
        limit = TENANT_ATTRIBUTE_MAX_LENGTH if pool_attribute == TENANT_ATTRIBUTE else ATTRIBUTE_MAX_LENGTH
        if not text:
            continue  # an empty claim is no value
        if len(text) > limit:
            raise MappingError(f"the provider's value for {pool_attribute} does not fit the pool attribute")
        attributes[pool_attribute] = text
    return attributes


def federated_user(
    provider_name: str, provider_subject: str, attributes: Mapping[str, str], *, created_ms: int
) -> DevUser:
    """The pool's user for a provider's user: Cognito's user name, a stable `sub`, the attributes."""
    username = f"{provider_name}_{provider_subject}"
    claims: dict[str, Any] = {
        name: (value == "true") if name.endswith("_verified") else value
        for name, value in attributes.items()
        if name not in ("email", "name")
    }
    # Cognito marks a federated email unverified unless the provider's `email_verified` is mapped.
    claims.setdefault("email_verified", False)
    claims["cognito:username"] = username
    claims["identities"] = [
        {
            "userId": provider_subject,
            "providerName": provider_name,
            "providerType": "OIDC",
            "issuer": None,
            "primary": "true",
            "dateCreated": str(created_ms),
        }
    ]
    return DevUser(
        subject=str(uuid.uuid5(_SUBJECTS, f"{provider_name}\n{provider_subject}")),
        name=attributes.get("name", username),
        email=attributes.get("email"),
        claims=claims,
    )


@dataclass(frozen=True)
class _Pending:
    request: AuthorizationRequest
    verifier: str
    nonce: str
    expires_at: float


class Federation:
    """The dev issuer's side of one federated provider: start a sign-in there, finish it here."""

    def __init__(
        self,
        provider_name: str,
        upstream: UpstreamClient,
        attribute_mapping: Mapping[str, str],
        *,
        only: bool = False,
        clock: Clock = time.time,
    ) -> None:
        """`only`: the pool's clients list this provider alone (SSO_ONLY): no local sign-in."""
        self.provider_name = provider_name
        self.only = only
        self.attribute_mapping = dict(attribute_mapping)
        self._upstream = upstream
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    @property
    def provider_issuer(self) -> str:
        return self._upstream.config.issuer

    def start(self, request: AuthorizationRequest) -> str:
        """Where to send the browser: the provider's authorization endpoint for this sign-in."""
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(24)
        url = self._upstream.authorization_url(state=state, code_challenge=s256(verifier), nonce=nonce)
        now = self._clock()
        with self._lock:
            self._pending = {key: value for key, value in self._pending.items() if value.expires_at > now}
            self._pending[state] = _Pending(request, verifier, nonce, now + FEDERATION_SECONDS)
        return url

    def finish(self, params: Mapping[str, str]) -> tuple[AuthorizationRequest, DevUser]:
        """The provider's answer: the waiting request and the (re)mapped user, or an error.

        `OAuthError` (shown as a page) when the answer belongs to no sign-in started here;
        `RedirectError` (back to the client) when the provider refused or its tokens fail a check.
        """
        with self._lock:
            pending = self._pending.pop(params.get("state", ""), None)
        if pending is None or pending.expires_at <= self._clock():
            raise OAuthError("invalid_request", "unknown or expired federated sign-in; start again")
        request = pending.request

        def refuse(error: str, description: str) -> RedirectError:
            return RedirectError(error, description, request.redirect_uri, request.state)

        if "error" in params:
            raise refuse("access_denied", f"{self.provider_name} did not sign the user in")
        issuer = params.get("iss")
        if issuer is not None and issuer != self.provider_issuer:
            # RFC 9207: the answer names another provider (a mix-up attack).
            raise refuse("access_denied", f"the answer did not come from {self.provider_name}")
        try:
            grant = self._upstream.exchange_code(params.get("code", ""), pending.verifier, pending.nonce)
            attributes = map_attributes(self.attribute_mapping, grant.id_token_claims)
        except UpstreamError:
            raise refuse("access_denied", f"{self.provider_name}'s answer could not be verified") from None
        except MappingError as error:
            raise refuse("access_denied", str(error)) from None
        user = federated_user(
            self.provider_name, grant.subject, attributes, created_ms=int(self._clock() * 1000)
        )
        return request, user
