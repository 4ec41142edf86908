"""Lambda entry point of the authorization front: API Gateway REST (v1) proxy event in, response out.

Routing uses the route API Gateway matched (`resource`, with `{proxy+}` filled in from
`pathParameters`), never the raw `path`: behind a stage or a custom domain's base path the raw
path carries a prefix the function cannot know, while the resource is the API's own route.

Nothing is built at import beyond constants: the AWS clients, the settings and the signer's
public key are made on first use and kept for the container (and dropped after a SnapStart
restore). Every request writes one audit event; any unexpected failure is a JSON
`server_error` (500) without details, and the audit names only the exception's class. AWS not
answering (the settings' SSM read, DynamoDB or KMS: refused, timed out, throttled, failing on its
side) is not the front's fault nor the client's: a 503 `temporarily_unavailable` with
`Retry-After`, so a client retries instead of giving up on a sign-in (docs/resilience.md).
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs

from app.auth.front import (
    AUTHORIZATION_SERVER_METADATA_PATHS,
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    CONSENT_PATH,
    JWKS_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from app.core.audit import AuditEvent, emit
from app.core.config import ConfigurationError, SettingUnavailable, describe_read_failure, retry_after_seconds
from app.core.log_levels import apply_log_levels
from app.core.snapstart import register_after_restore, reseed_random
from app.oauth import authorization, registration, token_endpoint
from app.oauth.cimd import CIMD_REFUSAL_SECONDS, CimdFetcher
from app.oauth.context import FrontContext
from app.oauth.cors import with_cors
from app.oauth.http import FrontRequest, Response, Result, json_response, oauth_error
from app.oauth.metadata import authorization_server_metadata
from app.oauth.settings import FrontSettings, FrontSettingsSource
from app.oauth.signer import KmsSigner
from app.oauth.store import FrontStore, Sealer
from app.oauth.upstream import UpstreamClient, UpstreamConfig

MAX_BODY_BYTES: Final = 64 * 1024
MAX_FORM_FIELDS: Final = 32
FORM_TYPE: Final = "application/x-www-form-urlencoded"

apply_log_levels()

Flow = Callable[[FrontContext, FrontRequest], Result]
# (path, method) → flow; the metadata and JWKS routes need no state and are served below.
_FLOWS: Final[dict[tuple[str, str], tuple[Flow, bool]]] = {
    # flow, whether it reads a form body
    (AUTHORIZE_PATH, "GET"): (authorization.authorize, False),
    (CONSENT_PATH, "POST"): (authorization.consent, True),
    (CALLBACK_PATH, "GET"): (authorization.callback, False),
    (TOKEN_PATH, "POST"): (token_endpoint.token, True),
    (REVOKE_PATH, "POST"): (token_endpoint.revoke, True),
    (REGISTER_PATH, "POST"): (registration.register, False),
}
_METHODS: Final = {
    **{path: "GET" for path in (*AUTHORIZATION_SERVER_METADATA_PATHS, JWKS_PATH)},
    **{path: method for path, method in _FLOWS},
}


class Front:
    """The container's state: settings source, AWS clients, signer, upstream client, CIMD fetcher."""

    def __init__(self) -> None:
        self.settings_source = FrontSettingsSource()
        self._lock = threading.Lock()
        self._context: tuple[FrontSettings, FrontContext] | None = None
        self._clients: tuple[Any, Any] | None = None
        self._signer: tuple[str, KmsSigner] | None = None
        self._fetcher: CimdFetcher | None = None
        self.cimd_ssl_context: ssl.SSLContext | None = None
        self.cimd_allow_loopback = False
        # Seams for tests: how the upstream client and the CIMD fetcher are made.
        self.upstream_factory: Callable[[UpstreamConfig], UpstreamClient] = UpstreamClient
        self.fetcher_factory: Callable[[], CimdFetcher] = lambda: CimdFetcher(
            ssl_context=self.cimd_ssl_context,
            allow_loopback=self.cimd_allow_loopback,
            negative_cache_seconds=CIMD_REFUSAL_SECONDS,
        )

    def context(self) -> FrontContext:
        settings = self.settings_source.settings()
        with self._lock:
            if self._context is not None and self._context[0] is settings:
                return self._context[1]
            if self._clients is None:
                import boto3

                self._clients = (boto3.client("dynamodb"), boto3.client("kms"))
            dynamodb, kms = self._clients
            if self._signer is None or self._signer[0] != settings.signing_key_id:
                self._signer = (settings.signing_key_id, KmsSigner(kms, settings.signing_key_id))
            if self._fetcher is None:
                self._fetcher = self.fetcher_factory()
            context = FrontContext(
                settings=settings,
                store=FrontStore(dynamodb, settings.table_name, Sealer(kms, settings.sealing_key_id)),
                signer=self._signer[1],
                upstream=self.upstream_factory(settings.upstream),
                fetcher=self._fetcher,
            )
            self._context = (settings, context)
            return context

    def reset(self) -> None:
        with self._lock:
            self._context = None
            self._clients = None
            self._signer = None
            self._fetcher = None
        self.settings_source.clear()


_front = Front()


def configure_development(*, cimd_ssl_context: ssl.SSLContext | None, cimd_allow_loopback: bool) -> None:
    """For the local stack only: trust a test CA and loopback hosts when fetching CIMD documents.

    A Python call, never an environment variable, so no deployed configuration can turn off the
    CIMD fetch's address checks: a deployed function never runs this.
    """
    _front.cimd_ssl_context = cimd_ssl_context
    _front.cimd_allow_loopback = cimd_allow_loopback
    _front.reset()


def after_restore() -> None:
    """SnapStart: drop settings, clients (their sockets), the signer's key and the CIMD cache."""
    _front.reset()
    reseed_random()


register_after_restore(after_restore)


def route_path(event: Mapping[str, Any]) -> str | None:
    """The API route the request matched, with `{proxy+}` filled in; None if it names none."""
    resource = event.get("resource") or (event.get("requestContext") or {}).get("resourcePath")
    if not isinstance(resource, str):
        return None
    if resource.endswith("/{proxy+}"):
        proxy = (event.get("pathParameters") or {}).get("proxy")
        if not isinstance(proxy, str) or not proxy:
            return None
        return resource[: -len("{proxy+}")] + proxy
    return resource


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in (event.get("headers") or {}).items():
        if isinstance(name, str) and isinstance(value, str):
            headers[name.lower()] = value
    return headers


def _cookies(event: Mapping[str, Any]) -> dict[str, str]:
    values: list[str] = []
    for name, items in (event.get("multiValueHeaders") or {}).items():
        if isinstance(name, str) and name.lower() == "cookie" and isinstance(items, list):
            values.extend(str(item) for item in items)
    if not values:
        values = [value for name, value in _headers(event).items() if name == "cookie"]
    cookies: dict[str, str] = {}
    for header in values:
        for pair in header.split(";"):
            name, eq, value = pair.strip().partition("=")
            if eq and name and name not in cookies:
                cookies[name] = value.strip()
    return cookies


def _query(event: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, Mapping):
        return {
            str(k): tuple(str(v) for v in values) for k, values in multi.items() if isinstance(values, list)
        }
    single = event.get("queryStringParameters") or {}
    return {str(k): (str(v),) for k, v in single.items() if v is not None}


def _body(event: Mapping[str, Any]) -> bytes | None:
    """The body's bytes; None if it is not valid base64 (a client error)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return raw.encode()


def _form(body: bytes) -> dict[str, tuple[str, ...]] | None:
    try:
        parsed = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: tuple(values) for name, values in parsed.items()}


def _to_proxy(response: Response) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.body,
        "isBase64Encoded": False,
    }
    if response.cookies:
        answer["multiValueHeaders"] = {"Set-Cookie": list(response.cookies)}
    return answer


def handle(event: Mapping[str, Any], front: Front) -> tuple[Response, AuditEvent]:
    """Answer one request; returns the response and the audit event to write (logic is in the flows)."""
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    audit = AuditEvent(
        source="oauth",
        action="unknown",
        outcome="denied",
        request_id=context.get("requestId"),
        source_ip=identity.get("sourceIp") or None,
        user_agent=identity.get("userAgent") or None,
    )
    path = route_path(event)
    method = str(event.get("httpMethod") or "").upper()
    if path is None or path not in _METHODS:
        audit.reason = "not_found"
        return oauth_error(404, "invalid_request", "no such endpoint"), audit
    audit.action = _action(path)
    if method != _METHODS[path]:
        audit.reason = "method_not_allowed"
        return oauth_error(405, "invalid_request", f"use {_METHODS[path]}", {"Allow": _METHODS[path]}), audit
    try:
        ctx = front.context()
        if path in AUTHORIZATION_SERVER_METADATA_PATHS:
            audit.outcome = "ok"
            return json_response(
                200, authorization_server_metadata(ctx.settings), {"Cache-Control": "max-age=300"}
            ), audit
        if path == JWKS_PATH:
            audit.outcome = "ok"
            return json_response(200, ctx.signer.jwks(), {"Cache-Control": "max-age=300"}), audit
        flow, reads_form = _FLOWS[(path, method)]
        body = _body(event)
        if body is None or len(body) > MAX_BODY_BYTES:
            audit.reason = "invalid_request"
            return oauth_error(
                400 if body is None else 413, "invalid_request", "the body is malformed or too large"
            ), audit
        headers = _headers(event)
        form: dict[str, tuple[str, ...]] = {}
        if reads_form:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            parsed = _form(body) if content_type == FORM_TYPE else None
            if parsed is None:
                audit.reason = "invalid_request"
                return oauth_error(400, "invalid_request", f"send the parameters as {FORM_TYPE}"), audit
            form = parsed
        request = FrontRequest(
            method=method,
            path=path,
            query=_query(event),
            form=form,
            headers=headers,
            cookies=_cookies(event),
            body=body,
            source_ip=audit.source_ip,
            user_agent=audit.user_agent,
            request_id=audit.request_id,
        )
        result = flow(ctx, request)
    except SettingUnavailable as error:
        if error.transient:
            audit.outcome, audit.reason = "error", "settings_unavailable"
            return _unavailable(), audit
        audit.outcome, audit.reason = "error", "configuration"
        return oauth_error(500, "server_error", "the authorization server is misconfigured"), audit
    except ConfigurationError:
        audit.outcome, audit.reason = "error", "configuration"
        return oauth_error(500, "server_error", "the authorization server is misconfigured"), audit
    except Exception as error:  # never a stack trace to the client; the class name to the audit
        failure, transient = describe_read_failure(error)
        if transient:
            audit.outcome, audit.reason = "error", f"aws_unavailable:{failure}"
            return _unavailable(), audit
        audit.outcome, audit.reason = "error", f"exception:{type(error).__name__}"
        return oauth_error(500, "server_error", "the authorization server failed"), audit
    audit.action = result.action
    audit.outcome = result.outcome
    audit.reason = result.reason
    audit.client_id = result.client_id
    audit.principal = result.principal
    return result.response, audit


def _unavailable() -> Response:
    """RFC 6749 §4.1.2.1's `temporarily_unavailable`, as a 503 with when to retry (RFC 9110 §10.2.3)."""
    return oauth_error(
        503,
        "temporarily_unavailable",
        "the authorization server cannot reach its storage right now; retry shortly",
        {"Retry-After": retry_after_seconds(), "Cache-Control": "no-store"},
    )


def _action(path: str) -> str:
    if path in AUTHORIZATION_SERVER_METADATA_PATHS:
        return "metadata"
    return path.rsplit("/", 1)[-1].removesuffix(".json")


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    started = time.perf_counter()
    response, audit = handle(event, _front)
    response = with_cors(route_path(event), response)  # app/oauth/cors.py: which routes, and why
    audit.status = response.status
    audit.latency_ms = round((time.perf_counter() - started) * 1000, 3)
    emit(audit)
    return _to_proxy(response)
