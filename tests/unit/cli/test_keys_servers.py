"""`keys create --server`: a key names the MCP servers it may call; without it, the primary only."""

from __future__ import annotations

import pytest

from app.core.key_store import SecretsManagerKeyStore
from tests.unit.cli.conftest import KEY_STORE_SECRET, assert_one_line_error, call


def create(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    args = ("keys", "create", "--secret-id", KEY_STORE_SECRET, "--owner", "lab-bot", "--scopes", "mcp/access")
    return call(capsys, *args, *extra)


def test_a_key_created_for_servers_records_them(capsys: pytest.CaptureFixture[str], key_store: str) -> None:
    code, out, err = create(capsys, "--server", "research", "--server", "main", "--server", "research")
    assert code == 0, err
    assert out.startswith("mcpk_")
    (record,) = SecretsManagerKeyStore(key_store).list_keys()
    assert record.servers == ("research", "main")
    code, listing, _ = call(capsys, "keys", "list", "--secret-id", key_store)
    assert code == 0
    assert "servers=research,main" in listing.split()


def test_without_server_the_record_names_none_which_is_the_primary_only(
    capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    code, _, err = create(capsys)
    assert code == 0, err
    (record,) = SecretsManagerKeyStore(key_store).list_keys()
    assert record.servers is None
    assert "servers" not in record.to_json()  # a store without servers keeps its exact shape


def test_an_unknown_server_is_a_one_line_error_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    code, out, err = create(capsys, "--server", "nope")
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "--server nope: no such MCP server; the servers are main, research")
    assert SecretsManagerKeyStore(key_store).list_keys() == ()


def test_rotation_keeps_the_servers(capsys: pytest.CaptureFixture[str], key_store: str) -> None:
    create(capsys, "--server", "research")
    (record,) = SecretsManagerKeyStore(key_store).list_keys()
    code, _, err = call(capsys, "keys", "rotate", "--secret-id", key_store, "--key-id", record.key_id)
    assert code == 0, err
    assert {r.servers for r in SecretsManagerKeyStore(key_store).list_keys()} == {("research",)}
