"""`/authorize`, the consent page's POST and the upstream's `/callback`.

The order of the checks in `/authorize` follows RFC 6749 §4.1.2.1: until the client and its
redirect URI are known to be good, an error is a page here (redirecting to an unverified URI
would make this server an open redirector); after that, errors go back to the client with
`error`, its `state` and our `iss` (RFC 9207).

The front logs in at the upstream with ONE client of its own for every MCP client, so the user
must approve each MCP client here (MCP security best practices, "confused deputy"): the
consent page names the client, where it will be sent, and the scopes. The approval is bound
to the browser that saw the page (a random value in an HttpOnly cookie and in the form), and
the same cookie must come back with the upstream's callback, so a login started in one browser
cannot be finished in another.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import urlencode

from app.auth.errors import AuthError, ReasonCode
from app.auth.front import CONSENT_PATH
from app.auth.scopes import is_scope_token
from app.oauth.client_lookup import KnownClient, LookupLimited, UnknownClient, find_client
from app.oauth.context import (
    FrontContext,
    browser_cookie,
    browser_cookie_name,
    is_browser_value,
    is_s256_challenge,
    s256,
)
from app.oauth.http import FrontRequest, ParameterError, Result, redirect, with_query
from app.oauth.pages import consent_page, error_page, origin_of
from app.oauth.redirects import RedirectUriError, find_redirect_uri, redirect_uri_matches
from app.oauth.store import digest, new_secret
from app.oauth.upstream import UpstreamError, UpstreamRefused

# What the user reads when multi-tenancy is on and the upstream names no usable tenant: the fix
# is an administrator's (a group or attribute at the identity provider), not another sign-in.
_TENANT_REFUSALS: dict[ReasonCode, str] = {
    ReasonCode.MISSING_TENANT: "your account is not assigned to a tenant: ask an administrator",
    ReasonCode.INVALID_TENANT: "your account names no valid tenant, or several: ask an administrator",
}

MAX_STATE_LENGTH = 1024


class _Refusal(Exception):
    """An error to send back to the client's (verified) redirect URI."""

    def __init__(self, error: str, description: str, reason: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.reason = reason or error


def _page(
    action: str, status: int, error: str, description: str, reason: str, client_id: str | None
) -> Result:
    return Result(error_page(status, error, description), action, "denied", reason, client_id)


def _back_to_client(
    ctx: FrontContext, action: str, redirect_uri: str, state: str | None, refusal: _Refusal, client_id: str
) -> Result:
    params = {"error": refusal.error, "error_description": refusal.description}
    if state is not None:
        params["state"] = state
    params["iss"] = ctx.settings.issuer
    return Result(redirect(with_query(redirect_uri, params)), action, "denied", refusal.reason, client_id)


def requested_scopes(ctx: FrontContext, raw: str | None) -> tuple[str, ...]:
    """The scopes asked for, checked against the supported ones; the base scope always included."""
    settings = ctx.settings
    asked = raw.split(" ") if raw else []
    if any(not is_scope_token(scope) for scope in asked) or len(asked) > 50:
        raise _Refusal("invalid_scope", "the scope parameter is malformed")
    unknown = [scope for scope in asked if scope not in settings.scopes]
    if unknown:
        raise _Refusal("invalid_scope", "a requested scope is not offered by this server")
    wanted = {settings.base_scope, *asked}
    return tuple(scope for scope in settings.scopes if scope in wanted)


def authorize(ctx: FrontContext, request: FrontRequest) -> Result:
    action = "authorize"
    try:
        client_id = request.query_param("client_id")
        requested_redirect = request.query_param("redirect_uri")
    except ParameterError as error:
        return _page(action, 400, "invalid_request", str(error), "invalid_request", None)
    try:
        client = find_client(client_id, ctx.settings, ctx.store, ctx.fetcher, source_ip=request.source_ip)
    except LookupLimited as limited:
        page = error_page(
            429, "temporarily_unavailable", limited.description, {"Retry-After": str(limited.retry_after)}
        )
        return Result(page, action, "denied", limited.reason, None)
    except UnknownClient as error:
        return _page(action, 400, "invalid_client", error.description, error.reason, client_id)
    try:
        redirect_uri = find_redirect_uri(client.metadata.redirect_uris, requested_redirect)
    except RedirectUriError:
        return _page(
            action,
            400,
            "invalid_request",
            "redirect_uri is not one this client registered",
            "redirect_mismatch",
            client.metadata.client_id,
        )
    # From here on the redirect URI is verified: errors go back to the client.
    state: str | None = None
    try:
        state = request.query_param("state")
        if state is None:
            raise _Refusal("invalid_request", "state is required")
        if len(state) > MAX_STATE_LENGTH:
            state = None
            raise _Refusal("invalid_request", "state is too long")
        login = _validated_request(ctx, request, client)
    except ParameterError as error:
        return _back_to_client(
            ctx,
            action,
            redirect_uri,
            state,
            _Refusal("invalid_request", str(error)),
            client.metadata.client_id,
        )
    except _Refusal as refusal:
        return _back_to_client(ctx, action, redirect_uri, state, refusal, client.metadata.client_id)
    code_challenge, scopes, resource = login
    consented = client.metadata.client_id in ctx.settings.pre_approved_clients
    browser = request.cookies.get(browser_cookie_name(ctx.settings))
    if not is_browser_value(browser):
        browser = new_secret(32)
    assert browser is not None
    upstream_state, nonce, verifier = new_secret(32), new_secret(32), new_secret(48)
    ctx.store.put_login(
        upstream_state,
        client_id=client.metadata.client_id,
        redirect_uri=redirect_uri,
        client_state=state,
        code_challenge=code_challenge,
        scopes=scopes,
        resource=resource,
        nonce=nonce,
        upstream_verifier=verifier,
        browser_hash=digest(browser),
        consented=consented,
        ttl_seconds=ctx.settings.login_ttl_seconds,
    )
    cookie = browser_cookie(browser, ctx.settings)
    if consented:
        location = ctx.upstream.authorization_url(
            state=upstream_state, code_challenge=s256(verifier), nonce=nonce
        )
        return Result(redirect(location, (cookie,)), action, "ok", "pre_approved", client.metadata.client_id)
    page = consent_page(
        client_name=client.metadata.display_name,
        client_id=client.metadata.client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        base_scope=ctx.settings.base_scope,
        consent_url=ctx.settings.endpoint(CONSENT_PATH),
        hidden={"login": upstream_state, "csrf": browser},
        cookie=cookie,
    )
    return Result(page, action, "ok", "consent_shown", client.metadata.client_id)


def _validated_request(
    ctx: FrontContext, request: FrontRequest, client: KnownClient
) -> tuple[str, tuple[str, ...], str]:
    """(code_challenge, scopes, resource) of a well-formed request, else `_Refusal`."""
    if request.query_param("response_type") != "code":
        raise _Refusal("unsupported_response_type", "response_type must be code")
    if "authorization_code" not in client.metadata.grant_types:
        raise _Refusal("unauthorized_client", "this client may not use the authorization code grant")
    challenge = request.query_param("code_challenge")
    method = request.query_param("code_challenge_method")
    if challenge is None:
        raise _Refusal(
            "invalid_request", "PKCE is required: send code_challenge with method S256", "pkce_missing"
        )
    if method != "S256":
        raise _Refusal("invalid_request", "code_challenge_method must be S256", "pkce_method")
    if not is_s256_challenge(challenge):
        raise _Refusal("invalid_request", "code_challenge is not a valid S256 challenge", "pkce_malformed")
    # RFC 8707: the token is for exactly one MCP server of this API (its `aud`); none named is
    # the primary server, as before several servers existed.
    resources = request.query.get("resource", ())
    if len(resources) > 1 or (resources and resources[0] not in ctx.settings.resource_urls):
        raise _Refusal("invalid_target", "resource must be the URL of one of this API's MCP servers")
    resource = resources[0] if resources else ctx.settings.mcp_url
    return challenge, requested_scopes(ctx, request.query_param("scope")), resource


def consent(ctx: FrontContext, request: FrontRequest) -> Result:
    """The consent form's POST: approve → the upstream's login, deny → `access_denied`."""
    action = "consent"
    try:
        upstream_state = request.form_param("login")
        csrf = request.form_param("csrf")
        decision = request.form_param("decision")
    except ParameterError as error:
        return _page(action, 400, "invalid_request", str(error), "invalid_request", None)
    origin = request.headers.get("origin")
    if origin is not None and origin != origin_of(ctx.settings.issuer):
        return _page(action, 403, "access_denied", "the form was not sent from this server", "csrf", None)
    login = ctx.store.get_login(upstream_state) if upstream_state else None
    if login is None:
        return _page(
            action, 400, "invalid_request", "this sign-in has expired or was finished", "state_mismatch", None
        )
    cookie = request.cookies.get(browser_cookie_name(ctx.settings))
    if (
        not is_browser_value(cookie)
        or csrf is None
        or not hmac.compare_digest(cookie or "", csrf)
        or not hmac.compare_digest(digest(cookie or ""), login.browser_hash)
    ):
        return _page(
            action,
            403,
            "access_denied",
            "this sign-in was started in another browser",
            "csrf",
            login.client_id,
        )
    assert upstream_state is not None
    if decision == "deny":
        ctx.store.delete_login(upstream_state)
        refusal = _Refusal("access_denied", "the user denied access", "user_denied")
        return _back_to_client(ctx, action, login.redirect_uri, login.client_state, refusal, login.client_id)
    if decision != "approve" or not ctx.store.mark_consented(upstream_state):
        return _page(
            action,
            400,
            "invalid_request",
            "this sign-in has expired or was finished",
            "state_mismatch",
            login.client_id,
        )
    location = ctx.upstream.authorization_url(
        state=upstream_state, code_challenge=s256(login.upstream_verifier), nonce=login.nonce
    )
    return Result(redirect(location), action, "ok", "approved", login.client_id)


def granted_scopes(
    ctx: FrontContext, asked: Sequence[str], upstream_granted: Sequence[str]
) -> tuple[str, ...]:
    """The asked scopes the upstream did not refuse.

    A scope the front also asks the upstream for (e.g. a Cognito resource-server scope in
    `upstream_scopes`) is granted only if the upstream granted it; the others are the front's
    to grant, on the user's consent.
    """
    requested_upstream = set(ctx.settings.upstream.scopes)
    return tuple(s for s in asked if s not in requested_upstream or s in upstream_granted)


def callback(ctx: FrontContext, request: FrontRequest) -> Result:
    """The upstream's redirect back: finish its login, hand the MCP client a code of ours."""
    action = "callback"
    try:
        upstream_state = request.query_param("state")
        code = request.query_param("code")
        upstream_error = request.query_param("error")
        upstream_iss = request.query_param("iss")
    except ParameterError as error:
        return _page(action, 400, "invalid_request", str(error), "invalid_request", None)
    login = ctx.store.take_login(upstream_state) if upstream_state else None
    if login is None:
        return _page(
            action, 400, "invalid_request", "this sign-in has expired or was finished", "state_mismatch", None
        )
    cookie = request.cookies.get(browser_cookie_name(ctx.settings))
    if not is_browser_value(cookie) or not hmac.compare_digest(digest(cookie or ""), login.browser_hash):
        return _page(
            action,
            403,
            "access_denied",
            "this sign-in was started in another browser",
            "browser_mismatch",
            login.client_id,
        )
    if not login.consented:
        return _page(
            action, 400, "access_denied", "this sign-in was not approved", "consent_missing", login.client_id
        )

    def back(refusal: _Refusal) -> Result:
        return _back_to_client(ctx, action, login.redirect_uri, login.client_state, refusal, login.client_id)

    if upstream_iss is not None and upstream_iss != ctx.settings.upstream.issuer:
        return back(
            _Refusal("server_error", "the identity provider's answer was not from it", "upstream_iss")
        )
    if upstream_error is not None:
        if upstream_error in ("access_denied", "login_required", "consent_required", "interaction_required"):
            return back(
                _Refusal("access_denied", "sign-in at the identity provider was refused", "upstream_denied")
            )
        return back(_Refusal("server_error", "the identity provider reported an error", "upstream_error"))
    if code is None:
        return back(_Refusal("server_error", "the identity provider sent no code", "upstream_error"))
    try:
        grant = ctx.upstream.exchange_code(code, login.upstream_verifier, login.nonce)
    except UpstreamRefused:
        return back(
            _Refusal("access_denied", "the identity provider refused the sign-in", "upstream_refused")
        )
    except UpstreamError:
        return back(
            _Refusal("server_error", "the identity provider could not complete the sign-in", "upstream_error")
        )
    scopes = granted_scopes(ctx, login.scopes, grant.scopes)
    if ctx.settings.base_scope not in scopes:
        refusal = _Refusal("access_denied", "the identity provider did not grant access", "scope_not_granted")
        result = back(refusal)
        return Result(result.response, action, "denied", refusal.reason, login.client_id, grant.subject)
    try:
        tenant = ctx.settings.tenancy.upstream_tenant(grant.id_token_claims)
    except AuthError as error:
        # Refused here, with a page the user can act on, instead of a token every request with
        # which the authorizer would refuse (403).
        refusal = _Refusal("access_denied", _TENANT_REFUSALS[error.reason], str(error.reason))
        result = back(refusal)
        return Result(result.response, action, "denied", refusal.reason, login.client_id, grant.subject)
    our_code = new_secret(32)
    ctx.store.put_code(
        our_code,
        client_id=login.client_id,
        redirect_uri=login.redirect_uri,
        code_challenge=login.code_challenge,
        scopes=scopes,
        subject=grant.subject,
        resource=login.resource,
        upstream_refresh_token=grant.refresh_token,
        ttl_seconds=ctx.settings.code_ttl_seconds,
        tenant=tenant,
    )
    location = with_query(
        login.redirect_uri, {"code": our_code, "state": login.client_state, "iss": ctx.settings.issuer}
    )
    return Result(redirect(location), action, "ok", None, login.client_id, grant.subject)


__all__ = ["authorize", "callback", "consent", "redirect_uri_matches", "urlencode"]
