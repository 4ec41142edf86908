"""The authorizer's floor: one `jwt.decode` with the verification key already in hand.

Not an MCP contender: it is what a JWT decision cannot go below (signature, issuer, audience
and expiry checks by PyJWT), against which the authorizer handler's decision is compared.
The public keys arrive as a JWKS document in `BENCH_JWKS` and are parsed at import, so no
key lookup or fetch is timed. Events are `{"token": ..., "alg": ...}`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwt

_ISSUER = os.environ["BENCH_ISSUER"]
_AUDIENCE = os.environ["BENCH_AUDIENCE"]
_KEYS: dict[str, Any] = {
    entry["alg"]: jwt.PyJWK(entry).key for entry in json.loads(os.environ["BENCH_JWKS"])["keys"]
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    alg = event["alg"]
    claims: dict[str, Any] = jwt.decode(
        event["token"], _KEYS[alg], algorithms=[alg], audience=_AUDIENCE, issuer=_ISSUER
    )
    return claims
