"""`/token` (authorization code and refresh token grants) and `/revoke` (RFC 7009).

Every answer carries `Cache-Control: no-store` (RFC 6749 §5.1). Errors are RFC 6749 §5.2 JSON
with a fixed description: never a request value, a token or a secret.

Refresh tokens rotate on every use and belong to a family (one per authorization). A second
use of any token of a family revokes the family (OAuth 2.1 §4.3.1; RFC 9700 §4.14.2). Each
refresh also refreshes the upstream's token with the front's sealed copy: a user disabled or
deleted upstream is refused at their next refresh, so access ends at most one access-token
lifetime (`access_token_ttl_seconds`) after the upstream stops them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from app.auth.errors import AuthError
from app.oauth.client_lookup import KnownClient, LookupLimited, UnknownClient, find_client
from app.oauth.context import FrontContext, pkce_matches
from app.oauth.http import FrontRequest, ParameterError, Result, json_response, oauth_error
from app.oauth.signer import access_token_claims
from app.oauth.store import AuthorizationCode, CodeRedemption, Family, RefreshRedemption, digest, new_secret
from app.oauth.upstream import UpstreamError, UpstreamRefused

REFRESH_GRANT = "refresh_token"


@dataclass
class _Denied(Exception):  # not frozen: raising sets attributes on an exception
    status: int
    error: str
    description: str
    reason: str
    principal: str | None = None
    headers: dict[str, str] | None = None


def _authenticate(ctx: FrontContext, request: FrontRequest) -> KnownClient:
    """The client, authenticated by the method it registered (RFC 6749 §2.3, RFC 7591 §2)."""
    basic_id, basic_secret = _basic_credentials(request.headers.get("authorization"))
    form_id = request.form_param("client_id")
    form_secret = request.form_param("client_secret")
    if basic_id is not None and form_secret is not None:
        raise _Denied(400, "invalid_request", "use one client authentication method", "invalid_request")
    if basic_id is not None and form_id is not None and form_id != basic_id:
        raise _Denied(401, "invalid_client", "client authentication failed", "client_mismatch")
    client_id = basic_id if basic_id is not None else form_id
    try:
        client = find_client(client_id, ctx.settings, ctx.store, ctx.fetcher, source_ip=request.source_ip)
    except LookupLimited as limited:
        raise _Denied(
            429,
            "temporarily_unavailable",
            limited.description,
            limited.reason,
            headers={"Retry-After": str(limited.retry_after)},
        ) from None
    except UnknownClient as error:
        raise _Denied(401, "invalid_client", "client authentication failed", error.reason) from None
    method = client.metadata.token_endpoint_auth_method
    presented = basic_secret if basic_id is not None else form_secret
    if method == "none":
        if presented is not None or basic_id is not None:
            raise _Denied(
                401, "invalid_client", "this client is public: send client_id only", "invalid_client"
            )
        return client
    expected_basic = method == "client_secret_basic"
    if presented is None or expected_basic != (basic_id is not None) or client.secret_hash is None:
        raise _Denied(401, "invalid_client", "client authentication failed", "invalid_client")
    if not hmac.compare_digest(digest(presented), client.secret_hash):
        raise _Denied(401, "invalid_client", "client authentication failed", "invalid_client")
    return client


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if header is None:
        return None, None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise _Denied(401, "invalid_client", "client authentication failed", "invalid_client")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _Denied(401, "invalid_client", "client authentication failed", "invalid_client") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _Denied(401, "invalid_client", "client authentication failed", "invalid_client")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def token(ctx: FrontContext, request: FrontRequest) -> Result:
    client_id: str | None = None
    action = "token"
    try:
        grant_type = request.form_param("grant_type")
        action = "refresh" if grant_type == REFRESH_GRANT else "token"
        client = _authenticate(ctx, request)
        client_id = client.metadata.client_id
        if grant_type not in client.metadata.grant_types and grant_type in (
            "authorization_code",
            REFRESH_GRANT,
        ):
            raise _Denied(
                400, "unauthorized_client", "this client may not use this grant", "unauthorized_client"
            )
        if grant_type == "authorization_code":
            document, principal = _code_grant(ctx, request, client)
        elif grant_type == REFRESH_GRANT:
            document, principal = _refresh_grant(ctx, request, client)
        else:
            raise _Denied(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
                "unsupported_grant_type",
            )
    except ParameterError as error:
        return Result(
            oauth_error(400, "invalid_request", str(error)), action, "denied", "invalid_request", client_id
        )
    except _Denied as denied:
        return Result(
            oauth_error(denied.status, denied.error, denied.description, denied.headers),
            action,
            "denied",
            denied.reason,
            client_id,
            denied.principal,
        )
    return Result(json_response(200, document), action, "ok", None, client_id, principal)


def _code_grant(
    ctx: FrontContext, request: FrontRequest, client: KnownClient
) -> tuple[dict[str, object], str]:
    code = request.form_param("code")
    verifier = request.form_param("code_verifier")
    redirect_uri = request.form_param("redirect_uri")
    resource = request.form_param("resource")
    if code is None:
        raise _Denied(400, "invalid_request", "code is required", "invalid_request")
    redeemed = ctx.store.redeem_code(code)
    if redeemed == CodeRedemption.REPLAYED:
        raise _Denied(400, "invalid_grant", "the code was used already", "code_replay")
    if not isinstance(redeemed, AuthorizationCode):
        raise _Denied(400, "invalid_grant", "the code is unknown or expired", "invalid_grant")
    if redeemed.client_id != client.metadata.client_id:
        raise _Denied(
            400, "invalid_grant", "the code was issued to another client", "client_mismatch", redeemed.subject
        )
    if redirect_uri is not None and redirect_uri != redeemed.redirect_uri:
        raise _Denied(
            400,
            "invalid_grant",
            "redirect_uri differs from the authorization request",
            "redirect_mismatch",
            redeemed.subject,
        )
    if verifier is None:
        raise _Denied(400, "invalid_grant", "code_verifier is required", "pkce_missing", redeemed.subject)
    if not pkce_matches(verifier, redeemed.code_challenge):
        raise _Denied(
            400,
            "invalid_grant",
            "code_verifier does not match the code challenge",
            "pkce_mismatch",
            redeemed.subject,
        )
    if resource is not None and resource != redeemed.resource:
        raise _Denied(
            400,
            "invalid_target",
            "resource differs from the authorization request",
            "invalid_target",
            redeemed.subject,
        )
    refresh: str | None = None
    # No upstream refresh token: the front could not notice a user disabled upstream, so it
    # issues no refresh token either and the user signs in again when the access token ends.
    if REFRESH_GRANT in client.metadata.grant_types and redeemed.upstream_refresh_token is not None:
        try:
            ctx.store.create_family(
                redeemed.family,
                subject=redeemed.subject,
                client_id=redeemed.client_id,
                scopes=redeemed.scopes,
                resource=redeemed.resource,
                upstream_refresh_token=redeemed.upstream_refresh_token,
                ttl_seconds=ctx.settings.refresh_token_ttl_seconds,
                tenant=redeemed.tenant,
            )
        except ctx.store.conditional_failure:
            raise _Denied(
                400, "invalid_grant", "the code was used already", "code_replay", redeemed.subject
            ) from None
        refresh = new_secret(32)
        expires_at = ctx.store.now() + ctx.settings.refresh_token_ttl_seconds
        ctx.store.put_refresh_token(refresh, family_id=redeemed.family, expires_at=expires_at)
    subject, tenant = redeemed.subject, redeemed.tenant
    document = _token_response(
        ctx, subject, redeemed.client_id, redeemed.resource, redeemed.scopes, refresh, tenant
    )
    return document, subject


def _refresh_grant(
    ctx: FrontContext, request: FrontRequest, client: KnownClient
) -> tuple[dict[str, object], str]:
    presented = request.form_param("refresh_token")
    scope = request.form_param("scope")
    resource = request.form_param("resource")
    if presented is None:
        raise _Denied(400, "invalid_request", "refresh_token is required", "invalid_request")
    # Checks that need no state change first, so a well-meant but wrong request keeps the token.
    family_id = ctx.store.family_of_refresh_token(presented)
    peek = ctx.store.get_family(family_id) if family_id is not None else None
    if peek is not None and not peek.revoked and peek.client_id == client.metadata.client_id:
        _check_narrowing(peek, scope, resource, ctx.settings.base_scope)
    used = ctx.store.use_refresh_token(presented)
    if used == RefreshRedemption.REUSED:
        raise _Denied(400, "invalid_grant", "the refresh token was used already", "refresh_reuse")
    if not isinstance(used, Family):
        raise _Denied(
            400, "invalid_grant", "the refresh token is unknown, expired or revoked", "invalid_grant"
        )
    if used.client_id != client.metadata.client_id:
        ctx.store.revoke_family(used.family_id)  # a token in another client's hands is a stolen one
        raise _Denied(
            400,
            "invalid_grant",
            "the refresh token was issued to another client",
            "client_mismatch",
            used.subject,
        )
    scopes = _check_narrowing(used, scope, resource, ctx.settings.base_scope)
    if used.upstream_refresh_token is None:
        raise _Denied(
            400,
            "invalid_grant",
            "the refresh token is unknown, expired or revoked",
            "invalid_grant",
            used.subject,
        )
    try:
        grant = ctx.upstream.refresh(used.upstream_refresh_token, subject=used.subject)
    except UpstreamRefused:
        ctx.store.revoke_family(used.family_id)
        raise _Denied(
            400,
            "invalid_grant",
            "the identity provider no longer accepts this sign-in",
            "upstream_refused",
            used.subject,
        ) from None
    except UpstreamError:
        ctx.store.release_refresh_token(presented)  # nothing was issued: the client may retry
        raise _Denied(
            503,
            "temporarily_unavailable",
            "the identity provider is unavailable, try again",
            "upstream_error",
            used.subject,
        ) from None
    if grant.refresh_token is not None and grant.refresh_token != used.upstream_refresh_token:
        ctx.store.update_family_upstream(used.family_id, grant.refresh_token)
    requested_upstream = set(ctx.settings.upstream.scopes)
    scopes = tuple(s for s in scopes if s not in requested_upstream or s in grant.scopes)
    if ctx.settings.base_scope not in scopes:
        raise _Denied(
            400,
            "invalid_grant",
            "the identity provider no longer grants access",
            "scope_not_granted",
            used.subject,
        )
    tenant = _refreshed_tenant(ctx, used, grant.id_token_claims)
    refresh = new_secret(32)
    ctx.store.put_refresh_token(refresh, family_id=used.family_id, expires_at=used.expires_at)
    return _token_response(
        ctx, used.subject, used.client_id, used.resource, scopes, refresh, tenant
    ), used.subject


def _refreshed_tenant(ctx: FrontContext, family: Family, claims: Mapping[str, object]) -> str | None:
    """The tenant a refreshed token carries: the upstream's new ID token says, else the sign-in's.

    An upstream that refreshes with an ID token (Cognito does) names the user's tenant as of now,
    so a user moved out of every tenant group loses access at the next refresh, like a disabled
    user (the family is revoked); one moved to another tenant acts for the new one.
    """
    if not claims:
        return family.tenant
    try:
        return ctx.settings.tenancy.upstream_tenant(claims)
    except AuthError as error:
        ctx.store.revoke_family(family.family_id)
        raise _Denied(
            400,
            "invalid_grant",
            "the identity provider no longer names a valid tenant for this user",
            str(error.reason),
            family.subject,
        ) from None


def _check_narrowing(
    family: Family, scope: str | None, resource: str | None, base_scope: str
) -> tuple[str, ...]:
    """The scopes of a refresh: the family's, or fewer when asked (never more: RFC 6749 §6).

    Checked before the token is used up: a request that can only fail must leave it valid. A
    narrowing that drops the base scope is one (no token without it reaches the MCP server).
    """
    if resource is not None and resource != family.resource:
        raise _Denied(
            400,
            "invalid_target",
            "resource differs from the original grant",
            "invalid_target",
            family.subject,
        )
    if scope is None:
        return family.scopes
    asked = set(scope.split(" "))
    if not asked <= set(family.scopes):
        raise _Denied(
            400,
            "invalid_scope",
            "a refresh may not widen the granted scopes",
            "invalid_scope",
            family.subject,
        )
    if base_scope not in asked:
        raise _Denied(
            400,
            "invalid_scope",
            f"a refresh must keep the {base_scope} scope",
            "invalid_scope",
            family.subject,
        )
    return tuple(s for s in family.scopes if s in asked)


def _token_response(
    ctx: FrontContext,
    subject: str,
    client_id: str,
    resource: str,
    scopes: tuple[str, ...],
    refresh: str | None,
    tenant: str | None = None,
) -> dict[str, object]:
    settings = ctx.settings
    claims = access_token_claims(
        issuer=settings.issuer,
        audience=resource,
        subject=subject,
        client_id=client_id,
        scopes=scopes,
        now=ctx.store.now(),
        ttl_seconds=settings.access_token_ttl_seconds,
        tenant=tenant,
    )
    document: dict[str, object] = {
        "access_token": ctx.signer.sign(claims),
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_seconds,
        "scope": " ".join(scopes),
    }
    if refresh is not None:
        document["refresh_token"] = refresh
    return document


def revoke(ctx: FrontContext, request: FrontRequest) -> Result:
    """RFC 7009: a refresh token revokes its family; anything else is answered 200 all the same."""
    client_id: str | None = None
    try:
        client = _authenticate(ctx, request)
        client_id = client.metadata.client_id
        presented = request.form_param("token")
    except ParameterError as error:
        return Result(
            oauth_error(400, "invalid_request", str(error)), "revoke", "denied", "invalid_request", client_id
        )
    except _Denied as denied:
        return Result(
            oauth_error(denied.status, denied.error, denied.description, denied.headers),
            "revoke",
            "denied",
            denied.reason,
            client_id,
        )
    if presented is None:
        return Result(
            oauth_error(400, "invalid_request", "token is required"),
            "revoke",
            "denied",
            "invalid_request",
            client_id,
        )
    family_id = ctx.store.family_of_refresh_token(presented)
    family = ctx.store.get_family(family_id) if family_id is not None else None
    if family is not None and family.client_id == client_id:
        ctx.store.revoke_family(family.family_id)
        return Result(json_response(200, {}), "revoke", "ok", "revoked", client_id, family.subject)
    # RFC 7009 §2.2: an unknown (or another client's, or an access) token gets 200 too.
    return Result(json_response(200, {}), "revoke", "ok", "not_revoked", client_id)
