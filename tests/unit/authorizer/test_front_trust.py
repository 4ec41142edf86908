"""The authorizer trusts the authorization front's tokens exactly as strictly as the upstream's.

The front (`app/oauth/`) signs RS256 access tokens with header `typ: at+jwt` (RFC 9068 §2.1),
`iss` = `front_issuer(MCP_URL)`, `aud` = MCP_URL (RFC 8707), and publishes its keys at
`front_jwks_url(MCP_URL)`. Here a test RSA key plays the front's KMS key: its JWKS is served
over real HTTP on 127.0.0.1 (the MCP URL is a loopback URL, so the front's JWKS URL is that
server), and the upstream is the development issuer, also over HTTP. The gatekeeper fetches
both with its real fetcher.

RFC 9068 §4 (validating JWT access tokens): the resource server MUST check `typ`, `iss`
(exactly), `aud` (its own resource indicator), the signature with the issuer's keys, `exp`;
and MUST refuse `alg: none`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from app.auth.errors import ReasonCode
from app.auth.front import JWKS_PATH, front_issuer
from app.authorizer.gatekeeper import Decision, Gatekeeper
from app.core.config import SettingsSource
from devtools.dev_issuer import DevIssuer, DevIssuerServer

OTHER_MCP_URL = "https://other-mcp.example.com/mcp"
CIMD_CLIENT = "https://client.example.com/oauth/client-metadata.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class FrontKeys:
    """A stand-in for the front's KMS key: the same kid rule and JWKS shape, generated now."""

    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def kid(self) -> str:
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url(hashlib.sha256(der).digest())[:16]

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [public]}


class _JwksHandler(BaseHTTPRequestHandler):
    document: dict[str, Any]
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        found = self.path == JWKS_PATH
        body = json.dumps(self.document if found else {"error": "not_found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@dataclass
class World:
    mcp_url: str
    front: FrontKeys
    upstream: DevIssuer
    jwks_hits: list[str]

    @property
    def front_issuer(self) -> str:
        return front_issuer(self.mcp_url)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The claims the front signs (see COMMON design); `None` removes a claim."""
        now = int(NOW)
        claims: dict[str, Any] = {
            "iss": self.front_issuer,
            "aud": self.mcp_url,
            "sub": "dev-user",
            "client_id": CIMD_CLIENT,
            "scope": "mcp/access mcp/profile",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def front_token(self, *, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        header = {"typ": "at+jwt", "kid": self.front.kid, **(headers or {})}
        return jwt.encode(self.claims(**overrides), self.front.private, algorithm="RS256", headers=header)

    def keeper(self, **settings: Any) -> Gatekeeper:
        """A gatekeeper reading these auth settings (the SSM JSON's keys) with the real fetcher."""
        values = {"issuer": self.upstream.issuer_url, "oauth_front": True, **settings}
        env = {"MCP_URL": self.mcp_url, "OAUTH_FRONT": "true" if values["oauth_front"] else "false"}
        if values["issuer"]:
            env["OAUTH_ISSUER"] = values["issuer"]
        if "audiences" in values:
            env["OAUTH_AUDIENCES"] = ",".join(values["audiences"])
        if "allowed_client_ids" in values:
            env["OAUTH_ALLOWED_CLIENT_IDS"] = ",".join(values["allowed_client_ids"])
        return Gatekeeper(SettingsSource(env=env), clock=lambda: NOW)


NOW = 1_900_000_000.0


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    front = FrontKeys()
    hits: list[str] = []
    handler = type("FrontJwks", (_JwksHandler,), {"document": front.jwks(), "hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    mcp_url = f"http://127.0.0.1:{server.server_port}/mcp"
    upstream_server = DevIssuerServer(audience=mcp_url)
    upstream = upstream_server.start()
    try:
        yield World(mcp_url, front, upstream, hits)
    finally:
        upstream_server.stop()
        server.shutdown()
        server.server_close()


def decide(keeper: Gatekeeper, token: str) -> Decision:
    return keeper.decide(f"Bearer {token}")


def test_a_front_token_is_allowed_with_its_user_and_client(world: World) -> None:
    decision = decide(world.keeper(), world.front_token())
    assert decision.allowed, decision.reason
    principal = decision.principal
    assert principal is not None
    assert principal.subject == "dev-user"
    assert principal.client_id == CIMD_CLIENT
    assert principal.scopes == frozenset({"mcp/access", "mcp/profile"})
    assert principal.expires_at == int(NOW) + 600


def test_the_upstream_stays_trusted_directly_beside_the_front(world: World) -> None:
    """Machine clients keep using the upstream's client-credentials tokens."""
    token = world.upstream.mint(audience=world.mcp_url, now=NOW, subject="ci-robot")
    decision = decide(world.keeper(), token)
    assert decision.allowed, decision.reason
    assert decision.principal is not None
    assert decision.principal.subject == "ci-robot"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_the_access_token_type_is_compared_as_rfc_7515_says(world: World, typ: str) -> None:
    """RFC 7515 §4.1.9: `typ` is case-insensitive and `application/` may be left out."""
    assert decide(world.keeper(), world.front_token(headers={"typ": typ})).allowed


def _refused(world: World, token: str, reason: ReasonCode, **settings: Any) -> None:
    decision = decide(world.keeper(**settings), token)
    assert not decision.allowed
    assert decision.reason is reason
    assert decision.status == 401


def test_a_front_token_for_another_server_is_refused(world: World) -> None:
    _refused(world, world.front_token(aud=OTHER_MCP_URL), ReasonCode.BAD_AUDIENCE)


def test_the_upstreams_extra_audiences_do_not_apply_to_the_front(world: World) -> None:
    """`audiences` widens what the upstream's tokens may name; the front's must name MCP_URL."""
    extra = "https://legacy.example.com/mcp"
    upstream_token = world.upstream.mint(audience=extra, now=NOW)
    assert decide(world.keeper(audiences=[extra]), upstream_token).allowed
    _refused(world, world.front_token(aud=extra), ReasonCode.BAD_AUDIENCE, audiences=[extra])


def test_a_front_token_listing_this_server_among_others_is_accepted(world: World) -> None:
    """RFC 7519 §4.1.3: `aud` may be an array; this server must be in it."""
    assert decide(world.keeper(), world.front_token(aud=[OTHER_MCP_URL, world.mcp_url])).allowed


@pytest.mark.parametrize(
    "claims",
    [{"aud": None}, {"aud": None, "token_use": "access", "client_id": "cognito-app-client"}],
    ids=["no-aud", "cognito-shaped"],
)
def test_a_front_token_without_aud_is_refused_even_for_an_allowed_cognito_client(
    world: World, claims: dict[str, Any]
) -> None:
    """The aud-less exception is for Amazon Cognito's own tokens only, never the front's."""
    _refused(
        world,
        world.front_token(**claims),
        ReasonCode.BAD_AUDIENCE,
        allowed_client_ids=["cognito-app-client"],
    )


def test_a_token_claiming_the_front_but_signed_with_the_upstream_key_is_refused(world: World) -> None:
    """A spoofed `iss` only chooses whose keys check the signature: the front's don't match."""
    spoofed = world.upstream.mint(
        audience=world.mcp_url, now=NOW, extra_claims={"iss": world.front_issuer}, headers={"typ": "at+jwt"}
    )
    _refused(world, spoofed, ReasonCode.UNKNOWN_KID)
    # Even naming the front's kid: the signature is the upstream key's.
    header = {"alg": "RS256", "typ": "at+jwt", "kid": world.front.kid}
    payload = spoofed.split(".")[1]
    signing_input = f"{b64url(json.dumps(header).encode())}.{payload}"
    forged = f"{signing_input}.{spoofed.split('.')[2]}"
    _refused(world, forged, ReasonCode.BAD_SIGNATURE)


def test_a_front_signed_token_claiming_the_upstream_is_refused(world: World) -> None:
    _refused(world, world.front_token(iss=world.upstream.issuer_url), ReasonCode.UNKNOWN_KID)


def test_alg_none_and_hs256_claiming_the_front_are_refused(world: World) -> None:
    claims = world.claims()
    none_header = {"alg": "none", "typ": "at+jwt", "kid": world.front.kid}
    unsigned = f"{b64url(json.dumps(none_header).encode())}.{b64url(json.dumps(claims).encode())}."
    _refused(world, unsigned, ReasonCode.ALGORITHM_NOT_ALLOWED)
    # HS256 keyed with the front's published public key: the classic algorithm confusion.
    secret = world.front.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_header = {"alg": "HS256", "typ": "at+jwt", "kid": world.front.kid}
    signing_input = f"{b64url(json.dumps(hs_header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    _refused(world, f"{signing_input}.{b64url(mac)}", ReasonCode.ALGORITHM_NOT_ALLOWED)


def test_an_expired_front_token_is_refused(world: World) -> None:
    expired = world.front_token(iat=int(NOW) - 700, nbf=int(NOW) - 700, exp=int(NOW) - 100)
    _refused(world, expired, ReasonCode.EXPIRED)


@pytest.mark.parametrize("typ", [None, "JWT", "id_token+jwt", 7])
def test_a_front_signed_jwt_that_is_not_an_access_token_is_refused(world: World, typ: Any) -> None:
    """RFC 9068 §4: the `typ` check keeps anything else the front's key signs from passing."""
    token = world.front_token(headers={"typ": typ})  # PyJWT leaves out a `typ` of None
    assert jwt.get_unverified_header(token).get("typ") == typ
    _refused(world, token, ReasonCode.WRONG_TOKEN_USE)


def test_a_front_token_without_the_base_scope_is_a_403(world: World) -> None:
    decision = decide(world.keeper(), world.front_token(scope="mcp/profile"))
    assert (decision.reason, decision.status) == (ReasonCode.MISSING_SCOPE, 403)


def test_with_the_front_off_its_tokens_are_from_an_untrusted_issuer(world: World) -> None:
    _refused(world, world.front_token(), ReasonCode.BAD_ISSUER, oauth_front=False)


def test_the_front_alone_is_trusted_when_no_upstream_issuer_is_set(world: World) -> None:
    keeper = world.keeper(issuer=None)
    assert decide(keeper, world.front_token()).allowed
    _refused(world, world.upstream.mint(audience=world.mcp_url, now=NOW), ReasonCode.BAD_ISSUER, issuer=None)


def test_a_strangers_token_is_refused_without_fetching_any_keys(world: World) -> None:
    """An `iss` no one trusts stops before key lookup: forged tokens cannot make us fetch JWKS."""
    keeper = world.keeper()
    before = len(world.jwks_hits)
    stranger = DevIssuer("https://evil.example.com").mint(audience=world.mcp_url, now=NOW)
    for _ in range(3):
        assert decide(keeper, stranger).reason is ReasonCode.BAD_ISSUER
    assert len(world.jwks_hits) == before


def test_the_front_issuer_as_upstream_issuer_is_a_configuration_error(world: World) -> None:
    """Naming the front as `issuer` would trust its tokens with the upstream's looser rules."""
    decision = decide(world.keeper(issuer=world.front_issuer), world.front_token())
    assert decision.reason is ReasonCode.INTERNAL_ERROR


def test_a_token_the_fronts_own_kms_signer_made_is_allowed() -> None:
    """The contract between the two functions: the front's signer (moto KMS) → this authorizer."""
    import boto3
    from moto import mock_aws

    from app.auth.front import front_jwks_url
    from app.oauth.signer import KmsSigner, access_token_claims

    mcp_url = "https://abc.execute-api.us-east-1.amazonaws.com/prod/mcp"
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        signer = KmsSigner(kms, key_id)
        claims = access_token_claims(
            issuer=front_issuer(mcp_url),
            audience=mcp_url,
            subject="upstream-subject-1",
            client_id=CIMD_CLIENT,
            scopes=["mcp/access"],
            now=int(NOW),
            ttl_seconds=600,
        )
        token = signer.sign(claims)
        documents = {front_jwks_url(mcp_url): signer.jwks()}

    def fetch(url: str, timeout: float) -> dict[str, Any]:
        return documents[url]

    env = {"MCP_URL": mcp_url, "OAUTH_FRONT": "true"}
    keeper = Gatekeeper(SettingsSource(env=env), fetch_json=fetch, clock=lambda: NOW)
    decision = decide(keeper, token)
    assert decision.allowed, decision.reason
    assert decision.principal is not None
    assert (decision.principal.subject, decision.principal.client_id) == ("upstream-subject-1", CIMD_CLIENT)
