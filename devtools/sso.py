"""The stand-in corporate identity provider of `make dev` with SSO_PROVIDER set.

A second dev issuer plays the company's provider (Entra ID, Okta, Google Workspace): its own key,
discovery document, sign-in page ("Corporate sign-in") and users. The dev issuer, standing in for
the Cognito pool, is registered there as a confidential client with a secret made at start, and
federates to it (`devtools/federation.py`) with the SSO_ATTRIBUTES mapping, as the deployed pool
does with the real provider. SSO_METADATA and SSO_CLIENT, which name the real provider, are not
used locally.

The stand-in's users carry every claim the mapping reads, under the names the mapping gives
(`tid`, `hd`, a SAML attribute URI, …), with example values: whatever the mapping says, a
federated sign-in in `make dev` gives the user an email and (when mapped) a tenant.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Final

from devtools.dev_issuer import IDP_RESPONSE_PATH, DevIssuer, DevIssuerServer, DevUser
from infra.sso_settings import DEFAULT_OIDC_SCOPES, TENANT_ATTRIBUTE, SsoSettings

FEDERATION_CLIENT_ID: Final = "serverless-mcp-user-pool"
CORPORATE_PAGE_INTRO: Final = (
    "A stand-in for your company's identity provider in <code>make dev</code> (SSO_PROVIDER): "
    "pick a user, no password. Deployed, this is Entra ID, Okta or Google Workspace."
)

# Two people of the example company, in two tenants, so tenant isolation can be tried locally.
_PEOPLE: Final[tuple[Mapping[str, object], ...]] = (
    {
        "sub": "corp-alice",
        "name": "Alice Example",
        "given_name": "Alice",
        "family_name": "Example",
        "preferred_username": "alice",
        "email": "alice@corp.example.test",
        "email_verified": True,
        TENANT_ATTRIBUTE: "tenant-a",
    },
    {
        "sub": "corp-bob",
        "name": "Bob Example",
        "given_name": "Bob",
        "family_name": "Example",
        "preferred_username": "bob",
        "email": "bob@corp.example.test",
        "email_verified": True,
        TENANT_ATTRIBUTE: "tenant-b",
    },
)


def corporate_users(mapping: Mapping[str, str]) -> tuple[DevUser, ...]:
    """The stand-in's users, each with a claim for every provider attribute the mapping reads."""
    users = []
    for person in _PEOPLE:
        claims: dict[str, object] = {}
        for pool_attribute, source in mapping.items():
            claims[source] = person.get(pool_attribute, f"example {pool_attribute}")
        users.append(
            DevUser(
                subject=str(person["sub"]),
                name=str(person["name"]),
                email=str(person["email"]),
                claims=claims,
            )
        )
    return tuple(users)


def start_corporate_provider(
    pool: DevIssuer, sso: SsoSettings, auto_approve: bool
) -> tuple[DevIssuer, Callable[[], None]]:
    """Start the stand-in, register `pool` there, federate `pool` to it; the stand-in and its stop."""
    from app.oauth.upstream import UpstreamClient, UpstreamConfig
    from devtools.federation import Federation

    users = corporate_users(sso.attributes)
    server = DevIssuerServer(
        auto_approve=auto_approve,
        users=users,
        title=f"Corporate sign-in ({sso.provider_name})",
        page_intro=CORPORATE_PAGE_INTRO,
    )
    corporate = server.start()
    # A SAML provider has no scopes; the stand-in is OpenID either way.
    scopes = sso.scopes or DEFAULT_OIDC_SCOPES
    secret = secrets.token_urlsafe(32)
    redirect_uri = pool.issuer_url + IDP_RESPONSE_PATH
    corporate.register_client(
        FEDERATION_CLIENT_ID, client_secret=secret, redirect_uris=[redirect_uri], scopes=list(scopes)
    )
    upstream = UpstreamClient(
        UpstreamConfig(
            issuer=corporate.issuer_url,
            client_id=FEDERATION_CLIENT_ID,
            client_secret=secret,
            redirect_uri=redirect_uri,
            scopes=tuple(scopes),
        )
    )
    pool.federation = Federation(sso.provider_name, upstream, sso.attributes, only=sso.only)
    return corporate, server.stop
