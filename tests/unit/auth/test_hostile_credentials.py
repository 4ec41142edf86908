"""The hostile-credential table: every credential here must be refused, for the right reason.

Each case goes through the real :class:`Authenticator` (real JWT verifier, real JWKS parsing
of keys generated at test time, real API key store), exactly as the authorizer calls it.

The table is followed by mutation fuzzing of VALID credentials (a real JWT, a real API key):
random text can never produce an allow, so a fuzz test over random text would pass even if
signature checking were switched off. A byte flipped in a signed segment, a claim changed and
re-signed with another key, a truncation or an extension of a credential that verifies must
each be refused; the unmutated credential is checked to verify, so the test can fail both ways.
"""

from __future__ import annotations

import base64
import re
import traceback
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.auth.api_keys import parse_api_key
from app.auth.authenticator import Authenticator
from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache
from app.auth.jwt_verifier import JwtVerifier

from .conftest import Keys
from .helpers import (
    BASE_SCOPE,
    COGNITO_CLIENT_ID,
    ISSUER,
    JWKS_URL,
    NOW,
    OTHER_MCP_URL,
    ApiKeys,
    FakeClock,
    FakeFetcher,
    b64url,
    flip_signature,
    forge_hs256,
    mint,
    replace_payload,
    token_claims,
    unsigned_token,
)


@dataclass
class World:
    keys: Keys
    clock: FakeClock
    mono: FakeClock
    fetcher: FakeFetcher
    jwks: JwksCache
    api_keys: ApiKeys
    authenticator: Authenticator
    store_error: Exception | None = None


@pytest.fixture
def world(
    keys: Keys,
    clock: FakeClock,
    mono: FakeClock,
    fetcher: FakeFetcher,
    jwks: JwksCache,
    verifier: JwtVerifier,
    api_keys: ApiKeys,
    authenticator: Authenticator,
) -> World:
    state = World(keys, clock, mono, fetcher, jwks, api_keys, authenticator)

    def load_store() -> Any:
        if state.store_error is not None:
            raise state.store_error
        return api_keys.store

    state.authenticator = Authenticator(verifier, load_store, authenticator.base_scope, clock)
    return state


@dataclass(frozen=True)
class Hostile:
    id: str
    header: Callable[[World], str | None]
    reason: ReasonCode
    status: int = 401
    setup: Callable[[World], None] | None = None
    check: Callable[[World], None] | None = None


def bearer(token: str) -> str:
    return f"Bearer {token}"


def rsa_token(w: World, **claims: Any) -> str:
    return mint(w.keys.rsa, token_claims(**claims))


def public_pem(w: World) -> bytes:
    return w.keys.rsa.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def published_oct_secret(w: World) -> bytes:
    """The symmetric key the (misbehaving) issuer put in its JWKS: forging with it must fail."""
    document = w.fetcher.documents[JWKS_URL]
    assert isinstance(document, dict)
    (oct_key,) = [key for key in document["keys"] if key["kty"] == "oct"]
    encoded: str = oct_key["k"]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def other_key_id_secret(plaintext: str) -> str:
    """The same key id with a different (well-formed) secret."""
    parsed = parse_api_key(plaintext)
    assert parsed is not None
    key_id, secret = parsed
    return f"mcpk_{key_id}_{'B' if secret[0] != 'B' else 'C'}{secret[1:]}"


def warm_then_wait(w: World) -> None:
    """Load the JWKS, then let the refresh interval pass so an unknown kid may refetch once."""
    w.jwks.get_key(w.keys.rsa.kid)
    w.mono.advance(61)


def refetched_once(w: World) -> None:
    assert w.fetcher.calls[JWKS_URL] == 2


def jwks_down(w: World) -> None:
    w.fetcher.documents[JWKS_URL] = urllib.error.URLError("connection refused")


def store_down(w: World) -> None:
    w.store_error = ConnectionError("secrets manager timed out")


COGNITO_ID_TOKEN = {"aud": COGNITO_CLIENT_ID, "token_use": "id", "client_id": None, "email": "a@example.com"}

HOSTILE: list[Hostile] = [
    # --- time ---
    Hostile("expired", lambda w: bearer(rsa_token(w, iat=NOW - 900, exp=NOW - 100)), ReasonCode.EXPIRED),
    Hostile("expired-just-past-leeway", lambda w: bearer(rsa_token(w, exp=NOW - 31)), ReasonCode.EXPIRED),
    Hostile("not-yet-valid", lambda w: bearer(rsa_token(w, nbf=NOW + 120)), ReasonCode.NOT_YET_VALID),
    Hostile("iat-in-future", lambda w: bearer(rsa_token(w, iat=NOW + 120)), ReasonCode.ISSUED_IN_FUTURE),
    Hostile(
        "exp-not-a-number", lambda w: bearer(rsa_token(w, exp="tomorrow")), ReasonCode.MALFORMED_CREDENTIAL
    ),
    Hostile("missing-exp", lambda w: bearer(rsa_token(w, exp=None)), ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("missing-iat", lambda w: bearer(rsa_token(w, iat=None)), ReasonCode.MALFORMED_CREDENTIAL),
    # --- issuer and audience ---
    Hostile(
        "wrong-issuer", lambda w: bearer(rsa_token(w, iss="https://evil.example.com/")), ReasonCode.BAD_ISSUER
    ),
    Hostile("issuer-prefix", lambda w: bearer(rsa_token(w, iss=ISSUER + "evil")), ReasonCode.BAD_ISSUER),
    Hostile("missing-issuer", lambda w: bearer(rsa_token(w, iss=None)), ReasonCode.BAD_ISSUER),
    Hostile(
        "wrong-audience",
        lambda w: bearer(rsa_token(w, aud="https://api.example.com/other")),
        ReasonCode.BAD_AUDIENCE,
    ),
    Hostile(
        "audience-of-another-mcp-server",
        lambda w: bearer(rsa_token(w, aud=OTHER_MCP_URL)),
        ReasonCode.BAD_AUDIENCE,
    ),
    Hostile(
        "audience-list-without-us",
        lambda w: bearer(rsa_token(w, aud=[OTHER_MCP_URL, "https://x.example/"])),
        ReasonCode.BAD_AUDIENCE,
    ),
    Hostile("empty-audience-list", lambda w: bearer(rsa_token(w, aud=[])), ReasonCode.BAD_AUDIENCE),
    Hostile(
        "cognito-id-token",
        lambda w: bearer(rsa_token(w, **COGNITO_ID_TOKEN)),
        ReasonCode.WRONG_TOKEN_USE,
    ),
    Hostile(
        "id-token-even-with-our-audience",
        lambda w: bearer(rsa_token(w, token_use="id")),
        ReasonCode.WRONG_TOKEN_USE,
    ),
    Hostile(
        "cognito-access-token-client-not-allowed",
        lambda w: bearer(rsa_token(w, aud=None, token_use="access", client_id="someone-elses-client")),
        ReasonCode.CLIENT_NOT_ALLOWED,
    ),
    Hostile(
        "no-audience-not-cognito",
        lambda w: bearer(rsa_token(w, aud=None)),
        ReasonCode.WRONG_TOKEN_USE,
    ),
    # --- algorithms and signatures ---
    Hostile(
        "alg-none",
        lambda w: bearer(unsigned_token({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, token_claims())),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "alg-None-mixed-case",
        lambda w: bearer(unsigned_token({"alg": "None", "kid": "rsa-1"}, token_claims())),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "hs256-key-confusion-with-rsa-public-pem",
        lambda w: bearer(
            forge_hs256(public_pem(w), {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, token_claims())
        ),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "hs256-with-the-jwks-oct-key-id",
        lambda w: bearer(
            forge_hs256(published_oct_secret(w), {"alg": "HS256", "kid": "hmac-1"}, token_claims())
        ),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "tampered-payload",
        lambda w: bearer(
            replace_payload(rsa_token(w), token_claims(scope="mcp/access admin:all", sub="admin"))
        ),
        ReasonCode.BAD_SIGNATURE,
    ),
    Hostile("tampered-signature", lambda w: bearer(flip_signature(rsa_token(w))), ReasonCode.BAD_SIGNATURE),
    Hostile(
        "tampered-es256-signature",
        lambda w: bearer(flip_signature(mint(w.keys.ec))),
        ReasonCode.BAD_SIGNATURE,
    ),
    Hostile(
        "outsider-key-claiming-a-published-kid-with-jku",
        lambda w: bearer(
            mint(w.keys.outsider, kid="rsa-1", headers={"jku": "https://evil.example.com/jwks"})
        ),
        ReasonCode.BAD_SIGNATURE,
    ),
    Hostile(
        "es256-header-on-an-rsa-kid",
        lambda w: bearer(mint(w.keys.ec, kid="rsa-1")),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "rs256-header-on-an-ec-kid",
        lambda w: bearer(mint(w.keys.rsa, kid="ec-1")),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "ps256-when-the-jwk-says-rs256",
        lambda w: bearer(mint(w.keys.rsa, alg="PS256")),
        ReasonCode.ALGORITHM_NOT_ALLOWED,
    ),
    Hostile(
        "unknown-kid-and-refetch-still-unknown",
        lambda w: bearer(mint(w.keys.outsider)),
        ReasonCode.UNKNOWN_KID,
        setup=warm_then_wait,
        check=refetched_once,
    ),
    Hostile(
        "kid-of-an-encryption-key",
        lambda w: bearer(mint(w.keys.outsider, kid="enc-1")),
        ReasonCode.UNKNOWN_KID,
    ),
    Hostile("no-kid", lambda w: bearer(mint(w.keys.rsa, kid=None)), ReasonCode.UNKNOWN_KID),
    Hostile("jwks-unreachable", lambda w: bearer(rsa_token(w)), ReasonCode.JWKS_UNAVAILABLE, setup=jwks_down),
    Hostile(
        "jwks-not-a-key-set",
        lambda w: bearer(rsa_token(w)),
        ReasonCode.JWKS_UNAVAILABLE,
        setup=lambda w: w.fetcher.documents.__setitem__(JWKS_URL, {"keys": "none"}),
    ),
    Hostile("not-a-jwt", lambda w: "Bearer abc.def.ghi", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("one-segment", lambda w: "Bearer abcdefghijklmnop", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("missing-sub", lambda w: bearer(rsa_token(w, sub=None)), ReasonCode.MALFORMED_CREDENTIAL),
    # --- scope ---
    Hostile(
        "missing-base-scope",
        lambda w: bearer(rsa_token(w, scope="tools:read")),
        ReasonCode.MISSING_SCOPE,
        403,
    ),
    Hostile("no-scope-at-all", lambda w: bearer(rsa_token(w, scope=None)), ReasonCode.MISSING_SCOPE, 403),
    Hostile(
        "api-key-without-base-scope",
        lambda w: bearer(w.api_keys.no_base_scope),
        ReasonCode.MISSING_SCOPE,
        403,
    ),
    # --- the header ---
    Hostile("no-header", lambda w: None, ReasonCode.MISSING_CREDENTIAL),
    Hostile("empty-header", lambda w: "", ReasonCode.MISSING_CREDENTIAL),
    Hostile("bearer-lowercase", lambda w: f"bearer {rsa_token(w)}", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("bearer-uppercase", lambda w: f"BEARER {rsa_token(w)}", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("double-space", lambda w: f"Bearer  {rsa_token(w)}", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("tab", lambda w: f"Bearer\t{rsa_token(w)}", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("leading-space", lambda w: f" Bearer {rsa_token(w)}", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("trailing-space", lambda w: f"Bearer {rsa_token(w)} ", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("trailing-newline", lambda w: f"Bearer {rsa_token(w)}\n", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile(
        "two-credentials-comma",
        lambda w: f"Bearer {rsa_token(w)}, Bearer {w.api_keys.valid}",
        ReasonCode.MALFORMED_CREDENTIAL,
    ),
    Hostile(
        "two-credentials-space",
        lambda w: f"Bearer {rsa_token(w)} {w.api_keys.valid}",
        ReasonCode.MALFORMED_CREDENTIAL,
    ),
    Hostile("scheme-only", lambda w: "Bearer", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("scheme-and-space", lambda w: "Bearer ", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("raw-token-without-scheme", lambda w: rsa_token(w), ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("basic-auth", lambda w: "Basic dXNlcjpwYXNzd29yZDEyMw==", ReasonCode.UNSUPPORTED_SCHEME),
    Hostile("dpop-scheme", lambda w: f"DPoP {rsa_token(w)}", ReasonCode.UNSUPPORTED_SCHEME),
    Hostile("non-b64token-character", lambda w: "Bearer abc%def.ghi", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("non-ascii", lambda w: "Bearer tökenvalue", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile("header-over-8-kib", lambda w: "Bearer " + "a" * 8200, ReasonCode.HEADER_TOO_LARGE),
    Hostile("header-over-8-kib-in-utf8", lambda w: "Bearer " + "é" * 4100, ReasonCode.HEADER_TOO_LARGE),
    # --- API keys ---
    Hostile("revoked-api-key", lambda w: bearer(w.api_keys.revoked), ReasonCode.REVOKED_KEY),
    Hostile("expired-api-key", lambda w: bearer(w.api_keys.expired), ReasonCode.EXPIRED_KEY),
    Hostile(
        "wrong-secret-for-a-real-key-id",
        lambda w: bearer(other_key_id_secret(w.api_keys.valid)),
        ReasonCode.BAD_SECRET,
    ),
    Hostile(
        "key-id-that-does-not-exist",
        lambda w: bearer("mcpk_0123456789abcdef_" + "A" * 43),
        ReasonCode.UNKNOWN_KEY,
    ),
    Hostile("malformed-api-key", lambda w: "Bearer mcpk_0123_tooshort", ReasonCode.MALFORMED_CREDENTIAL),
    Hostile(
        "api-key-uppercase-key-id",
        lambda w: bearer("mcpk_" + w.api_keys.valid[5:21].upper() + w.api_keys.valid[21:]),
        ReasonCode.MALFORMED_CREDENTIAL,
    ),
    Hostile(
        "api-key-with-extra-char", lambda w: bearer(w.api_keys.valid + "A"), ReasonCode.MALFORMED_CREDENTIAL
    ),
    Hostile(
        "key-store-unavailable",
        lambda w: bearer(w.api_keys.valid),
        ReasonCode.KEY_STORE_UNAVAILABLE,
        setup=store_down,
    ),
    # A validly signed JWT whose subject takes the name of an API key's principal.
    Hostile(
        "jwt-sub-poses-as-api-key",
        lambda w: bearer(rsa_token(w, sub="apikey:ci-bot")),
        ReasonCode.MALFORMED_CREDENTIAL,
    ),
    Hostile(
        "jwt-sub-poses-as-api-key-other-case",
        lambda w: bearer(rsa_token(w, sub="APIKey:ci-bot")),
        ReasonCode.MALFORMED_CREDENTIAL,
    ),
]


def refuse(world: World, case: Hostile) -> tuple[str | None, AuthError]:
    if case.setup is not None:
        case.setup(world)
    header = case.header(world)
    with pytest.raises(AuthError) as info:
        world.authenticator.authenticate(header)
    return header, info.value


def test_table_ids_are_unique() -> None:
    assert len({case.id for case in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
def test_hostile_credential_is_refused_for_the_right_reason(world: World, case: Hostile) -> None:
    _, error = refuse(world, case)
    assert error.reason is case.reason
    assert error.status == case.status
    if case.check is not None:
        case.check(world)


_CREDENTIAL_RUN = re.compile(r"[A-Za-z0-9\-._~+/=%é]{12,}")
_WINDOW = 10


def _fragments(header: str) -> set[str]:
    """Every 10-character window of every credential-looking run in the header."""
    return {
        run[start : start + _WINDOW]
        for run in _CREDENTIAL_RUN.findall(header)
        for start in range(len(run) - _WINDOW + 1)
    }


@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
def test_refusal_never_contains_the_credential(world: World, case: Hostile) -> None:
    header, error = refuse(world, case)
    rendered = "\n".join(
        [str(error), repr(error), repr(error.args), str(error.detail), *traceback.format_exception(error)]
    )
    leaked = {fragment for fragment in _fragments(header or "") if fragment in rendered}
    assert not leaked, f"credential fragments in the error: {sorted(leaked)[:3]}"


# --- mutations of valid credentials ------------------------------------------------------------

_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _flip_byte(token: str, segment: int, index: int, mask: int) -> str:
    """XOR one DECODED byte of a segment and re-encode it canonically.

    Working on decoded bytes, not characters, matters for the signature: the last base64url
    character carries padding bits, so a character edit there can leave the signature intact
    and the mutation would be no mutation at all.
    """
    parts = token.split(".")
    raw = bytearray(_b64decode(parts[segment]))
    raw[index % len(raw)] ^= mask
    parts[segment] = b64url(bytes(raw))
    return ".".join(parts)


def _allowed(world: World, header: str) -> bool:
    try:
        world.authenticator.authenticate(header)
    except AuthError:
        return False
    return True


def test_the_unmutated_credentials_verify(world: World) -> None:
    """The control: without it, a verifier that refused everything would pass every fuzz test."""
    assert world.authenticator.authenticate(bearer(rsa_token(world))).subject == "user-123"
    assert world.authenticator.authenticate(bearer(world.api_keys.valid)).subject == "apikey:ci-bot"


@_FUZZ
@given(segment=st.integers(0, 2), index=st.integers(0, 10_000), mask=st.integers(1, 255))
def test_a_flipped_byte_in_any_segment_of_a_valid_jwt_is_refused(
    world: World, segment: int, index: int, mask: int
) -> None:
    token = rsa_token(world)
    mutated = _flip_byte(token, segment, index, mask)
    assert mutated != token
    assert not _allowed(world, bearer(mutated))


_CLAIM_CHANGES: list[dict[str, Any]] = [
    {},  # the original claims: refused only for the key, kid or alg they are signed with
    {"iss": ISSUER.rstrip("/") + ".evil/"},
    {"iss": None},
    {"aud": OTHER_MCP_URL},
    {"aud": None, "client_id": "some-other-client"},
    {"exp": NOW - 3600},
    {"exp": None},
    {"nbf": NOW + 3600},
    {"iat": NOW + 3600},
    {"sub": None},
    {"sub": "apikey:ci-bot"},
    {"scope": "tools:read"},  # valid signature, but no base scope: 403, never an allow
]


@_FUZZ
@given(
    change=st.sampled_from(_CLAIM_CHANGES),
    signer=st.sampled_from(["outsider", "rsa", "ec"]),
    kid=st.sampled_from(["rsa-1", "ec-1", "outsider", None]),
    alg=st.sampled_from(["RS256", "PS256", "RS512", "ES256"]),
)
def test_changed_claims_or_header_resigned_are_refused(
    world: World, change: dict[str, Any], signer: str, kid: str | None, alg: str
) -> None:
    """Change a claim, the `alg` or the `kid`, and sign again (with the issuer's key or not).

    A token signed by a key the issuer did not publish under that `kid` is refused whatever its
    claims; one signed by the right key is refused for the changed claim.
    """
    key = getattr(world.keys, signer)
    if (alg.startswith("ES")) != (signer == "ec"):
        alg = key.alg  # PyJWT cannot sign RS* with an EC key or ES* with an RSA key
    # The issuer's own signature (key, kid and alg as published) on unchanged claims is valid.
    assume(change or (signer, kid, alg) not in {("rsa", "rsa-1", "RS256"), ("ec", "ec-1", "ES256")})
    token = mint(key, token_claims(**change), alg=alg, kid=kid)
    assert not _allowed(world, bearer(token))


def test_the_issuers_own_key_with_the_original_claims_still_verifies(world: World) -> None:
    """The re-signing harness is sound: unchanged claims signed by the issuer key verify."""
    token = mint(world.keys.rsa, token_claims(), alg="RS256", kid="rsa-1")
    assert _allowed(world, bearer(token))
    assert jwt.get_unverified_header(token)["kid"] == "rsa-1"


@_FUZZ
@given(kind=st.sampled_from(["jwt", "api_key"]), cut=st.integers(1, 10_000))
def test_a_truncated_valid_credential_is_refused(world: World, kind: str, cut: int) -> None:
    credential = rsa_token(world) if kind == "jwt" else world.api_keys.valid
    truncated = credential[: cut % len(credential)]
    assert not _allowed(world, bearer(truncated))


@_FUZZ
@given(
    kind=st.sampled_from(["jwt", "api_key"]),
    suffix=st.text(alphabet="ABCabc0189-_.=+/~ ", min_size=1, max_size=8),
)
def test_a_valid_credential_with_anything_appended_is_refused(world: World, kind: str, suffix: str) -> None:
    credential = rsa_token(world) if kind == "jwt" else world.api_keys.valid
    assert not _allowed(world, bearer(credential + suffix))


@_FUZZ
@given(index=st.integers(0, 10_000), replacement=st.characters(min_codepoint=0x21, max_codepoint=0x7E))
def test_a_changed_character_in_a_valid_api_key_is_refused(
    world: World, index: int, replacement: str
) -> None:
    """API key secrets are compared by hash of the exact text, so any one-character edit fails."""
    key = world.api_keys.valid
    position = index % len(key)
    mutated = key[:position] + replacement + key[position + 1 :]
    if mutated == key:
        return
    assert not _allowed(world, bearer(mutated))


def test_the_base_scope_fixture_is_what_the_authenticator_requires(world: World) -> None:
    """`{"scope": "tools:read"}` above is a refusal only because this base scope is required."""
    assert world.authenticator.base_scope == BASE_SCOPE
