"""The JWKS cache: fetch once, refetch on an unknown kid at most once per interval, fail closed."""

from __future__ import annotations

import secrets
import urllib.error
from typing import Any

import pytest

from app.auth.errors import AuthError, ReasonCode
from app.auth.jwks import JwksCache, JwksFetchError, fetch_json, parse_jwks
from app.auth.jwt_settings import JwtSettings
from app.auth.jwt_verifier import JwtVerifier

from .conftest import Keys
from .helpers import (
    DISCOVERY_URL,
    ISSUER,
    JWKS_URL,
    MCP_URL,
    FakeClock,
    FakeFetcher,
    b64url,
    mint,
    public_jwk,
)


def reason_of(cache: JwksCache, kid: str) -> ReasonCode:
    with pytest.raises(AuthError) as info:
        cache.get_key(kid)
    return info.value.reason


def test_keys_are_cached_across_calls(
    verifier: JwtVerifier, fetcher: FakeFetcher, keys: Keys, settings: JwtSettings
) -> None:
    for _ in range(5):
        verifier.verify(mint(keys.rsa))
        verifier.verify(mint(keys.ec))
    assert fetcher.calls == {JWKS_URL: 1}
    assert fetcher.timeouts == [settings.jwks_fetch_timeout_seconds]


def test_unknown_kid_refetches_once_per_interval(
    jwks: JwksCache, fetcher: FakeFetcher, mono: FakeClock
) -> None:
    jwks.get_key("rsa-1")
    assert fetcher.total == 1
    # Just fetched: an unknown kid does not refetch yet.
    assert reason_of(jwks, "ghost") is ReasonCode.UNKNOWN_KID
    assert fetcher.total == 1

    mono.advance(61)
    assert reason_of(jwks, "ghost") is ReasonCode.UNKNOWN_KID  # one refetch, still unknown
    assert fetcher.total == 2
    for _ in range(10):  # forged kids cannot make it hammer the issuer
        mono.advance(5)
        assert reason_of(jwks, "ghost") is ReasonCode.UNKNOWN_KID
    assert fetcher.total == 2

    mono.advance(11)  # 61 s after the refetch
    assert reason_of(jwks, "ghost") is ReasonCode.UNKNOWN_KID
    assert fetcher.total == 3


def test_rotated_key_is_found_by_the_refetch(
    jwks: JwksCache, fetcher: FakeFetcher, mono: FakeClock, keys: Keys, jwks_document: dict[str, Any]
) -> None:
    jwks.get_key("rsa-1")
    fetcher.documents[JWKS_URL] = {
        "keys": [*jwks_document["keys"], public_jwk(keys.outsider, "rotated", "RS256")]
    }
    mono.advance(60)
    assert jwks.get_key("rotated").kid == "rotated"
    assert fetcher.total == 2


def test_a_new_kid_during_the_failure_back_off_is_jwks_unavailable_not_unknown_kid(
    jwks: JwksCache, fetcher: FakeFetcher, mono: FakeClock, jwks_document: dict[str, Any]
) -> None:
    """The issuer rotated while its JWKS is down: the audit reason names the outage, and the
    known keys keep working; once a fetch succeeds, a kid it lacks is unknown_kid again."""
    jwks.get_key("rsa-1")
    mono.advance(61)
    fetcher.documents[JWKS_URL] = urllib.error.URLError("refused")
    assert reason_of(jwks, "rotated") is ReasonCode.JWKS_UNAVAILABLE  # the refetch failed
    assert reason_of(jwks, "rotated") is ReasonCode.JWKS_UNAVAILABLE  # back-off: no fetch, same cause
    assert jwks.get_key("rsa-1").kid == "rsa-1"
    assert fetcher.total == 2
    mono.advance(5)
    fetcher.documents[JWKS_URL] = jwks_document
    assert reason_of(jwks, "rotated") is ReasonCode.UNKNOWN_KID
    assert reason_of(jwks, "rotated") is ReasonCode.UNKNOWN_KID  # refresh interval: no fetch
    assert fetcher.total == 3


def test_jwks_unreachable_fails_closed_and_backs_off(
    jwks: JwksCache, fetcher: FakeFetcher, mono: FakeClock, jwks_document: dict[str, Any]
) -> None:
    fetcher.documents[JWKS_URL] = TimeoutError("timed out")
    assert reason_of(jwks, "rsa-1") is ReasonCode.JWKS_UNAVAILABLE
    assert reason_of(jwks, "rsa-1") is ReasonCode.JWKS_UNAVAILABLE  # within the back-off: no fetch
    assert fetcher.total == 1
    mono.advance(5)
    fetcher.documents[JWKS_URL] = jwks_document
    assert jwks.get_key("rsa-1").kid == "rsa-1"
    assert fetcher.total == 2


@pytest.mark.parametrize(
    "failure",
    [
        urllib.error.URLError("refused"),
        TimeoutError("slow"),
        ValueError("not json"),
        KeyError("keys"),
        JwksFetchError("too big"),
        {"keys": []},
        {"keys": [{"kty": "oct", "kid": "h", "k": b64url(secrets.token_bytes(32))}]},
        {"nokeys": True},
    ],
    ids=[
        "urlerror",
        "timeout",
        "valueerror",
        "keyerror",
        "fetch-error",
        "empty",
        "only-hmac",
        "no-keys-member",
    ],
)
def test_any_fetch_failure_is_jwks_unavailable(jwks: JwksCache, fetcher: FakeFetcher, failure: Any) -> None:
    fetcher.documents[JWKS_URL] = failure
    assert reason_of(jwks, "rsa-1") is ReasonCode.JWKS_UNAVAILABLE


def test_old_keys_are_refetched_after_max_age_and_used_if_the_refetch_fails(
    settings: JwtSettings, fetcher: FakeFetcher, mono: FakeClock, jwks_document: dict[str, Any]
) -> None:
    cache = JwksCache(settings, fetch_json=fetcher, clock=mono, max_age_seconds=600)
    cache.get_key("rsa-1")
    mono.advance(599)
    cache.get_key("rsa-1")
    assert fetcher.total == 1
    mono.advance(1)
    fetcher.documents[JWKS_URL] = urllib.error.URLError("down")
    assert cache.get_key("rsa-1").kid == "rsa-1"  # stale-if-error
    assert fetcher.total == 2
    fetcher.documents[JWKS_URL] = {"keys": [k for k in jwks_document["keys"] if k["kid"] != "rsa-1"]}
    mono.advance(5)
    assert reason_of(cache, "rsa-1") is ReasonCode.UNKNOWN_KID  # the issuer withdrew the key
    assert fetcher.total == 3


def test_clear_forgets_everything(jwks: JwksCache, fetcher: FakeFetcher) -> None:
    jwks.get_key("rsa-1")
    jwks.clear()
    jwks.get_key("rsa-1")
    assert fetcher.total == 2


def discovery_settings() -> JwtSettings:
    return JwtSettings(issuer=ISSUER, audiences=(MCP_URL,))


def test_discovery_document_gives_the_jwks_uri(
    fetcher: FakeFetcher, mono: FakeClock, jwks_document: dict[str, Any]
) -> None:
    fetcher.documents = {
        DISCOVERY_URL: {"issuer": ISSUER, "jwks_uri": "https://keys.example.com/jwks"},
        "https://keys.example.com/jwks": jwks_document,
    }
    cache = JwksCache(discovery_settings(), fetch_json=fetcher, clock=mono)
    assert cache.get_key("ec-1").kty == "EC"
    mono.advance(61)
    assert reason_of(cache, "ghost") is ReasonCode.UNKNOWN_KID
    assert fetcher.calls == {DISCOVERY_URL: 1, "https://keys.example.com/jwks": 2}


@pytest.mark.parametrize(
    "document",
    [
        {"issuer": "https://evil.example.com/", "jwks_uri": "https://keys.example.com/jwks"},
        {"issuer": ISSUER, "jwks_uri": "http://keys.example.com/jwks"},
        {"issuer": ISSUER, "jwks_uri": "file:///etc/passwd"},
        {"issuer": ISSUER},
    ],
    ids=["other-issuer", "http-jwks-uri", "file-jwks-uri", "no-jwks-uri"],
)
def test_untrustworthy_discovery_document_is_refused(
    fetcher: FakeFetcher, mono: FakeClock, jwks_document: dict[str, Any], document: dict[str, Any]
) -> None:
    fetcher.documents = {DISCOVERY_URL: document, "https://keys.example.com/jwks": jwks_document}
    cache = JwksCache(discovery_settings(), fetch_json=fetcher, clock=mono)
    assert reason_of(cache, "rsa-1") is ReasonCode.JWKS_UNAVAILABLE
    assert fetcher.calls == {DISCOVERY_URL: 1}


def test_parse_jwks_keeps_only_usable_signing_keys(keys: Keys, jwks_document: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be skipped
    document = {
        "keys": [
            *jwks_document["keys"],
            public_jwk(weak, "weak-rsa", "RS256"),
            {**keys.rsa.jwk, "kid": "hs-alg", "alg": "HS256"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            {"kid": "no-kty"},
            "not-an-object",
            {**keys.ec.jwk, "kid": ""},
        ]
    }
    assert sorted(parse_jwks(document)) == ["ec-1", "ed-1", "rsa-1", "rsa-any"]


@pytest.mark.parametrize(
    "url",
    ["http://issuer.example.com/jwks", "file:///etc/passwd", "ftp://example.com/x", "https://u:p@x.example/"],
)
def test_default_fetcher_refuses_unsafe_urls_without_network(url: str) -> None:
    with pytest.raises(JwksFetchError):
        fetch_json(url, 1.0)
