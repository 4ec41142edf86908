"""The front's issuer is derived from the MCP URL, inside any stage prefix (RFC 8414 §2: the issuer
is an https URL with no query or fragment; discovery appends well-known paths to it)."""

from __future__ import annotations

import pytest

from app.auth.front import front_issuer, front_jwks_url


def test_the_front_sits_beside_mcp_inside_the_stage() -> None:
    mcp = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/mcp"
    assert front_issuer(mcp) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod/oauth"
    assert front_jwks_url(mcp) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod/oauth/jwks.json"
    assert front_issuer("https://mcp.example.com/mcp") == "https://mcp.example.com/oauth"


def test_a_url_not_ending_in_mcp_is_refused() -> None:
    with pytest.raises(ValueError, match="/mcp"):
        front_issuer("https://mcp.example.com/api")
