"""A loopback OpenID issuer with one RSA and one EC P-256 key, for the authorizer benchmark.

`devtools.dev_issuer.DevIssuer` signs RS256 only; the benchmark also needs ES256. Serving the
discovery document and JWKS over HTTP on 127.0.0.1 lets the authorizer run its real, unpatched
code path in its worker: discovery, JWKS fetch through its own fetcher, cache, verification.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class BenchIssuer:
    """Keys, documents and tokens; `start()` serves the documents on a loopback port."""

    def __init__(self) -> None:
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._ec = ec.generate_private_key(ec.SECP256R1())
        self._kids = {"RS256": "rsa-" + uuid.uuid4().hex[:8], "ES256": "ec-" + uuid.uuid4().hex[:8]}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-issuer", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> BenchIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        rsa_jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._rsa.public_key()))
        ec_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self._ec.public_key()))
        rsa_jwk.update({"kid": self._kids["RS256"], "alg": "RS256", "use": "sig"})
        ec_jwk.update({"kid": self._kids["ES256"], "alg": "ES256", "use": "sig"})
        return {"keys": [rsa_jwk, ec_jwk]}

    def documents(self) -> dict[str, dict[str, Any]]:
        discovery = {"issuer": self.url, "jwks_uri": f"{self.url}/jwks.json"}
        return {"/.well-known/openid-configuration": discovery, "/jwks.json": self.jwks()}

    def mint(self, alg: str, audience: str, scopes: str = "mcp/access mcp/profile") -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "bench-user",
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + 6 * 3600,
            "jti": uuid.uuid4().hex,
            "client_id": "bench-client",
            "scope": scopes,
        }
        key = self._rsa if alg == "RS256" else self._ec
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": self._kids[alg]})


def _handler_for(issuer: BenchIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        owner: ClassVar[BenchIssuer] = issuer

        def do_GET(self) -> None:
            document = self.owner.documents().get(self.path)
            body = json.dumps(document if document is not None else {"error": "not_found"}).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler
