"""The access log format stays one parseable JSON object whatever the client sends.

API Gateway fills each `$context` variable into the format as it is; "Variables for access
logging for API Gateway" (https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-variables-for-access-logging.html) documents no escaping, and only
`$context.error.messageString` comes quoted ("the quoted value of $context.error.message").
The renderer here does exactly that, so a line with a `"` in the User-Agent and in the path
parses only if neither is written between quotes (DataBiosphere/azul#4348 shows the problem).
"""

from __future__ import annotations

import json
import re

import pytest

from infra.constructs.api import access_log_format

pytestmark = pytest.mark.infra

VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]+")

# What a scanner sends: a quote and a backslash in both fields it controls.
HOSTILE_USER_AGENT = 'curl/8 "injected":"x\\'
HOSTILE_PATH = '/prod/.well-known/"x\\'

# Values API Gateway substitutes for one request (a 403 for an unknown path). Any variable not
# listed renders as "-", API Gateway's value for an empty one.
REQUEST: dict[str, str] = {
    "$context.requestId": "7e6f0b2a-1d3c-4e5f-8a9b-0c1d2e3f4a5b",
    "$context.status": "403",
    "$context.identity.sourceIp": "198.51.100.7",
    "$context.identity.userAgent": HOSTILE_USER_AGENT,
    "$context.path": HOSTILE_PATH,
    "$context.httpMethod": "GET",
    "$context.error.message": "Missing Authentication Token",
    "$context.error.responseType": "MISSING_AUTHENTICATION_TOKEN",
}


def render(log_format: str, values: dict[str, str]) -> str:
    """The line API Gateway writes: each variable replaced by its raw value, unescaped."""

    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        if name == "$context.error.messageString":
            return '"' + values.get("$context.error.message", "-") + '"'
        return values.get(name, "-")

    return VARIABLE.sub(value, log_format)


def test_a_quote_in_user_agent_and_path_leaves_the_line_valid_json() -> None:
    line = json.loads(render(access_log_format(), REQUEST))
    assert line["status"] == 403
    assert line["errorType"] == "MISSING_AUTHENTICATION_TOKEN"
    assert line["errorMessage"] == "Missing Authentication Token"
    assert line["ip"] == "198.51.100.7"
    # Nothing the client wrote became a field of its own.
    assert "injected" not in line


def test_the_renderer_catches_a_client_controlled_variable_between_quotes() -> None:
    """The check can fail: the format as it was (userAgent and path quoted) does not parse."""
    unsafe = access_log_format().removesuffix("}") + (
        ',"userAgent":"$context.identity.userAgent","path":"$context.path"}'
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(render(unsafe, REQUEST))


def test_no_variable_the_client_writes_freely_is_in_the_format() -> None:
    """Request headers, the path and query values are the caller's text: none is logged raw."""
    used = set(VARIABLE.findall(access_log_format()))
    assert "$context.identity.userAgent" not in used
    assert "$context.path" not in used
    assert not {name for name in used if name.startswith(("$context.requestOverride", "$input", "$method"))}


def test_the_authorizer_fields_carry_the_values_the_authorizer_returns() -> None:
    """Values, not field names: `$context.authorizer.auth` and `.client` were logged empty for ever.

    API Gateway fills `$context.authorizer.<key>` from the context of the authorizer's policy and
    `$context.authorizer.principalId` from its principal id ("Variables for access logging for API
    Gateway", link above). The context here is what the authorizer handler returns for an API key
    and for a JWT (`Principal.to_context()`), so a field that reads a key the authorizer never
    sets, or another field's key, logs the wrong value and fails.
    """
    from app.auth.principal import Principal

    callers = [
        Principal("apikey:ci-bot", "api_key", frozenset({"mcp/access"}), key_id="0123456789abcdef"),
        Principal("alice", "jwt", frozenset({"mcp/access"}), client_id="mcp-interactive", expires_at=1),
    ]
    for caller in callers:
        context = {f"$context.authorizer.{key}": value for key, value in caller.to_context().items()}
        values = {
            **REQUEST,
            **context,
            "$context.authorizer.principalId": caller.subject,
            "$context.status": "200",
        }
        line = json.loads(render(access_log_format(), values))
        assert line["principal"] == caller.subject
        assert line["authMethod"] == caller.auth_method
        assert line["clientId"] == (caller.client_id or "-")
        assert line["keyId"] == (caller.key_id or "-")
