"""`mcp-lambda token`: a token from the local issuer through client credentials, as a machine gets one.

The dev issuer gives no token without a valid grant, so the command authenticates as the dev
machine client whose id and secret the local stack wrote to its state file (RFC 6749 §4.4, Basic
client authentication §2.3.1). The secret never appears on the command line or in an error.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from devtools.dev_issuer import DevIssuer, DevIssuerServer
from devtools.local_stack import DEV_MACHINE_CLIENT_ID, register_dev_machine_client

from .conftest import assert_one_line_error, call

MCP_URL = "http://127.0.0.1:8787/mcp"
SCOPES = ("mcp/access", "mcp/profile", "reports/write")


@pytest.fixture
def issuer() -> Iterator[DevIssuer]:
    server = DevIssuerServer(audience=MCP_URL)
    issuer = server.start()
    try:
        yield issuer
    finally:
        server.stop()


def write_state(state_dir: Path, issuer: DevIssuer, secret: str) -> None:
    state_dir.mkdir(exist_ok=True)
    state = {
        "mcp_url": MCP_URL,
        "issuer": issuer.issuer_url,
        "aws_endpoint": "http://127.0.0.1:1",
        "api_keys_secret_id": "unused",
        "dev_client_id": DEV_MACHINE_CLIENT_ID,
        "dev_client_secret": secret,
    }
    (state_dir / "credentials.json").write_text(json.dumps(state))


def test_the_token_is_the_dev_clients_with_the_scopes_asked(
    tmp_path: Path, issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_state(tmp_path, issuer, register_dev_machine_client(issuer, SCOPES))
    code, out, err = call(
        capsys,
        "token",
        "--state-dir",
        str(tmp_path),
        "--scopes",
        "mcp/access,mcp/profile",
        "--expires",
        "300",
    )
    assert (code, err) == (0, "")
    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert claims["iss"] == issuer.issuer_url
    assert claims["aud"] == MCP_URL
    assert (claims["sub"], claims["client_id"]) == (DEV_MACHINE_CLIENT_ID, DEV_MACHINE_CLIENT_ID)
    assert claims["scope"] == "mcp/access mcp/profile"
    assert claims["exp"] - claims["iat"] == 300


def test_a_scope_the_dev_client_was_not_given_is_a_clear_error(
    tmp_path: Path, issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_state(tmp_path, issuer, register_dev_machine_client(issuer, SCOPES))
    code, out, err = call(capsys, "token", "--state-dir", str(tmp_path), "--scopes", "admin")
    assert (code, out) == (2, "")
    assert_one_line_error(err, "invalid_scope")


def test_a_stale_secret_is_refused_without_echoing_it(
    tmp_path: Path, issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state file from an earlier run: the issuer made a new secret at its start."""
    register_dev_machine_client(issuer, SCOPES)
    stale = secrets.token_urlsafe(32)
    write_state(tmp_path, issuer, stale)
    code, out, err = call(capsys, "token", "--state-dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert_one_line_error(err, "invalid_client")
    assert stale not in err


def test_a_state_file_without_the_dev_client_says_to_restart(
    tmp_path: Path, issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_state(tmp_path, issuer, "")
    code, _, err = call(capsys, "token", "--state-dir", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "restart `make dev`")
