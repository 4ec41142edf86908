"""Redirect URIs: what a client may register, and when a requested URI is the registered one.

Sources: RFC 6749 §3.1.2 (absolute, no fragment) and §3.1.2.3 (simple string comparison; the one
registered URI is used when none is given); RFC 8252 §7.1 (private-use schemes in reverse-DNS form),
§7.3 ("The authorization server MUST allow any port to be specified at the time of the request for
loopback IP redirect URIs") and §8.3 (``localhost`` allowed, IP literals recommended); RFC 9700
§4.1.3 (exact matching against open redirectors).
"""

from __future__ import annotations

import pytest

from app.oauth.redirects import (
    RedirectUriError,
    find_redirect_uri,
    is_loopback_redirect,
    redirect_uri_matches,
    validate_redirect_uri,
)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?tenant=a",
        "https://app.example.com",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:33418/callback",
        "http://[::1]:61023/oauth2redirect/example-provider",
        "http://localhost:6274/oauth/callback",
        "com.example.app:/oauth2redirect/example-provider",
        "com.example.app://callback",
        "https://[2001:db8::1]/cb",
    ],
)
def test_real_client_redirect_uris_are_accepted(uri: str) -> None:
    validate_redirect_uri(uri)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("", "non-empty"),
        ("/callback", "absolute"),
        ("app.example.com/callback", "absolute"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("https://user:pw@app.example.com/cb", "userinfo"),
        ("https://app.example.com@evil.example/cb", "userinfo"),
        ("https:///cb", "host"),
        ("https://app.example.com:99999/cb", "port"),
        ("https://app.example.com:/cb", "port"),
        ("https://%65vil.example/cb", "host"),
        ("http://app.example.com/callback", "loopback"),
        ("http://127.0.0.2/callback", "loopback"),
        ("http://127.0.0.1.evil.example/callback", "loopback"),
        ("http://127.0.0.1@evil.example/callback", "loopback"),
        ("http://0x7f000001/callback", "loopback"),
        ("http://127.0.0.1:70000/callback", "loopback"),
        ("javascript:alert(1)", "scheme"),
        ("javascript://example.com/%0aalert(1)", "scheme"),
        ("data:text/html,hi", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("myapp:/callback", "scheme"),
        ("HTTPS://app.example.com/cb", "lowercase"),
        ("com.example.app:", "path"),
        ("com.example.app://user@host/cb", "userinfo"),
        ("https://app.example.com/c b", "characters"),
        ("https://app.example.com/cb\\@evil.example", "characters"),
        ("https://app.example.com/\ncb", "characters"),
        ("https://app.example.com/caf\u00e9", "characters"),
        ("https://app.example.com/cb%zz", "percent"),
        ("https://app.example.com/" + "a" * 2000, "longer"),
    ],
)
def test_dangerous_or_malformed_redirect_uris_are_refused(uri: str, why: str) -> None:
    with pytest.raises(RedirectUriError, match=why):
        validate_redirect_uri(uri)


def test_the_error_message_never_repeats_the_uri() -> None:
    uri = "https://app.example.com/<script>secret-marker</script>"
    with pytest.raises(RedirectUriError) as caught:
        validate_redirect_uri(uri)
    assert "secret-marker" not in str(caught.value)
    assert "app.example.com" not in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:5000/cb", True),
        ("http://[::1]/cb", True),
        ("http://localhost:1/cb", True),
        ("https://localhost/cb", False),
        ("http://127.0.0.1.evil.example/cb", False),
        ("com.example.app:/cb", False),
        ("http://127.0.0.1:5000/cb#x", False),
    ],
)
def test_only_http_on_a_loopback_literal_is_a_loopback_redirect(uri: str, expected: bool) -> None:
    assert is_loopback_redirect(uri) is expected


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("https://app.example.com/cb", "https://app.example.com/cb"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/callback"),
        ("http://127.0.0.1:3000/callback", "http://127.0.0.1:3434/callback"),
        ("http://127.0.0.1:3000/callback", "http://127.0.0.1/callback"),
        ("http://[::1]:1/cb?x=1", "http://[::1]:61023/cb?x=1"),
        ("http://localhost:6274/oauth/callback", "http://localhost:40000/oauth/callback"),
        ("com.example.app:/cb", "com.example.app:/cb"),
    ],
)
def test_a_registered_uri_matches_itself_and_loopback_any_port(registered: str, requested: str) -> None:
    assert redirect_uri_matches(registered, requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        # another host, or the same host spelled differently
        ("https://app.example.com/cb", "https://evil.example/cb"),
        ("https://app.example.com/cb", "https://APP.example.com/cb"),
        ("https://app.example.com/cb", "https://app.example.com.evil.example/cb"),
        # a registered https URI keeps its port
        ("https://app.example.com/cb", "https://app.example.com:8443/cb"),
        ("https://app.example.com:8443/cb", "https://app.example.com/cb"),
        # path and query are exact: no prefixes, no extra parameters, no re-encoding
        ("https://app.example.com/cb", "https://app.example.com/cb/../evil"),
        ("https://app.example.com/cb", "https://app.example.com/cb?next=https://evil.example"),
        ("https://app.example.com/cb", "https://app.example.com/%63b"),
        ("https://app.example.com/cb", "https://app.example.com/cb/"),
        # userinfo and fragment tricks
        ("https://app.example.com/cb", "https://app.example.com@evil.example/cb"),
        ("https://app.example.com/cb", "https://app.example.com/cb#@evil.example"),
        ("http://127.0.0.1/cb", "http://127.0.0.1@evil.example/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1.evil.example/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb#frag"),
        # loopback host swaps: the literal stays the literal
        ("http://127.0.0.1/cb", "http://localhost/cb"),
        ("http://127.0.0.1/cb", "http://[::1]/cb"),
        ("http://localhost/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.2/cb"),
        ("http://127.0.0.1/cb", "https://127.0.0.1/cb"),
        # loopback path and query still exact, port still a real port
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/other"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb?x=1"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/CB"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:0/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:/cb"),
        # https on localhost gets no port exception
        ("https://localhost:8443/cb", "https://localhost:9443/cb"),
        # a requested URI that is not even valid never matches, even if equal
        ("javascript:alert(1)", "javascript:alert(1)"),
    ],
)
def test_open_redirect_attempts_do_not_match(registered: str, requested: str) -> None:
    assert not redirect_uri_matches(registered, requested)


def test_find_uses_the_single_registered_uri_when_none_is_requested() -> None:
    assert find_redirect_uri(["https://app.example.com/cb"], None) == "https://app.example.com/cb"


def test_find_requires_a_redirect_uri_when_several_are_registered() -> None:
    with pytest.raises(RedirectUriError, match="required"):
        find_redirect_uri(["https://a.example/cb", "https://b.example/cb"], None)


def test_find_returns_the_requested_loopback_uri_with_its_port() -> None:
    registered = ["https://a.example/cb", "http://127.0.0.1/callback"]
    requested = "http://127.0.0.1:49152/callback"
    assert find_redirect_uri(registered, requested) == requested


def test_find_refuses_an_unregistered_uri_without_echoing_it() -> None:
    with pytest.raises(RedirectUriError, match="not one of") as caught:
        find_redirect_uri(["https://a.example/cb"], "https://evil.example/steal")
    assert "evil" not in str(caught.value)


def test_find_refuses_when_nothing_is_registered() -> None:
    with pytest.raises(RedirectUriError):
        find_redirect_uri([], None)
    with pytest.raises(RedirectUriError):
        find_redirect_uri([], "https://a.example/cb")
