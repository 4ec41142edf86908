"""`/register`: RFC 7591 dynamic client registration, rate-limited per address and capped.

Registration is open (clients such as Claude Code and Cursor register themselves, and the MCP
spec kept DCR as the fallback to CIMD), so it is bounded: `registration_per_ip_per_hour` per
source address (429 with `Retry-After`), and `registration_max_clients` registrations per
30-day client lifetime in all (then 400 "registration is closed"). A registered client is
forgotten after 30 days without use. A confidential client's secret is returned once and
stored only as its SHA-256 (it is 32 random bytes: no dictionary to try).
"""

from __future__ import annotations

import json
from dataclasses import asdict

from app.oauth.client_metadata import ClientMetadataError, parse_client_metadata
from app.oauth.context import FrontContext
from app.oauth.http import FrontRequest, Result, json_response, oauth_error
from app.oauth.store import RateLimited, RegistrationClosed, digest, new_secret

MAX_REGISTRATION_BYTES = 16 * 1024


def register(ctx: FrontContext, request: FrontRequest) -> Result:
    action = "register"
    settings = ctx.settings
    if not settings.registration_enabled:
        response = oauth_error(400, "invalid_client_metadata", "dynamic client registration is disabled here")
        return Result(response, action, "denied", "registration_disabled")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        response = oauth_error(400, "invalid_client_metadata", "send the client metadata as application/json")
        return Result(response, action, "denied", "invalid_client_metadata")
    if len(request.body) > MAX_REGISTRATION_BYTES:
        response = oauth_error(400, "invalid_client_metadata", "the client metadata is too large")
        return Result(response, action, "denied", "invalid_client_metadata")
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        response = oauth_error(400, "invalid_client_metadata", "the body must be a JSON object")
        return Result(response, action, "denied", "invalid_client_metadata")
    try:
        ctx.store.check_registration_allowed(
            request.source_ip or "unknown",
            per_ip_per_hour=settings.registration_per_ip_per_hour,
            max_clients=settings.registration_max_clients,
        )
    except RateLimited as limited:
        response = oauth_error(
            429,
            "invalid_request",
            "too many registrations from this address: try again later",
            {"Retry-After": str(limited.retry_after)},
        )
        return Result(response, action, "denied", "rate_limited")
    except RegistrationClosed:
        response = oauth_error(400, "invalid_client_metadata", "registration is closed: too many clients")
        return Result(response, action, "denied", "registration_closed")
    client_id = new_secret(18)
    try:
        metadata = parse_client_metadata(document, client_id=client_id, source="registration")
    except ClientMetadataError as error:
        response = oauth_error(400, error.error, error.description)
        return Result(response, action, "denied", error.error)
    public = metadata.token_endpoint_auth_method == "none"  # noqa: S105  # a method name
    secret = None if public else new_secret(32)
    ctx.store.put_client(metadata, digest(secret) if secret is not None else None)
    answer: dict[str, object] = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in asdict(metadata).items()
        if value is not None
    }
    answer["client_id_issued_at"] = ctx.store.now()
    if secret is not None:
        answer["client_secret"] = secret
        answer["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 = does not expire
    return Result(json_response(201, answer), action, "ok", None, client_id)
