"""Test helpers for the auth package: fake clocks, a fake JWKS fetcher, token minting.

Keys are generated at test time (see ``conftest.py``); nothing here holds key material.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.auth.api_keys import KeyStore

ISSUER = "https://issuer.example.com/"
JWKS_URL = "https://issuer.example.com/.well-known/jwks.json"
DISCOVERY_URL = "https://issuer.example.com/.well-known/openid-configuration"
MCP_URL = "https://api.example.com/prod/mcp"
OTHER_MCP_URL = "https://other-mcp.example.com/mcp"
COGNITO_CLIENT_ID = "cognito-app-client"
BASE_SCOPE = "mcp/access"
NOW = 1_800_000_000  # fixed epoch seconds: tests never read the wall clock

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class FakeClock:
    """A settable clock: ``clock()`` returns ``now``; ``advance`` moves it forward."""

    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeFetcher:
    """``fetch_json`` stand-in: URL -> document, or an exception to raise. Counts calls."""

    documents: dict[str, dict[str, Any] | BaseException] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    timeouts: list[float] = field(default_factory=list)

    def __call__(self, url: str, timeout: float) -> dict[str, Any]:
        self.calls[url] += 1
        self.timeouts.append(timeout)
        if url not in self.documents:
            raise OSError(f"no route to {url}")
        document = self.documents[url]
        if isinstance(document, BaseException):
            raise document
        copy: dict[str, Any] = json.loads(json.dumps(document))  # a fresh copy, like a real fetch
        return copy

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True)
class SigningKey:
    """A private key generated for the test session and the public JWK that matches it."""

    kid: str
    alg: str
    private: PrivateKey
    jwk: dict[str, Any]


def public_jwk(key: SigningKey | PrivateKey, kid: str, alg: str | None) -> dict[str, Any]:
    """The public JWK of ``key`` with ``kid`` (and ``alg`` when given)."""
    private = key.private if isinstance(key, SigningKey) else key
    algorithm = jwt.get_algorithm_by_name(alg or _default_alg(private))
    document: dict[str, Any] = json.loads(algorithm.to_jwk(private.public_key()))
    document["kid"] = kid
    document["use"] = "sig"
    if alg is not None:
        document["alg"] = alg
    return document


def _default_alg(private: PrivateKey) -> str:
    if isinstance(private, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return "ES256"
    return "EdDSA"


def token_claims(**overrides: Any) -> dict[str, Any]:
    """Valid access-token claims for this server; ``None`` as an override removes a claim."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-123",
        "aud": MCP_URL,
        "iat": NOW - 10,
        "exp": NOW + 300,
        "scope": f"{BASE_SCOPE} tools:read",
        "client_id": "example-client",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def mint(
    key: SigningKey,
    claims: dict[str, Any] | None = None,
    *,
    alg: str | None = None,
    kid: str | None = "__key__",
    headers: dict[str, Any] | None = None,
) -> str:
    """Sign ``claims`` (default: :func:`token_claims`) with ``key``.

    ``kid`` defaults to the key's own; pass ``None`` to leave it out.
    """
    header: dict[str, Any] = dict(headers or {})
    if kid is not None:
        header["kid"] = key.kid if kid == "__key__" else kid
    return jwt.encode(
        token_claims() if claims is None else claims,
        key.private,
        algorithm=alg or key.alg,
        headers=header,
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge_hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HS256 token made by hand (PyJWT refuses to use a PEM public key as an HMAC secret)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` style token: header and claims, empty signature."""
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def replace_payload(token: str, claims: dict[str, Any]) -> str:
    """Keep header and signature, swap the payload: a tampered token."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def flip_signature(token: str) -> str:
    """Change one character in the middle of the signature (never only padding bits)."""
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    replacement = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{replacement}{signature[middle + 1 :]}"


@dataclass
class ApiKeys:
    """A key store with one key in each interesting state, and their plaintexts."""

    store: KeyStore
    valid: str
    revoked: str
    expired: str
    no_base_scope: str
