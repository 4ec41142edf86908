"""Client ID Metadata Documents: which client IDs are URLs to fetch, and which addresses are never dialled.

Sources: draft-ietf-oauth-client-id-metadata-document-03, "Client Identifier URL" (https, a
path component, no fragment, no userinfo, no single-dot or double-dot path segments) and its
security considerations on server-side request forgery (the authorization server fetches a URL an
attacker chose, so internal addresses must be refused after DNS resolution); the MCP 2025-11-25
authorization specification, "Client ID Metadata Documents" (servers SHOULD guard against SSRF and
MAY cache per HTTP headers); IANA IPv4/IPv6 special-purpose address registries (RFC 6890);
RFC 6598 (CGNAT 100.64.0.0/10); RFC 6052 / RFC 8215 (NAT64 prefixes); AWS EC2 instance metadata
at 169.254.169.254 and fd00:ec2::254 (EC2 user guide, "Access instance metadata").

The real-TLS fetches are in tests/integration/test_cimd_https.py.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest

from app.oauth.cimd import CimdError, CimdFetcher, is_cimd_client_id, is_public_address


@pytest.mark.parametrize(
    "client_id",
    [
        "https://client.example.com/oauth/metadata.json",
        "https://client.example.com:8443/m",
        "https://client.example.com/m?v=2",
        "https://93.184.216.34/client.json",
    ],
)
def test_https_urls_with_a_path_are_cimd_client_ids(client_id: str) -> None:
    assert is_cimd_client_id(client_id)


@pytest.mark.parametrize(
    "client_id",
    [
        "my-registered-client",
        "http://client.example.com/metadata.json",
        "https://client.example.com",
        "https://client.example.com/",
        "https://client.example.com/m#frag",
        "https://user@client.example.com/m",
        "https://user:pw@client.example.com/m",
        "https://client.example.com/a/../m",
        "https://client.example.com/./m",
        "https://client.example.com/a/%2e%2E/m",
        "https://client.example.com/m/.",
        "https://client.example.com:0/m",
        "https://client.example.com:/m",
        "https://client.example.com:99999/m",
        "https://%63lient.example.com/m",
        "https://client.example.com/m\\x",
        "https://client.example.com/ m",
        "https://client.example.com/caf\u00e9",
        "HTTPS://client.example.com/m",
        "https:///m",
        "https://client.example.com/" + "m" * 2000,
    ],
)
def test_other_strings_are_not_cimd_client_ids(client_id: str) -> None:
    assert not is_cimd_client_id(client_id)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "127.0.0.1",
        "127.8.9.10",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "169.254.169.254",  # EC2/ECS/Lambda metadata
        "169.254.170.2",  # ECS task metadata
        "100.64.0.1",  # CGNAT
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.10",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fd00:ec2::254",  # EC2 IPv6 metadata
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "::ffff:169.254.169.254",
        "::ffff:127.0.0.1",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:0a00:0001::",  # 6to4 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::1",  # local-use NAT64
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",
        "not-an-ip",
        "",
    ],
)
def test_internal_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)
    if address not in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"):
        assert not is_public_address(address, allow_loopback=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_allow_loopback_admits_loopback_only(address: str) -> None:
    assert is_public_address(address, allow_loopback=True)


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address the fetcher tries to connect to (none may be reached in these tests)."""
    calls: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        calls.append(address)
        raise AssertionError("the fetcher tried to connect")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return calls


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["fd00:ec2::254"],
        ["::ffff:10.0.0.1"],
        ["2002:a9fe:a9fe::1"],
        ["64:ff9b::a9fe:a9fe"],
        ["100.64.0.1"],
        ["127.0.0.1"],
        ["93.184.216.34", "10.0.0.5"],  # one bad answer among good ones is enough
        ["10.0.0.5", "93.184.216.34"],
        ["fe80::1%eth0"],
        [],
    ],
)
def test_a_host_resolving_to_an_internal_address_is_never_dialled(
    answers: list[str], dialled: list[Any]
) -> None:
    fetcher = CimdFetcher(resolver=lambda host, port: list(answers))
    with pytest.raises(CimdError, match=r"non-public|could not be resolved"):
        fetcher.fetch("https://client.example.com/metadata.json")
    assert dialled == []


def test_allow_loopback_still_refuses_private_and_link_local(dialled: list[Any]) -> None:
    for answer in ("10.0.0.5", "169.254.169.254", "192.168.0.1", "fe80::1"):

        def resolver(host: str, port: int, answer: str = answer) -> list[str]:
            return [answer]

        fetcher = CimdFetcher(resolver=resolver, allow_loopback=True)
        with pytest.raises(CimdError, match="non-public"):
            fetcher.fetch("https://client.example.com/metadata.json")
    assert dialled == []


def test_an_ip_literal_client_id_is_checked_like_a_resolved_one(dialled: list[Any]) -> None:
    fetcher = CimdFetcher(resolver=lambda host, port: pytest.fail("an IP literal needs no lookup"))
    with pytest.raises(CimdError, match="non-public"):
        fetcher.fetch("https://169.254.169.254/latest/meta-data")
    assert dialled == []


def test_a_resolver_failure_is_a_clear_error(dialled: list[Any]) -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror("Name or service not known")

    with pytest.raises(CimdError, match="could not be resolved"):
        CimdFetcher(resolver=fail).fetch("https://nowhere.example.com/m")
    assert dialled == []


def test_a_non_cimd_client_id_is_refused_before_any_lookup(dialled: list[Any]) -> None:
    fetcher = CimdFetcher(resolver=lambda host, port: pytest.fail("no lookup expected"))
    with pytest.raises(CimdError, match="not a valid client ID metadata document URL"):
        fetcher.fetch("http://client.example.com/metadata.json")
    assert dialled == []


def test_a_tls_context_that_does_not_verify_is_refused() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    with pytest.raises(ValueError, match="verify"):
        CimdFetcher(ssl_context=context)


# --- remembered refusals and the download hook (amplification) ---------------------------------


class CountingResolver:
    """Resolves every host to `answer` and counts the lookups (one per download attempt)."""

    def __init__(self, answer: str = "10.0.0.5") -> None:
        self.answer = answer
        self.hosts: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.hosts.append(host)
        return [self.answer]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_client_id_is_refused_again_without_a_fetch_until_the_refusal_expires(
    dialled: list[Any],
) -> None:
    """Without this, every /authorize naming a bad URL makes the front resolve and dial it again."""
    resolver, clock = CountingResolver(), Clock()
    fetcher = CimdFetcher(resolver=resolver, clock=clock, negative_cache_seconds=60)
    client_id = "https://client.example.com/metadata.json"
    for _ in range(3):
        with pytest.raises(CimdError, match="non-public") as info:
            fetcher.fetch(client_id)
        assert info.value.error == "invalid_client"
    assert len(resolver.hosts) == 1
    clock.now += 59
    with pytest.raises(CimdError, match="non-public"):
        fetcher.fetch(client_id)
    assert len(resolver.hosts) == 1
    clock.now += 1
    with pytest.raises(CimdError, match="non-public"):
        fetcher.fetch(client_id)
    assert len(resolver.hosts) == 2
    assert dialled == []


def test_remembered_refusals_are_bounded(dialled: list[Any]) -> None:
    resolver = CountingResolver()
    fetcher = CimdFetcher(resolver=resolver, clock=Clock(), negative_cache_seconds=60, negative_cache_size=2)
    ids = [f"https://client.example.com/m{n}.json" for n in range(3)]
    for client_id in ids:
        with pytest.raises(CimdError):
            fetcher.fetch(client_id)
    assert len(resolver.hosts) == 3
    with pytest.raises(CimdError):
        fetcher.fetch(ids[2])  # still remembered
    with pytest.raises(CimdError):
        fetcher.fetch(ids[0])  # dropped first (least recently used): fetched again
    assert len(resolver.hosts) == 4


def _serving(fetcher: CimdFetcher, downloads: list[str]) -> None:
    """Replace the network step only: the document comes back as a fresh download would."""

    def download(client_id: str) -> tuple[dict[str, Any], str | None]:
        downloads.append(client_id)
        return {"client_id": client_id, "redirect_uris": ["http://127.0.0.1/cb"]}, "max-age=60"

    fetcher._download = download  # type: ignore[method-assign]


def test_without_negative_cache_seconds_nothing_is_remembered(dialled: list[Any]) -> None:
    resolver = CountingResolver()
    fetcher = CimdFetcher(resolver=resolver, clock=Clock())
    for _ in range(2):
        with pytest.raises(CimdError):
            fetcher.fetch("https://client.example.com/metadata.json")
    assert len(resolver.hosts) == 2


def test_the_download_hook_runs_only_when_a_download_is_about_to_happen() -> None:
    clock, downloads, hook_calls = Clock(), list[str](), list[str]()
    fetcher = CimdFetcher(resolver=CountingResolver(), clock=clock)
    _serving(fetcher, downloads)
    client_id = "https://client.example.com/metadata.json"
    fetcher.fetch(client_id, before_download=lambda: hook_calls.append(client_id))
    fetcher.fetch(client_id, before_download=lambda: hook_calls.append(client_id))  # cached
    assert (len(downloads), len(hook_calls)) == (1, 1)
    clock.now += 60
    fetcher.fetch(client_id, before_download=lambda: hook_calls.append(client_id))  # stale
    assert (len(downloads), len(hook_calls)) == (2, 2)


def test_a_hook_that_refuses_stops_the_download_and_is_not_remembered_as_the_clients_fault() -> None:
    """A rate-limited caller must not make the client ID fail for everyone else for a minute."""

    class Limited(Exception):
        pass

    def refuse() -> None:
        raise Limited

    downloads: list[str] = []
    fetcher = CimdFetcher(resolver=CountingResolver(), clock=Clock(), negative_cache_seconds=60)
    _serving(fetcher, downloads)
    client_id = "https://client.example.com/metadata.json"
    with pytest.raises(Limited):
        fetcher.fetch(client_id, before_download=refuse)
    assert downloads == []
    assert fetcher.fetch(client_id).metadata.client_id == client_id


def test_a_success_after_a_refusal_expired_is_served_from_the_cache(dialled: list[Any]) -> None:
    clock, downloads = Clock(), list[str]()
    fetcher = CimdFetcher(resolver=CountingResolver(), clock=clock, negative_cache_seconds=60)
    client_id = "https://client.example.com/metadata.json"
    with pytest.raises(CimdError):
        fetcher.fetch(client_id)
    _serving(fetcher, downloads)
    with pytest.raises(CimdError):
        fetcher.fetch(client_id)  # remembered: the fixed document is not looked at yet
    clock.now += 60
    assert fetcher.fetch(client_id).metadata.client_id == client_id
    assert fetcher.fetch(client_id).metadata.client_id == client_id
    assert downloads == [client_id]
