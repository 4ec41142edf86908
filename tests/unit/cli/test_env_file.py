"""`.env`: parsed like python-dotenv and docker compose, read by the CLI and the CDK app."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.env_file import EnvFileError, load_env_file, parse_env_file
from tests.unit.cli.conftest import assert_one_line_error, call

SAMPLE = """\
# a comment line, then a blank one

PORT=9000
export STACK_NAME=FromDotEnv
OAUTH_AUDIENCES = https://a.example.com,https://b.example.com   # trailing comment
SINGLE='literal # not a comment \\n'
DOUBLE="line one\\nline two \\"quoted\\" back\\\\slash"   # comment after quotes
HASH_INSIDE=abc#def
EMPTY=
QUOTED_EMPTY=""
PORT=9001
"""


def test_parses_comments_quotes_export_and_escapes() -> None:
    assert parse_env_file(SAMPLE) == {
        "PORT": "9001",  # a later line wins, as when a shell sources the file
        "STACK_NAME": "FromDotEnv",
        "OAUTH_AUDIENCES": "https://a.example.com,https://b.example.com",
        "SINGLE": "literal # not a comment \\n",
        "DOUBLE": 'line one\nline two "quoted" back\\slash',
        "HASH_INSIDE": "abc#def",
        "EMPTY": "",
        "QUOTED_EMPTY": "",
    }


def test_every_line_of_env_example_parses() -> None:
    """The documented file is itself a valid `.env` (users copy it)."""
    example = Path(__file__).resolve().parents[3] / ".env.example"
    values = parse_env_file(example.read_text(), ".env.example")
    assert values["MCP_URL"] == "http://127.0.0.1:8787/mcp"
    assert values["OAUTH_BASE_SCOPE"] == "mcp/access"
    assert values["MCP_URL_PARAMETER"] == ""


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("NO_EQUALS_SIGN", "expected NAME=value"),
        ("1BAD=x", "expected NAME=value"),
        ("BAD NAME=x", "expected NAME=value"),
        ("OPEN='never closed", "no closing '"),
        ('OPEN="never closed', 'no closing "'),
        ("AFTER='quoted' trailing", "only a # comment"),
    ],
)
def test_a_malformed_line_names_file_and_line_but_not_the_value(line: str, why: str) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse_env_file(f"GOOD=1\n{line}\n", "/x/.env")
    message = str(caught.value)
    assert message.startswith("/x/.env line 2")
    assert why in message
    for secretish in ("never closed", "trailing", "NO_EQUALS_SIGN"):
        assert secretish not in message


def test_the_environment_wins_even_when_empty(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FROM_FILE=file\nALREADY=file\nEMPTY_IN_ENV=file\n")
    environ = {"ALREADY": "shell", "EMPTY_IN_ENV": ""}
    assert load_env_file(env_file, environ) == ["FROM_FILE"]
    assert environ == {"ALREADY": "shell", "EMPTY_IN_ENV": "", "FROM_FILE": "file"}


def test_a_missing_file_sets_nothing_and_a_bom_is_ignored(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert load_env_file(tmp_path / ".env", environ) == []
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbfPORT=8788\n")
    assert load_env_file(tmp_path / ".env", environ) == ["PORT"]
    assert environ == {"PORT": "8788"}


@pytest.fixture
def key_store() -> Any:
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name="keys", SecretString=json.dumps({}))
        yield "keys"


def test_the_cli_reads_dotenv_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    """OAUTH_BASE_SCOPE from `.env` decides which scopes `keys create` accepts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAUTH_BASE_SCOPE")
    (tmp_path / ".env").write_text("OAUTH_BASE_SCOPE=custom/base\n")
    code, out, err = call(
        capsys, "keys", "create", "--secret-id", key_store, "--owner", "me", "--scopes", "custom/base"
    )
    assert code == 0, err
    assert out.startswith("mcpk_")
    assert os.environ["OAUTH_BASE_SCOPE"] == "custom/base"


def test_the_cli_prefers_the_environment_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAUTH_BASE_SCOPE", "mcp/access")
    (tmp_path / ".env").write_text("OAUTH_BASE_SCOPE=custom/base\n")
    code, _, err = call(
        capsys, "keys", "create", "--secret-id", key_store, "--owner", "me", "--scopes", "custom/base"
    )
    assert code == 2
    assert_one_line_error(err, "custom/base", "mcp/access")


def test_a_malformed_dotenv_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PORT=8787\nAPI_TOKEN='s3cr3t-value\n")
    code, _, err = call(capsys, "token")
    assert code == 2
    assert_one_line_error(err, ".env line 2", "API_TOKEN")
    assert "s3cr3t" not in err


@pytest.mark.infra
@pytest.mark.xdist_group("infra-config")  # shares the worker that already loaded aws_cdk
def test_the_cdk_app_reads_dotenv_before_building_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra import app as cdk_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STACK_NAME", raising=False)
    monkeypatch.setenv("STAGE_NAME", "from-shell")
    (tmp_path / ".env").write_text("export STACK_NAME=FromDotEnv\nSTAGE_NAME=from-file\n")
    seen: dict[str, str | None] = {}

    class Built:
        def synth(self) -> None:
            seen["synthesized"] = "yes"

    def fake_build_app(*_args: Any, **_kwargs: Any) -> tuple[Built, None]:
        seen["STACK_NAME"] = os.environ.get("STACK_NAME")
        seen["STAGE_NAME"] = os.environ.get("STAGE_NAME")
        return Built(), None

    monkeypatch.setattr(cdk_app, "build_app", fake_build_app)
    try:
        cdk_app.main()
    finally:
        os.environ.pop("STACK_NAME", None)
    assert seen == {"STACK_NAME": "FromDotEnv", "STAGE_NAME": "from-shell", "synthesized": "yes"}
