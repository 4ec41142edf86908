"""`keys` and `dev`: scopes checked against what the server knows; AWS and setting problems in one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from moto import mock_aws

from app.core.key_store import SecretsManagerKeyStore
from app.mcp.server import build_server
from tests.unit.cli.conftest import assert_one_line_error, call, fresh_env, run_cli


def create(capsys: pytest.CaptureFixture[str], key_store: str, scopes: str) -> tuple[int, str, str]:
    """`keys create --secret-id STORE --owner me --scopes SCOPES`."""
    return call(capsys, "keys", "create", "--secret-id", key_store, "--owner", "me", "--scopes", scopes)


def test_keys_create_refuses_unknown_scopes_and_lists_the_valid_ones(
    capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    code, out, err = create(capsys, key_store, "mcp/access,nonsense")
    assert code == 2
    assert out == ""
    valid = sorted({"mcp/access", *build_server().requirements.all_scopes()})
    assert_one_line_error(err, "nonsense", *valid)
    assert SecretsManagerKeyStore(key_store).list_keys() == ()


def test_keys_create_accepts_known_scopes(capsys: pytest.CaptureFixture[str], key_store: str) -> None:
    code, out, err = create(capsys, key_store, "mcp/access,mcp/profile")
    assert code == 0, err
    assert out.startswith("mcpk_")
    (record,) = SecretsManagerKeyStore(key_store).list_keys()
    assert set(record.scopes) == {"mcp/access", "mcp/profile"}


def test_keys_create_without_the_base_scope_warns_that_it_will_be_denied(
    capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    code, _, err = create(capsys, key_store, "mcp/profile")
    assert code == 0
    assert "without mcp/access" in err
    assert "403" in err


def test_a_bad_base_scope_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key_store: str
) -> None:
    monkeypatch.setenv("OAUTH_BASE_SCOPE", "mcp access")
    code, _, err = create(capsys, key_store, "mcp/access")
    assert code == 2
    assert_one_line_error(err, "OAUTH_BASE_SCOPE", "e.g. mcp/access")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_keys_local_with_the_stack_stopped_says_start_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A state file left by a stopped `make dev` points at a port nobody listens on."""
    state = {
        "aws_endpoint": f"http://127.0.0.1:{_closed_port()}",
        "api_keys_secret_id": "serverless-mcp/local/api-keys",
        "issuer": "http://127.0.0.1:1",
    }
    (tmp_path / "credentials.json").write_text(json.dumps(state))
    code, _, err = call(capsys, "keys", "list", "--local", "--state-dir", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "does not answer", "make dev")


def test_keys_local_without_state_says_start_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = call(capsys, "keys", "list", "--local", "--state-dir", str(tmp_path / "nothing"))
    assert code == 2
    assert_one_line_error(err, "make dev")


def test_keys_stack_without_aws_region_says_how_to_set_one(tmp_path: Path) -> None:
    result = run_cli("keys", "list", "--stack", "ServerlessMcp", cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "mcp-lambda keys:", "region", "AWS_DEFAULT_REGION")


def test_keys_stack_without_aws_credentials_says_how_to_get_them(tmp_path: Path) -> None:
    env = fresh_env(AWS_DEFAULT_REGION="us-east-1")
    result = run_cli("keys", "list", "--stack", "ServerlessMcp", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "mcp-lambda keys:", "credentials", "aws configure")


def test_keys_stack_that_does_not_exist_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with mock_aws():
        code, _, err = call(capsys, "keys", "list", "--stack", "NoSuchStack")
    assert code == 2
    assert_one_line_error(err, "NoSuchStack")


@pytest.mark.parametrize(
    ("arguments", "settings", "needles"),
    [
        (["--allowed-origin", "nope"], {}, ["--allowed-origin", "https://app.example.com"]),
        ([], {"OAUTH_BASE_SCOPE": "two scopes"}, ["OAUTH_BASE_SCOPE", "e.g. mcp/access"]),
        # ALLOWED_ORIGINS (e.g. from .env) is the default of --allowed-origin, checked the same way.
        ([], {"ALLOWED_ORIGINS": "https://ok.example.com,ftp://nope"}, ["ALLOWED_ORIGINS"]),
        (["--authorizer-ttl", "7200"], {}, ["0-3600"]),
        ([], {"API_KEYS_CACHE_SECONDS": "soon"}, ["API_KEYS_CACHE_SECONDS"]),
    ],
)
def test_dev_with_a_bad_setting_stops_before_starting_anything(
    tmp_path: Path, arguments: list[str], settings: dict[str, str], needles: list[str]
) -> None:
    dev = ["dev", "--port", "0", "--state-dir", str(tmp_path), *arguments]
    result = run_cli(*dev, cwd=tmp_path, env=fresh_env(**settings))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "mcp-lambda dev:", *needles)
    assert "starting" not in result.stdout
    assert not (tmp_path / "credentials.json").exists()
