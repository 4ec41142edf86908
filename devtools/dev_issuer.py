"""A local OpenID Connect issuer for development and tests: its own key, discovery, JWKS, tokens.

The authorizer validates its tokens through the normal path (discovery document → JWKS →
signature and claims), so `make dev` and the end-to-end tests exercise the real JWT code. The
RSA key is generated when the issuer starts and lives only in memory: no key is ever written
to the repository.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_CLIENT_ID = "mcp-lambda-dev"


class DevIssuer:
    """Signs RS256 access tokens for `issuer_url` with a key generated at construction."""

    def __init__(self, issuer_url: str) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer_url}/jwks.json"

    def discovery(self) -> dict[str, Any]:
        """OpenID discovery and RFC 8414 metadata (the same document, served at both URLs).

        `authorization_endpoint` is required by the SDK's metadata model even for a
        client-credentials-only server; this issuer's answers every request with an RFC 6749
        error saying that it has no interactive sign-in (`mcp-lambda token` mints tokens).
        """
        return {
            "issuer": self.issuer_url,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": f"{self.issuer_url}/authorize",
            "token_endpoint": f"{self.issuer_url}/token",
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [public]}

    def documents(self) -> dict[str, dict[str, Any]]:
        """URL → JSON document, for an in-process fetcher (no HTTP needed)."""
        return {
            f"{self.issuer_url}/.well-known/openid-configuration": self.discovery(),
            f"{self.issuer_url}/.well-known/oauth-authorization-server": self.discovery(),
            self.jwks_url: self.jwks(),
        }

    def fetch_json(self, url: str, timeout: float) -> dict[str, Any]:
        """A drop-in for the authorizer's JWKS fetcher that serves this issuer's documents."""
        try:
            return self.documents()[url]
        except KeyError:
            raise OSError(f"dev issuer has no document at {url}") from None

    def mint(
        self,
        *,
        audience: str | list[str] | None,
        scopes: Iterable[str] = ("mcp/access",),
        subject: str = "dev-user",
        client_id: str = DEFAULT_CLIENT_ID,
        expires_in: int = 3600,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer_url,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + expires_in,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "scope": " ".join(scopes),
        }
        if audience is not None:
            claims["aud"] = audience
        claims.update(extra_claims or {})
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})


class _Handler(BaseHTTPRequestHandler):
    issuer: DevIssuer
    audience: str | None = None

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/authorize":
            description = "this development issuer has no interactive sign-in: use `mcp-lambda token`"
            self._reply(400, {"error": "unsupported_response_type", "error_description": description})
            return
        document = self.issuer.documents().get(f"{self.issuer.issuer_url}{self.path}")
        self._reply(200 if document is not None else 404, document or {"error": "not_found"})

    def do_POST(self) -> None:
        """A development-only token endpoint: any caller on 127.0.0.1 gets the token it asks for.

        Form fields: `scope` (space separated), `expires_in` (seconds), `sub`. This is what
        `mcp-lambda token` calls; it exists only in the local issuer, never in a deployment.
        """
        if self.path != "/token":
            self._reply(404, {"error": "not_found"})
            return
        length = min(int(self.headers.get("Content-Length") or 0), 16384)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        try:
            expires_in = int(form.get("expires_in", ["3600"])[0])
        except ValueError:
            self._reply(400, {"error": "invalid_request", "error_description": "expires_in must be seconds"})
            return
        scopes = form.get("scope", ["mcp/access"])[0].split()
        subject = form.get("sub", ["dev-user"])[0]
        token = self.issuer.mint(
            audience=self.audience, scopes=scopes, subject=subject, expires_in=expires_in
        )
        reply = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": " ".join(scopes),
        }
        self._reply(200, reply)

    def _reply(self, status: int, document: Mapping[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the local stack prints its own summary."""


class DevIssuerServer:
    """Serves a `DevIssuer`'s discovery document and JWKS over HTTP on 127.0.0.1."""

    def __init__(self, port: int = 0, *, audience: str | None = None) -> None:
        """`audience`: the `aud` of tokens from the token endpoint (the local MCP URL)."""
        server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.issuer = DevIssuer(f"http://127.0.0.1:{server.server_port}")
        # A subclass per server, so two servers in one process keep their own issuer.
        attributes = {"issuer": self.issuer, "audience": audience}
        server.RequestHandlerClass = type("DevIssuerHandler", (_Handler,), attributes)
        self._server = server
        self._thread = threading.Thread(target=self._server.serve_forever, name="dev-issuer", daemon=True)

    def start(self) -> DevIssuer:
        self._thread.start()
        return self.issuer

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
