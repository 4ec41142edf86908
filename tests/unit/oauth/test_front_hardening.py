"""The front under attack, through its handler on moto: amplification, and the findings of a
hostile review of `app/oauth/` (each test here fails without the fix it names).

References: draft-ietf-oauth-client-id-metadata-document, "Security Considerations" (the server
fetches URLs an attacker chooses: SSRF and denial of service; servers should rate-limit); MCP
2025-11-25 authorization, "Client ID Metadata Documents"; RFC 6749 §5.2 and RFC 6585 §4 (429 with
Retry-After).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.oauth.cimd import CimdFetcher
from tests.unit.oauth.front_harness import (
    Browser,
    Env,
    authorize_query,
    body,
    event,
    front_env,
    pkce_pair,
    settings_document,
)


class CountingResolver:
    """Every host resolves to a private address (so nothing is dialled); lookups are counted."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.hosts.append(host)
        return ["10.0.0.5"]


@pytest.fixture
def resolver() -> CountingResolver:
    return CountingResolver()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, resolver: CountingResolver) -> Iterator[Env]:
    with front_env(monkeypatch, settings_document(cimd_fetches_per_ip_per_hour=2)) as opened:
        opened.front.fetcher_factory = lambda: CimdFetcher(resolver=resolver)
        yield opened


def authorize_as(env: Env, client_id: str, source_ip: str = "203.0.113.7") -> Any:
    _, challenge = pkce_pair()
    query = authorize_query(challenge, client_id=client_id, redirect_uri="http://127.0.0.1:4000/cb")
    return Browser(env.front).send(event("GET", "/oauth/authorize", query=query, source_ip=source_ip))


def test_authorize_with_new_cimd_urls_is_rate_limited_per_address(
    env: Env, resolver: CountingResolver
) -> None:
    """Each new URL is a connection to a host of the caller's choosing: bounded per address."""
    for n in range(2):
        refused = authorize_as(env, f"https://victim.example.test/c{n}.json")
        assert refused.status == 400
        assert env.audit.last()["reason"] == "cimd_refused"
    assert len(resolver.hosts) == 2
    limited = authorize_as(env, "https://victim.example.test/c2.json")
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert "Location" not in limited.headers
    assert "too many sign-ins" in limited.body
    assert len(resolver.hosts) == 2  # nothing looked up, nothing fetched
    last = env.audit.last()
    assert (last["action"], last["outcome"], last["reason"], last["status"]) == (
        "authorize",
        "denied",
        "rate_limited",
        429,
    )
    # Another address has its own budget.
    assert authorize_as(env, "https://victim.example.test/c3.json", source_ip="198.51.100.2").status == 400
    assert len(resolver.hosts) == 3


def test_a_refused_url_named_again_is_not_fetched_again_nor_counted(
    env: Env, resolver: CountingResolver
) -> None:
    client_id = "https://victim.example.test/client.json"
    for _ in range(5):
        response = authorize_as(env, client_id)
        assert response.status == 400
        assert env.audit.last()["reason"] == "cimd_refused"
    assert resolver.hosts == ["victim.example.test"]
    # The budget was spent once: a second new URL is still allowed.
    assert authorize_as(env, "https://victim.example.test/other.json").status == 400
    assert len(resolver.hosts) == 2


def test_the_token_endpoint_counts_cimd_downloads_too(env: Env, resolver: CountingResolver) -> None:
    """A public client authenticates by client_id alone: /token must not be a way around the limit."""
    statuses = []
    for n in range(3):
        form = {
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": f"https://victim.example.test/t{n}",
        }
        response = Browser(env.front).send(event("POST", "/oauth/token", form=form))
        statuses.append((response.status, body(response)["error"]))
    assert statuses == [(401, "invalid_client"), (401, "invalid_client"), (429, "temporarily_unavailable")]
    assert len(resolver.hosts) == 2
    assert env.audit.last()["reason"] == "rate_limited"
