"""The real JWKS fetcher over real HTTP on 127.0.0.1: discovery, limits, redirects, timeouts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import MAX_JWKS_RESPONSE_BYTES, JwksCache, JwksFetchError, fetch_json
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier

MCP_URL = "https://api.example.com/prod/mcp"


class IssuerHandler(BaseHTTPRequestHandler):
    """A tiny OIDC issuer: discovery, JWKS, and misbehaving endpoints."""

    routes: ClassVar[dict[str, tuple[int, str, bytes, dict[str, str]]]] = {}
    hits: ClassVar[list[str]] = []
    slow_seconds: ClassVar[float] = 1.0

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/slow":
            time.sleep(self.slow_seconds)
        status, content_type, body, headers = self.routes.get(self.path, (404, "text/plain", b"nope", {}))
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), IssuerHandler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    jwk = json.loads(jwt.get_algorithm_by_name("RS256").to_jwk(signing_key.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "local-1", "alg": "RS256", "use": "sig"}]}).encode()
    discovery = json.dumps({"issuer": base, "jwks_uri": f"{base}/jwks"}).encode()
    IssuerHandler.routes = {
        "/.well-known/openid-configuration": (200, "application/json", discovery, {}),
        "/jwks": (200, "application/jwk-set+json", jwks, {}),
        "/text": (200, "text/html", jwks, {}),
        "/big": (200, "application/json", b"[" + b"0," * (MAX_JWKS_RESPONSE_BYTES // 2) + b"0]", {}),
        "/array": (200, "application/json", b"[1, 2]", {}),
        "/not-json": (200, "application/json", b"{nope", {}),
        "/error": (500, "application/json", b"{}", {}),
        "/redirect-ok": (302, "text/plain", b"", {"Location": f"{base}/jwks"}),
        "/redirect-http": (302, "text/plain", b"", {"Location": "http://keys.example.com/jwks"}),
        "/redirect-file": (302, "text/plain", b"", {"Location": "file:///etc/passwd"}),
        "/slow": (200, "application/json", jwks, {}),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def test_fetch_json_reads_a_jwks(issuer: str) -> None:
    document = fetch_json(f"{issuer}/jwks", 2.0)
    assert document["keys"][0]["kid"] == "local-1"


def test_fetch_json_follows_a_safe_redirect(issuer: str) -> None:
    assert fetch_json(f"{issuer}/redirect-ok", 2.0)["keys"][0]["kid"] == "local-1"


@pytest.mark.parametrize(
    "path", ["/text", "/big", "/array", "/not-json", "/error", "/missing", "/redirect-http", "/redirect-file"]
)
def test_fetch_json_refuses_bad_responses(issuer: str, path: str) -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - any exception: JwksCache maps them all
        fetch_json(f"{issuer}{path}", 2.0)
    assert not isinstance(info.value, AuthError)


def test_fetch_json_times_out(issuer: str) -> None:
    # The server answers correctly, but only after 1 s: with a 0.2 s budget that is a failure.
    IssuerHandler.slow_seconds = 1.0
    with pytest.raises((TimeoutError, OSError, JwksFetchError)):
        fetch_json(f"{issuer}/slow", 0.2)


def test_discovery_then_verify_a_real_token(issuer: str, signing_key: rsa.RSAPrivateKey) -> None:
    settings = JwtSettings(issuer=issuer, audiences=(MCP_URL,))
    now = 1_800_000_000
    verifier = JwtVerifier(settings, JwksCache(settings), clock=lambda: now)
    token = jwt.encode(
        {
            "iss": issuer,
            "sub": "dev-user",
            "aud": MCP_URL,
            "iat": now,
            "exp": now + 300,
            "scope": "mcp/access",
        },
        signing_key,
        algorithm="RS256",
        headers={"kid": "local-1"},
    )
    IssuerHandler.hits.clear()
    principal = verifier.verify(token)
    verifier.verify(token)
    assert principal.subject == "dev-user"
    assert principal.scopes == frozenset({"mcp/access"})
    assert IssuerHandler.hits == ["/.well-known/openid-configuration", "/jwks"]


def test_issuer_down_fails_closed() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = JwtSettings(
        issuer=f"http://127.0.0.1:{port}", audiences=(MCP_URL,), jwks_fetch_timeout_seconds=0.5
    )
    with pytest.raises(AuthError) as info:
        JwksCache(settings).get_key("local-1")
    assert info.value.reason is ReasonCode.JWKS_UNAVAILABLE
