"""OAuth 2.1 access-token (JWT) verification for the MCP resource server.

The order of checks matters and is fixed:

1. The unverified header is read only to choose a key: ``alg`` must be in the configured
   asymmetric allow-list (``none`` and ``HS*`` are refused whatever the configuration) and a
   ``kid`` is required. ``jku``, ``x5u`` and embedded ``jwk`` headers are ignored: keys come
   only from the configured issuer's JWKS. When the settings name token types (the front's
   ``at+jwt``, RFC 9068 §4), ``typ`` must be one of them.
2. The unverified ``iss`` chooses whose keys may verify the token, and nothing else: it must
   equal a trusted issuer exactly (``bad_issuer`` otherwise, before any JWKS fetch, so a token
   from a stranger cannot make the authorizer fetch keys). A spoofed ``iss`` only selects
   keys that will not verify the signature. :class:`TrustedIssuers` is the same step with
   several issuers: a dict lookup.
3. The JWK must fit the algorithm: RSA for ``RS*``/``PS*``, the matching curve for ``ES*``,
   OKP for ``EdDSA``, and the JWK's own ``alg`` (if any) must equal the header's. This, plus
   passing PyJWT exactly one algorithm, closes the algorithm-confusion attacks.
4. PyJWT's JWS layer (``PyJWS.decode_complete``, with exactly the one algorithm chosen above)
   parses the token and verifies the signature. The claims parsed in step 2 are used only if
   the payload bytes PyJWT verified are the very bytes they were parsed from; then all of
   them are checked here, which is why PyJWT's JWT layer (``jwt.decode``) is not used: it
   would check a subset of them again, at about a tenth of the cost of the signature. The
   payload must be a JSON object with the exact issuer, ``exp``, ``iat`` and a non-empty
   ``sub`` that does not start with the ``apikey:`` prefix of API key principals (in any
   case; see :mod:`app.auth.principal`). The principal carries ``exp`` as its
   ``expires_at``, for the MCP Lambda.
5. Times are checked against the injected clock: tests need no wall clock, and ``iat`` in the
   future (``issued_in_future``) stays distinguishable from ``nbf`` in the future
   (``not_yet_valid``), which PyJWT reports with one exception type.
6. Audience (RFC 8707): a token with ``aud`` must name one of the configured audiences (the
   canonical MCP URL first). A token without ``aud`` is accepted only as an Amazon Cognito
   access token (``token_use == "access"``) from an allowed ``client_id``, and never when
   the settings require an audience (the front's tokens). An ID token (``token_use == "id"``)
   is always refused.

The base scope is not checked here: the :class:`~app.auth.authenticator.Authenticator` checks
it for every kind of credential.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

from jwt.api_jws import PyJWS
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from app.auth.algorithms import ASYMMETRIC_ALGORITHMS
from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache, JwksKey
from app.auth.jwt_settings import JwtSettings, normalise_token_type
from app.auth.principal import API_KEY_PREFIX, Principal
from app.auth.scopes import split_scope_string, validate_scopes

__all__ = ["JwksCache", "JwtSettings", "JwtVerifier", "TrustedIssuers"]

# (kty, crv or None for "any") each algorithm needs from its JWK.
_KEY_TYPE_FOR_ALG: Final[dict[str, tuple[str, str | None]]] = {
    **{f"{family}{bits}": ("RSA", None) for family in ("RS", "PS") for bits in (256, 384, 512)},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}
# Only asymmetric algorithms are even registered: an HS* token cannot reach a verifier.
_JWS: Final = PyJWS(algorithms=list(ASYMMETRIC_ALGORITHMS))
# A JOSE header is a few hundred bytes; the Authorization header is capped at 8 KiB anyway.
_MAX_HEADER_SEGMENT: Final = 4096
_CLIENT_ID_CLAIMS: Final = ("client_id", "azp", "cid", "appid")
_TENANT_CLAIMS: Final = ("tid", "tenant", "org_id")

# Most specific first: several of these subclass DecodeError or InvalidTokenError.
_PYJWT_REASONS: Final[tuple[tuple[type[PyJWTError], ReasonCode], ...]] = (
    (ExpiredSignatureError, ReasonCode.EXPIRED),
    (ImmatureSignatureError, ReasonCode.NOT_YET_VALID),
    (InvalidIssuedAtError, ReasonCode.MALFORMED_CREDENTIAL),
    (InvalidIssuerError, ReasonCode.BAD_ISSUER),
    (InvalidAudienceError, ReasonCode.BAD_AUDIENCE),
    (InvalidSignatureError, ReasonCode.BAD_SIGNATURE),
    (InvalidAlgorithmError, ReasonCode.ALGORITHM_NOT_ALLOWED),
    (InvalidKeyError, ReasonCode.ALGORITHM_NOT_ALLOWED),
    (DecodeError, ReasonCode.MALFORMED_CREDENTIAL),
)


# An empty signature is let through to be refused for its algorithm (`none`), not its shape.
_SIGNATURE_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]*")
_B64URL_ALPHABET: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_B64URL_VALUE: Final = {c: i for i, c in enumerate(_B64URL_ALPHABET)}


def has_canonical_signature(token: str) -> bool:
    """The signature segment is base64url without padding in its one canonical spelling.

    Base64 decoders ignore `=` padding and the unused low bits of the last character, so one
    signature has many spellings that verify alike (RFC 7515 §2 allows only the unpadded one).
    The header and payload segments need no such check: the signature covers their exact text
    (the JWS signing input), so any other spelling of them fails verification anyway.
    """
    signature = token[token.rfind(".") + 1 :]
    if _SIGNATURE_SEGMENT.fullmatch(signature) is None:
        return False
    spare = len(signature) % 4
    if spare == 1:
        return False
    return not (spare and _B64URL_VALUE[signature[-1]] & (0xF if spare == 2 else 0x3))


class UnverifiedToken(NamedTuple):
    """What is read from a token before its signature is checked, to choose how to check it.

    ``payload`` is the decoded payload segment and ``claims`` its JSON; both are trusted only
    after PyJWT verified the signature over exactly ``payload`` (see :meth:`JwtVerifier.check`).
    A tuple, not a dataclass: it is built on every decision, and a frozen dataclass costs
    several times more to build.
    """

    alg: object
    kid: object
    typ: object
    payload: bytes
    claims: Mapping[str, Any]

    @property
    def issuer(self) -> str | None:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else None


def read_unverified(token: str) -> UnverifiedToken:
    """Header fields and claims of a compact JWS, unverified; ``AuthError`` if unreadable.

    The segments are cut exactly as PyJWT cuts them (first dot, last dot), so the payload
    decoded here is the one PyJWT decodes and verifies; a token PyJWT would read differently
    (stray characters, padding) is refused by it or by the canonical-signature check.
    """
    if not has_canonical_signature(token):
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "signature not in canonical base64url")
    segment, dot, rest = token.partition(".")
    if not dot or not segment or len(segment) > _MAX_HEADER_SEGMENT:
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "not a compact JWS")
    alg, kid, typ = _header_fields_of_segment(segment)
    payload, claims = _payload_of_segment(rest[: rest.rfind(".")])
    return UnverifiedToken(alg, kid, typ, payload, claims)


@functools.lru_cache(maxsize=64)
def _payload_of_segment(segment: str) -> tuple[bytes, Mapping[str, Any]]:
    # Cached like the header: a client sends the same token until it expires, so a warm
    # authorizer decodes its payload once (the signature is still verified on every call).
    # A payload segment without its signature is no credential, so keeping a few is harmless;
    # the claims are never mutated (they are read as a Mapping). Failures are not cached.
    try:
        payload = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        claims = json.loads(payload)
    except (ValueError, binascii.Error, RecursionError):
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "payload is not JSON") from None
    if not isinstance(claims, dict):
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "payload is not a JSON object")
    return payload, claims


def unverified_alg_and_kid(token: str) -> tuple[object, object]:
    """``alg`` and ``kid`` from the JOSE header, to pick the key; PyJWT then checks everything.

    Only the first segment is decoded: `jwt.get_unverified_header` parses and validates the
    whole token (about 100 µs for an RS256 token here), and the signature check does that
    again. A header this function misreads can only lead to a refusal, never to an Allow,
    because the signature check uses its own parse and the algorithm chosen here.
    """
    segment, dot, _ = token.partition(".")
    if not dot or not segment or len(segment) > _MAX_HEADER_SEGMENT:
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "not a compact JWS")
    alg, kid, _typ = _header_fields_of_segment(segment)
    return alg, kid


@functools.lru_cache(maxsize=64)
def _header_fields_of_segment(segment: str) -> tuple[object, object, object]:
    # Cached: every token signed with the same issuer key has the same header segment, so a
    # warm authorizer decodes it once. Failures raise and are not cached; junk headers can
    # only evict entries, which costs a re-parse, never a wrong answer.
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "unreadable JOSE header") from None
    if not isinstance(header, dict):
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "JOSE header is not an object")
    return header.get("alg"), header.get("kid"), header.get("typ")


def guarded(verify: Callable[[str], Principal], token: str) -> Principal:
    """``verify(token)`` with every failure an :class:`AuthError` that quotes nothing of the token.

    Library exceptions are mapped to reason codes and dropped (``from None``): their messages
    and tracebacks could carry token content.
    """
    try:
        return verify(token)
    except AuthError:
        raise
    except PyJWTError as exc:
        raise AuthError(reason_for_pyjwt_error(exc)) from None
    except Exception as exc:
        raise AuthError(ReasonCode.INTERNAL_ERROR, type(exc).__name__) from None


def reason_for_pyjwt_error(error: PyJWTError) -> ReasonCode:
    """Map a PyJWT exception to a reason code (anything unlisted is a malformed token)."""
    if isinstance(error, MissingRequiredClaimError):
        if error.claim == "iss":
            return ReasonCode.BAD_ISSUER
        if error.claim == "aud":
            return ReasonCode.BAD_AUDIENCE
        return ReasonCode.MALFORMED_CREDENTIAL
    for error_type, reason in _PYJWT_REASONS:
        if isinstance(error, error_type):
            return reason
    return ReasonCode.MALFORMED_CREDENTIAL


class JwtVerifier:
    """Verify an OAuth access token and return its :class:`Principal`.

    Args:
        settings: validated :class:`JwtSettings`.
        jwks: the (long-lived) :class:`JwksCache` of the same issuer.
        clock: epoch seconds, for ``exp``/``nbf``/``iat``; injected by tests.
    """

    def __init__(
        self, settings: JwtSettings, jwks: JwksCache, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._jwks = jwks
        self._clock = clock
        self._algorithms = frozenset(settings.algorithms)
        self._audiences = frozenset(settings.audiences)
        self._client_ids = frozenset(settings.allowed_client_ids)
        self._token_types = frozenset(settings.token_types)

    @property
    def settings(self) -> JwtSettings:
        return self._settings

    @property
    def issuer(self) -> str:
        return self._settings.issuer

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token; raise :class:`AuthError` for anything else.

        No other exception type escapes, and no message contains the token.
        """
        return guarded(self._verify, token)

    def _verify(self, token: str) -> Principal:
        unverified = read_unverified(token)
        if unverified.issuer != self._settings.issuer:
            # Before any key lookup: a stranger's token never costs a JWKS fetch.
            raise AuthError(ReasonCode.BAD_ISSUER)
        return self.check(token, unverified)

    def check(self, token: str, unverified: UnverifiedToken) -> Principal:
        """Verify ``token``, already read into ``unverified`` and routed here by its ``iss``.

        Callers go through :func:`guarded` (``verify`` or :class:`TrustedIssuers` do).
        """
        alg = self._check_header(unverified)
        kid = unverified.kid
        assert isinstance(kid, str)  # checked by _check_header
        key = self._jwks.get_key(kid)
        _check_key_fits_algorithm(key, alg)

        payload = _JWS.decode_complete(token, key.key, algorithms=[alg])["payload"]
        if payload != unverified.payload:
            # Cannot happen for a token both decoders read alike; if it ever does, the claims
            # read before verification are not the verified ones: refuse rather than use them.
            raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "payload decodes ambiguously")
        claims = unverified.claims
        if claims.get("iss") != self._settings.issuer:
            raise AuthError(ReasonCode.BAD_ISSUER)
        self._check_times(claims)
        self._check_audience(claims)

        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "sub must be a non-empty string")
        if subject[: len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX:
            # Would share its principal name with an API key (see app.auth.principal).
            raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "sub uses the reserved apikey: prefix")
        return Principal(
            subject=subject,
            auth_method="jwt",
            scopes=_scopes(claims),
            client_id=_first_string(claims, _CLIENT_ID_CLAIMS),
            tenant=self._tenant(claims),
            expires_at=math.floor(claims["exp"]),  # a NumericDate, checked by _check_times
            audiences=_audiences(claims),
        )

    def _tenant(self, claims: Mapping[str, Any]) -> str | None:
        """The tenant by the configured rule (``invalid_tenant`` if it names none validly);
        without one, the first of ``tid``, ``tenant``, ``org_id`` as written (audit only)."""
        rule = self._settings.tenant_rule
        if rule is None:
            return _first_string(claims, _TENANT_CLAIMS)
        return rule.tenant_of(claims)

    def _check_header(self, unverified: UnverifiedToken) -> str:
        """The header's ``alg`` if it, ``kid`` and ``typ`` are acceptable; ``AuthError`` otherwise."""
        alg = unverified.alg
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthError(ReasonCode.ALGORITHM_NOT_ALLOWED)
        kid = unverified.kid
        if not isinstance(kid, str) or not kid:
            # Without a kid the key would have to be guessed; issuers that rotate keys set it.
            raise AuthError(ReasonCode.UNKNOWN_KID, "token header has no kid")
        if self._token_types:
            typ = unverified.typ
            if not isinstance(typ, str) or normalise_token_type(typ) not in self._token_types:
                raise AuthError(ReasonCode.WRONG_TOKEN_USE, "typ is not an access token type")
        return alg

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        leeway = self._settings.leeway_seconds
        exp = _numeric_date(claims, "exp")
        iat = _numeric_date(claims, "iat")
        nbf = _numeric_date(claims, "nbf")
        if exp is None or iat is None:
            raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "exp and iat are required")
        if exp <= now - leeway:
            raise AuthError(ReasonCode.EXPIRED)
        if nbf is not None and nbf > now + leeway:
            raise AuthError(ReasonCode.NOT_YET_VALID)
        if iat > now + leeway:
            raise AuthError(ReasonCode.ISSUED_IN_FUTURE)

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        use = claims.get("token_use")  # Amazon Cognito: "id" or "access"
        if use == "id":
            raise AuthError(ReasonCode.WRONG_TOKEN_USE, "ID token")
        if "aud" in claims:
            aud = claims["aud"]
            audiences = [aud] if isinstance(aud, str) else aud
            if not isinstance(audiences, list) or not any(
                isinstance(value, str) and value in self._audiences for value in audiences
            ):
                raise AuthError(ReasonCode.BAD_AUDIENCE)
            return
        if self._settings.audience_required:
            raise AuthError(ReasonCode.BAD_AUDIENCE, "token has no aud")
        # No aud: only an Amazon Cognito access token from an allowed app client will do.
        if use != "access":
            raise AuthError(ReasonCode.WRONG_TOKEN_USE, "token has neither aud nor token_use=access")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or client_id not in self._client_ids:
            raise AuthError(ReasonCode.CLIENT_NOT_ALLOWED)


class TrustedIssuers:
    """Several issuers' verifiers, chosen per token by its exact ``iss``: one dict lookup.

    The authorizer trusts the upstream issuer and, when the authorization front is on, the
    front; each verifier keeps its own settings (audiences, token types, JWKS), so a token is
    checked exactly as strictly as if its issuer were the only one. A token whose ``iss`` is
    none of them is ``bad_issuer`` before any key is looked up.
    """

    def __init__(self, verifiers: Iterable[JwtVerifier]) -> None:
        self._by_issuer = {verifier.issuer: verifier for verifier in verifiers}
        if not self._by_issuer:
            raise ValueError("at least one issuer is required")

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._by_issuer)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token from any trusted issuer; :class:`AuthError` otherwise."""
        return guarded(self._verify, token)

    def _verify(self, token: str) -> Principal:
        unverified = read_unverified(token)
        issuer = unverified.issuer
        verifier = self._by_issuer.get(issuer) if issuer is not None else None
        if verifier is None:
            raise AuthError(ReasonCode.BAD_ISSUER)
        return verifier.check(token, unverified)


def _audiences(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's `aud` values (already checked: a string or a list naming an accepted one)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return frozenset((aud,))
    if isinstance(aud, list):
        return frozenset(value for value in aud if isinstance(value, str))
    return frozenset()


def _check_key_fits_algorithm(key: JwksKey, alg: str) -> None:
    if key.alg is not None and key.alg != alg:
        raise AuthError(ReasonCode.ALGORITHM_NOT_ALLOWED, "JWK alg differs from token alg")
    kty, crv = _KEY_TYPE_FOR_ALG[alg]
    if key.kty != kty or (crv is not None and key.crv != crv):
        raise AuthError(ReasonCode.ALGORITHM_NOT_ALLOWED, "JWK type does not fit token alg")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, f"{name} must be a NumericDate")
    return float(value)


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes from ``scope`` (RFC 9068, space-separated) and/or ``scp`` (Okta list, Entra string)."""
    scopes: set[str] = set()
    try:
        scope = claims.get("scope")
        if scope is not None:
            if not isinstance(scope, str):
                raise ValueError("scope must be a string")
            scopes |= split_scope_string(scope)
        scp = claims.get("scp")
        if isinstance(scp, str):
            scopes |= split_scope_string(scp)
        elif isinstance(scp, list):
            if not all(isinstance(item, str) for item in scp):
                raise ValueError("scp entries must be strings")
            scopes |= validate_scopes(scp)
        elif scp is not None:
            raise ValueError("scp must be a string or a list")
    except ValueError:
        raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "invalid scope claim") from None
    return frozenset(scopes)


def _first_string(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None
