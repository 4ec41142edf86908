"""Helpers for running `mcp-lambda` as a user does: in a fresh shell, or through `main(argv)`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from devtools.cli import main

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "tests" / "events"


def fresh_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh clone: no project settings, no AWS configuration at all.

    AWS config and credential files point nowhere and instance metadata is off, so boto3
    finds no region and no credentials instead of whatever this machine has.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MCP_", "OAUTH_", "API_KEYS_", "AUTH_SETTINGS_", "UPSTREAM_"))
        and name not in ("ALLOWED_ORIGINS", "PORT")
    }
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m devtools ARGS` (what `.venv/bin/mcp-lambda` runs) in `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "devtools", *args],
        cwd=cwd,
        env=fresh_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(stderr: str, *needles: str) -> None:
    """The CLI said what is wrong in one line (no traceback) that contains every needle."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    errors = [line for line in lines if line.startswith("mcp-lambda ")]
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`main(argv)` in this process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# The API key store the `keys` tests write to: an empty secret in moto (the CLI creates the store's
# first document itself).
KEY_STORE_SECRET = "serverless-mcp/test/cli-key-store"


@pytest.fixture
def key_store() -> Iterator[str]:
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name=KEY_STORE_SECRET, SecretString="{}")
        yield KEY_STORE_SECRET
