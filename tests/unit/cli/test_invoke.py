"""`mcp-lambda event` and `invoke`: the README's commands work as written, a refusal is a decision."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.auth.api_keys import generate_api_key
from app.authorizer.gatekeeper import Gatekeeper
from app.core.config import SettingsSource
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from tests.conftest import TEST_ISSUER, TEST_MCP_URL
from tests.unit.cli.conftest import EVENTS, assert_one_line_error, call, fresh_env, run_cli

README_ARGUMENTS = '{"a": 2, "b": 3}'
KEYS_SECRET = "serverless-mcp/test/cli-keys"


def test_readme_event_then_invoke_works_on_a_fresh_clone(tmp_path: Path) -> None:
    """The README's two commands, verbatim, in a shell with no MCP_URL and no AWS configuration."""
    made = run_cli("event", "v1", "--tool", "add", "--arguments", README_ARGUMENTS, "--base64", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (tmp_path / "event.json").write_text(made.stdout)

    invoked = run_cli("invoke", "mcp", "--event", str(tmp_path / "event.json"), cwd=tmp_path)
    assert invoked.returncode == 0, invoked.stderr
    assert "Traceback" not in invoked.stderr
    # Says which default it used, so nobody wonders where the URL came from.
    assert "MCP_URL is not set; using http://127.0.0.1:8787/mcp (as in .env.example" in invoked.stderr
    response = json.loads(invoked.stdout)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["result"]["isError"] is False
    assert body["result"]["structuredContent"] == {"result": 5.0}


@pytest.mark.parametrize(
    ("function", "event", "settings", "needles"),
    [
        ("mcp", "v1-tools-list", {"MCP_URL": "http://127.0.0.1:8787/not-mcp"}, ["MCP_URL", "ending in /mcp"]),
        (
            "authorizer",
            "authorizer-no-authorization-401",
            {"MCP_URL": TEST_MCP_URL, "OAUTH_BASE_SCOPE": 'mcp/"access"'},
            ["OAUTH_BASE_SCOPE", "e.g. mcp/access"],
        ),
    ],
)
def test_a_bad_setting_stops_invoke_with_one_line_naming_it(
    tmp_path: Path, function: str, event: str, settings: dict[str, str], needles: list[str]
) -> None:
    """The handler's cold start refuses the setting; the CLI shows that message, not a traceback."""
    invoked = run_cli(
        "invoke", function, "--event", str(EVENTS / f"{event}.json"), cwd=tmp_path, env=fresh_env(**settings)
    )
    assert invoked.returncode == 2
    assert invoked.stdout == ""
    assert_one_line_error(invoked.stderr, "mcp-lambda invoke:", *needles)


def test_invoke_authorizer_refusal_prints_the_401_decision_not_a_traceback(tmp_path: Path) -> None:
    """The README's `invoke authorizer` line with a committed event, in a fresh shell.

    An authorizer that raises "Unauthorized" makes API Gateway answer 401 (UNAUTHORIZED
    gateway response): https://aws.amazon.com/premiumsupport/knowledge-center/api-gateway-401-error-lambda-authorizer/
    Lambda reports a Python exception as {"errorMessage", "errorType", ...}:
    https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
    """
    invoked = run_cli(
        "invoke", "authorizer", "--event", str(EVENTS / "authorizer-no-authorization-401.json"), cwd=tmp_path
    )
    assert invoked.returncode == 1
    assert "Traceback" not in invoked.stderr
    assert json.loads(invoked.stdout) == {"errorMessage": "Unauthorized", "errorType": "Unauthorized"}
    assert "401 Unauthorized" in invoked.stderr


@pytest.fixture
def authorizer_gatekeeper(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DevIssuer, str]]:
    """The authorizer module's gatekeeper with an in-process issuer and a moto key store.

    Yields the issuer and an API key that lacks the base scope (the authorizer denies it: 403).
    """
    from app.authorizer import handler as authorizer

    issuer = DevIssuer(TEST_ISSUER)
    with mock_aws():
        narrow_key, record = generate_api_key("narrow", ("mcp/profile",), None, now=0)
        document = {"version": 1, "keys": [record.to_json()]}
        boto3.client("secretsmanager").create_secret(Name=KEYS_SECRET, SecretString=json.dumps(document))
        env = {**os.environ, "API_KEYS_SECRET_ID": KEYS_SECRET}
        monkeypatch.setattr(
            authorizer, "gatekeeper", Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
        )
        yield issuer, narrow_key


def _event_file(tmp_path: Path, authorization: str | None) -> str:
    headers = {} if authorization is None else {"Authorization": authorization}
    path = tmp_path / "authorizer-event.json"
    path.write_text(json.dumps(request_authorizer_event("POST", "/mcp", headers=headers)))
    return str(path)


def test_invoke_authorizer_allow_prints_the_policy_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], authorizer_gatekeeper: tuple[DevIssuer, str]
) -> None:
    issuer, _ = authorizer_gatekeeper
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"], subject="alice")
    code, out, err = call(capsys, "invoke", "authorizer", "--event", _event_file(tmp_path, f"Bearer {token}"))
    assert code == 0, err
    policy: dict[str, Any] = json.loads(out)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert policy["context"]["principal"] == "alice"
    assert "Allow policy for alice" in err
    assert token not in out + err


def test_invoke_authorizer_deny_prints_the_403_decision_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], authorizer_gatekeeper: tuple[DevIssuer, str]
) -> None:
    """A Deny policy makes API Gateway answer 403 (ACCESS_DENIED):
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
    """
    _, narrow_key = authorizer_gatekeeper
    code, out, err = call(
        capsys, "invoke", "authorizer", "--event", _event_file(tmp_path, f"Bearer {narrow_key}")
    )
    assert code == 1
    assert json.loads(out)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "403 Deny policy" in err
    assert "missing_scope" in err
    assert "Traceback" not in err
    assert narrow_key not in out + err


def test_invoke_authorizer_expired_token_is_a_401_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], authorizer_gatekeeper: tuple[DevIssuer, str]
) -> None:
    issuer, _ = authorizer_gatekeeper
    token = issuer.mint(audience=TEST_MCP_URL, expires_in=60, now=1_000_000)
    code, out, err = call(capsys, "invoke", "authorizer", "--event", _event_file(tmp_path, f"Bearer {token}"))
    assert code == 1
    assert json.loads(out)["errorMessage"] == "Unauthorized"
    assert "401 Unauthorized" in err
    assert "Traceback" not in err


def _event(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = call(capsys, "event", *args)
    assert code == 0, err
    event: dict[str, Any] = json.loads(out)
    return event


def test_event_carries_a_dev_authorizer_context_with_every_known_scope(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A proxy event reaches the MCP function only after the authorizer allowed it: say who."""
    from app.mcp.tool_scopes_export import server_table

    v1 = _event(capsys, "v1", "--tool", "add")
    context = v1["requestContext"]["authorizer"]
    assert context["principalId"] == context["principal"] == "dev-user"
    assert context["auth_method"] == "jwt"
    expected = {"mcp/access", *server_table().all_scopes()}  # every server's: the CLI knows them all
    assert set(context["scopes"].split()) == expected
    v2 = _event(capsys, "v2", "--scopes", "mcp/access")
    assert v2["requestContext"]["authorizer"]["lambda"]["scopes"] == "mcp/access"


def test_event_without_authorizer_context_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert "authorizer" not in _event(capsys, "v1", "--no-authorizer-context")["requestContext"]
    explicit = _event(capsys, "v1", "--authorizer-context", '{"principal": "p", "auth_method": "api_key"}')
    assert explicit["requestContext"]["authorizer"] == {"principal": "p", "auth_method": "api_key"}


def test_event_refuses_a_bad_scope_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "event", "v1", "--scopes", 'mcp/"x"')
    assert code == 2
    assert_one_line_error(err, "--scopes")
