"""The front's access tokens: RS256 JWTs signed by a KMS asymmetric key that never leaves KMS.

The private key is KMS's (RSA_2048, SIGN_VERIFY): the function holds only the right to call
`kms:Sign` on it, so a leaked function credential can sign only while it lasts, and no file or
variable anywhere holds the key. The public key is published as a JWKS (`/oauth/jwks.json`)
from `kms:GetPublicKey`, read once per container; the authorizer verifies the tokens through it
like any issuer's.

The `kid` is the first 16 characters of base64url(SHA-256(DER public key)): stable for a key,
new for a new key, derivable by anyone holding the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from app.auth.tenants import FRONT_TENANT_RULE

SIGNING_ALGORITHM: Final = "RSASSA_PKCS1_V1_5_SHA_256"  # KMS's name for JWS RS256


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class KmsSigner:
    """Signs compact JWS with `kms:Sign` and serves the matching JWKS."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id
        self._lock = threading.Lock()
        self._public: tuple[str, dict[str, str]] | None = None  # (kid, jwk)

    def _public_key(self) -> tuple[str, dict[str, str]]:
        with self._lock:
            if self._public is None:
                answer = self._kms.get_public_key(KeyId=self._key_id)
                der: bytes = answer["PublicKey"]
                key = load_der_public_key(der)
                if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
                    raise ValueError("OAUTH_SIGNING_KEY_ID must name an RSA_2048 (or larger) SIGN_VERIFY key")
                kid = b64url(hashlib.sha256(der).digest())[:16]
                numbers = key.public_numbers()
                jwk = {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": kid,
                    "n": _uint(numbers.n),
                    "e": _uint(numbers.e),
                }
                self._public = (kid, jwk)
            return self._public

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [dict(self._public_key()[1])]}

    def sign(self, claims: dict[str, Any], *, typ: str = "at+jwt") -> str:
        kid = self._public_key()[0]
        header = {"alg": "RS256", "typ": typ, "kid": kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        answer = self._kms.sign(
            KeyId=self._key_id,
            Message=signing_input.encode("ascii"),
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        signature: bytes = answer["Signature"]
        return signing_input + "." + b64url(signature)

    def clear(self) -> None:
        with self._lock:
            self._public = None


def access_token_claims(
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scopes: Sequence[str],
    now: int,
    ttl_seconds: int,
    tenant: str | None = None,
) -> dict[str, Any]:
    """The claims of a front access token (RFC 9068 names): bound to the MCP URL, one user, one client.

    `tenant`: the user's tenant as the upstream named it at sign-in (`FRONT_TENANT_RULE`).
    """
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if tenant is not None:
        claims[FRONT_TENANT_RULE.claim] = tenant
    return claims
