"""What `make dev` prints: OAuth sign-in first (no client ID, no header), the API key for agents and CI."""

from __future__ import annotations

from dataclasses import replace

from devtools.local_stack import LocalCredentials, summary

CREDENTIALS = LocalCredentials(
    mcp_url="http://127.0.0.1:8787/mcp",
    api_key="mcpk_0123456789abcdef_" + "k" * 43,
    access_token="header.payload.signature",
    issuer="http://127.0.0.1:40000",
    aws_endpoint="http://127.0.0.1:40001",
    api_keys_secret_id="serverless-mcp/local/api-keys",
    audit_log_group="/serverless-mcp/local/audit",
    oauth_issuer="http://127.0.0.1:8787/oauth",
)


def test_the_banner_leads_with_oauth_sign_in_and_keeps_the_key_for_agents() -> None:
    text = summary(CREDENTIALS)
    no_header = "claude mcp add --transport http serverless-mcp http://127.0.0.1:8787/mcp\n"
    assert no_header in text  # the sign-in command carries no credential
    assert "http://127.0.0.1:8787/oauth" in text
    # Sign-in (Claude Code, then the Inspector) comes before any credential is shown.
    first_key = text.index(CREDENTIALS.api_key)
    assert text.index(no_header) < text.index("make inspector PORT=") < first_key
    assert text.index("agents and CI") < first_key
    # The key-based commands are still there, after it.
    assert f'--header "Authorization: Bearer {CREDENTIALS.api_key}"' in text
    assert "A fresh token:" in text.splitlines()[-1]  # the e2e audit test reads what follows it


def test_the_banner_prints_the_inspector_when_it_is_on() -> None:
    assert "/inspector" not in summary(CREDENTIALS)
    on = replace(CREDENTIALS, inspector_url="http://127.0.0.1:8787/inspector")
    assert "  inspector      http://127.0.0.1:8787/inspector" in summary(on)


def test_with_sso_the_banner_names_the_provider_and_the_stand_in() -> None:
    text = summary(replace(CREDENTIALS, sso_provider="Entra", corporate_issuer="http://127.0.0.1:40002"))
    assert "SSO            Entra: the dev issuer federates" in text
    assert "http://127.0.0.1:40002" in text
    assert "Alice or Bob" in text
    assert "SSO " not in summary(CREDENTIALS)


def test_with_usage_plans_the_banner_names_the_tiers_and_the_dev_keys() -> None:
    text = summary(
        replace(CREDENTIALS, usage_plans={"standard": "p1", "premium": "p2"}, usage_default_tier="standard")
    )
    assert "usage plans: tiers premium, standard; the dev key is metered alone in standard" in text
    assert "usage plans" not in summary(CREDENTIALS)


def test_with_several_servers_the_banner_lists_each_servers_url() -> None:
    servers = {"main": CREDENTIALS.mcp_url, "research": "http://127.0.0.1:8787/research/mcp"}
    text = summary(replace(CREDENTIALS, servers=servers))
    assert (
        "  MCP endpoint   http://127.0.0.1:8787/mcp\n"
        "  research       http://127.0.0.1:8787/research/mcp  (MCP server 'research')\n" in text
    )
    assert "research" not in summary(CREDENTIALS)
