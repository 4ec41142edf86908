"""JWT settings are validated at construction, with errors naming the setting to fix."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.jwt_settings import ASYMMETRIC_ALGORITHMS, JwtSettings, is_https_or_loopback

from .helpers import ISSUER, MCP_URL


def make(**overrides: Any) -> JwtSettings:
    values: dict[str, Any] = {"issuer": ISSUER, "audiences": (MCP_URL,)}
    values.update(overrides)
    return JwtSettings(**values)


def test_defaults() -> None:
    settings = make()
    assert settings.algorithms == ASYMMETRIC_ALGORITHMS
    assert settings.leeway_seconds == 30
    assert settings.base_scope == "mcp/access"
    assert settings.jwks_url is None
    assert settings.allowed_client_ids == ()


@pytest.mark.parametrize(
    "issuer",
    [
        "http://issuer.example.com/",
        "http://10.0.0.1/",
        "http://localhost.evil.example/",
        "ftp://issuer.example.com/",
        "issuer.example.com",
        "https://",
        "https://user:pw@issuer.example.com/",
        "",
    ],
)
def test_non_https_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(ValueError, match="OAUTH_ISSUER"):
        make(issuer=issuer)


@pytest.mark.parametrize(
    "issuer",
    ["http://127.0.0.1:9000/", "http://localhost:8787/issuer", "http://[::1]:9000", "https://a.example"],
)
def test_https_or_loopback_issuer_is_accepted(issuer: str) -> None:
    assert make(issuer=issuer).issuer == issuer


def test_http_jwks_url_off_loopback_is_refused() -> None:
    with pytest.raises(ValueError, match="OAUTH_JWKS_URL"):
        make(jwks_url="http://keys.example.com/jwks")


@pytest.mark.parametrize(
    "algorithms",
    [("RS256", "HS256"), ("none",), ("RS256", "NONE"), ("hs512",)],
)
def test_symmetric_or_none_algorithms_are_a_configuration_error(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="OAUTH_ALGORITHMS") as info:
        make(algorithms=algorithms)
    assert "HS*" in str(info.value)


@pytest.mark.parametrize("algorithms", [("RS265",), ("ES256K",), ()])
def test_unknown_or_empty_algorithm_list_is_refused(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="OAUTH_ALGORITHMS"):
        make(algorithms=algorithms)


def test_algorithms_are_normalised_to_the_canonical_order() -> None:
    assert make(algorithms=("ES256", "RS256", "ES256")).algorithms == ("RS256", "ES256")


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"audiences": ()}, "MCP_URL"),
        ({"audiences": ("",)}, "OAUTH_AUDIENCES"),
        ({"audiences": MCP_URL}, "OAUTH_AUDIENCES"),
        ({"allowed_client_ids": (" padded ",)}, "OAUTH_ALLOWED_CLIENT_IDS"),
        ({"base_scope": "two scopes"}, "OAUTH_BASE_SCOPE"),
        ({"base_scope": ""}, "OAUTH_BASE_SCOPE"),
        ({"leeway_seconds": -1}, "JWT_LEEWAY_SECONDS"),
        ({"leeway_seconds": 3600}, "JWT_LEEWAY_SECONDS"),
        ({"leeway_seconds": 1.5}, "JWT_LEEWAY_SECONDS"),
        ({"jwks_fetch_timeout_seconds": 0}, "JWKS_FETCH_TIMEOUT_SECONDS"),
        ({"jwks_fetch_timeout_seconds": float("nan")}, "JWKS_FETCH_TIMEOUT_SECONDS"),
        ({"jwks_refresh_min_interval_seconds": -5}, "JWKS_REFRESH_MIN_INTERVAL_SECONDS"),
    ],
)
def test_bad_values_name_their_setting(overrides: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make(**overrides)


def test_lists_are_accepted_and_frozen_to_tuples() -> None:
    settings = make(audiences=[MCP_URL, MCP_URL, "api://x"], allowed_client_ids=["a"])
    assert settings.audiences == (MCP_URL, "api://x")
    assert settings.allowed_client_ids == ("a",)
    hash(settings)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://x.example/jwks", True),
        ("http://127.0.0.2/jwks", True),
        ("http://[::1]/jwks", True),
        ("http://x.example/jwks", False),
        ("https://x.example/jwks#frag", False),
        ("https://x.example:notaport/", False),
        ("javascript:alert(1)", False),
    ],
)
def test_https_or_loopback_rule(url: str, ok: bool) -> None:
    assert is_https_or_loopback(url) is ok
