"""A front on moto (DynamoDB, KMS, SSM, Secrets Manager) with an in-process upstream, for the flow tests.

Requests go through `app.oauth.handler.handle` as REST v1 proxy events, so routing, body and
cookie parsing, and the audit event are exercised with every flow. `Browser` keeps the front's
cookie like a browser would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import secrets
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
from moto import mock_aws

from app.core import audit
from app.core.config import SettingsSource
from app.oauth.handler import Front, handle
from app.oauth.http import Response
from app.oauth.settings import FrontSettingsSource
from app.oauth.upstream import UpstreamConfig, UpstreamError, UpstreamGrant, UpstreamRefused

MCP_URL = "https://api.example.test/prod/mcp"
ISSUER = "https://api.example.test/prod/oauth"
UPSTREAM = "https://idp.example.test"
REDIRECT = "http://127.0.0.1:33418/callback"
TABLE = "front-table"
REGION = "us-east-1"


class FakeUpstream:
    """The upstream OIDC provider as the front sees it through `UpstreamClient`."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self.subject = "user-1"
        self.scopes: tuple[str, ...] = ("openid", "email")
        self.refused = False
        self.down = False
        self.codes: dict[str, tuple[str, str]] = {}  # upstream code → (verifier challenge, nonce)
        self.refreshes = 0

    def authorization_url(self, *, state: str, code_challenge: str, nonce: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = (code_challenge, nonce)
        query = urlencode(
            {"state": state, "code_challenge": code_challenge, "nonce": nonce, "test_code": code}
        )
        return f"{UPSTREAM}/authorize?{query}"

    def exchange_code(self, code: str, code_verifier: str, nonce: str) -> UpstreamGrant:
        challenge, expected_nonce = self.codes.pop(code, ("", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=")
        if digest.decode() != challenge or nonce != expected_nonce:
            raise UpstreamRefused("bad code")
        return UpstreamGrant(self.subject, self.scopes, "upstream-refresh-1", None, {"sub": self.subject})

    def refresh(self, refresh_token: str, *, subject: str) -> UpstreamGrant:
        if self.down:
            raise UpstreamError("temporarily_unavailable", "down")
        if self.refused:
            raise UpstreamRefused("user disabled")
        self.refreshes += 1
        return UpstreamGrant(subject, self.scopes, f"upstream-refresh-{self.refreshes + 1}", None, {})


def settings_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "upstream_issuer": UPSTREAM,
        "upstream_client_id": "front-client",
        "scopes": ["mcp/access", "mcp/admin"],
        "preregistered_clients": [
            {"client_id": "inspector", "client_name": "Team Inspector", "redirect_uris": [REDIRECT]}
        ],
        "pre_approved_clients": [],
        "registration_per_ip_per_hour": 3,
        "registration_max_clients": 5,
    }
    document.update(overrides)
    return document


@dataclass
class Aws:
    signing_key: str
    sealing_key: str
    env: dict[str, str]


def create_aws(document: Mapping[str, Any]) -> Aws:
    """Inside `mock_aws`: the table, both keys, the settings parameter and the upstream secret."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    kms = boto3.client("kms", region_name=REGION)
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    sealing = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/mcp/url", Value=MCP_URL, Type="String")
    ssm.put_parameter(Name="/mcp/front", Value=json.dumps(document), Type="String")
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="front-upstream", SecretString=json.dumps({"client_secret": secrets.token_urlsafe(24)})
    )
    return Aws(signing, sealing, front_function_env(signing, sealing))


def front_function_env(signing: str, sealing: str) -> dict[str, str]:
    """The front function's environment naming what `create_aws` made (settings read every time)."""
    return {
        "MCP_URL_PARAMETER": "/mcp/url",
        "OAUTH_FRONT_SETTINGS_PARAMETER": "/mcp/front",
        "OAUTH_UPSTREAM_SECRET_ID": "front-upstream",
        "OAUTH_TABLE_NAME": TABLE,
        "OAUTH_SIGNING_KEY_ID": signing,
        "OAUTH_SEALING_KEY_ID": sealing,
        "CONFIG_CACHE_SECONDS": "0",
    }


class AuditLines:
    """Captures the audit trail's lines (the trail's `stream` seam, as tests/unit/test_audit.py does)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def last(self) -> dict[str, Any]:
        return self.events()[-1]


def capture_audit() -> Generator[AuditLines, None, None]:
    lines = AuditLines()
    previous, audit.trail.stream = audit.trail.stream, lines.stream
    try:
        yield lines
    finally:
        audit.trail.stream = previous


def make_front(env: Mapping[str, str]) -> tuple[Front, list[FakeUpstream]]:
    front = Front()
    front.settings_source = FrontSettingsSource(SettingsSource(env=dict(env)))
    upstreams: list[FakeUpstream] = []

    def factory(config: UpstreamConfig) -> Any:
        upstreams.append(FakeUpstream(config))
        return upstreams[-1]

    front.upstream_factory = factory
    return front, upstreams


def event(
    method: str,
    path: str,
    *,
    query: Mapping[str, str | list[str]] | None = None,
    form: Mapping[str, str] | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    """A REST v1 proxy event as API Gateway sends it for the front's routes."""
    all_headers = {"User-Agent": "test-agent", **(headers or {})}
    body: str | None = None
    if form is not None:
        body = urlencode(form)
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif json_body is not None:
        body = json.dumps(json_body)
        all_headers.setdefault("Content-Type", "application/json")
    multi_query = {k: v if isinstance(v, list) else [v] for k, v in (query or {}).items()} or None
    resource = path if path.startswith("/.well-known") or path.count("/") == 1 else "/oauth/{proxy+}"
    if path.startswith("/oauth/.well-known"):
        resource = path
    proxy = path.removeprefix("/oauth/") if resource.endswith("{proxy+}") else None
    return {
        "resource": resource,
        "path": "/prod" + path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "requestContext": {
            "requestId": "req-" + secrets.token_hex(4),
            "resourcePath": resource,
            "stage": "prod",
            "identity": {"sourceIp": source_ip, "userAgent": "test-agent"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Browser:
    """Sends requests to the front keeping its cookie, as a browser would."""

    front: Front
    cookies: dict[str, str] = field(default_factory=dict)

    def send(self, raw_event: dict[str, Any]) -> Response:
        if self.cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            raw_event["headers"]["Cookie"] = cookie
            raw_event["multiValueHeaders"]["Cookie"] = [cookie]
        response, audit_event = handle(raw_event, self.front)
        audit_event.status = response.status
        audit.emit(audit_event)
        for set_cookie in response.cookies:
            name, _, rest = set_cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response


def hidden_fields(page: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page))


# --- the flows' common steps -----------------------------------------------------------------


@dataclass
class Env:
    front: Front
    upstreams: list[FakeUpstream]
    audit: AuditLines

    @property
    def upstream(self) -> FakeUpstream:
        return self.upstreams[-1]


@contextlib.contextmanager
def front_env(
    monkeypatch: pytest.MonkeyPatch, document: Mapping[str, Any], extra_env: Mapping[str, str] | None = None
) -> Iterator[Env]:
    """A front on moto with `document` as its settings (and `extra_env`), its audit lines captured."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws = create_aws(document)
        front, upstreams = make_front({**aws.env, **(extra_env or {})})
        lines = capture_audit()
        audit_lines = next(lines)
        try:
            yield Env(front, upstreams, audit_lines)
        finally:
            lines.close()


def authorize_query(challenge: str, **overrides: str | list[str]) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {
        "response_type": "code",
        "client_id": "inspector",
        "redirect_uri": REDIRECT,
        "state": "client-state-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": MCP_URL,
        "scope": "mcp/access",
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v != ""}


def sign_in(env: Env, browser: Browser, challenge: str, **overrides: str | list[str]) -> Response:
    """authorize → consent (approve) → the upstream's callback; returns the callback's response."""
    page = browser.send(event("GET", "/oauth/authorize", query=authorize_query(challenge, **overrides)))
    assert page.status == 200, page.body
    fields = hidden_fields(page.body)
    approved = browser.send(event("POST", "/oauth/consent", form={**fields, "decision": "approve"}))
    assert approved.status == 302
    upstream_query = query_of(approved.headers["Location"])
    return browser.send(
        event(
            "GET",
            "/oauth/callback",
            query={"state": upstream_query["state"], "code": upstream_query["test_code"]},
        )
    )


def redeem(env: Env, code: str, verifier: str, client_id: str = "inspector", **extra: str) -> Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "resource": MCP_URL,
        **extra,
    }
    return Browser(env.front).send(event("POST", "/oauth/token", form=form))


def body(response: Response) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(response.body)
    return document


def tokens_for(env: Env) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge)
    code = query_of(callback.headers["Location"])["code"]
    response = redeem(env, code, verifier)
    assert response.status == 200, response.body
    return body(response)
