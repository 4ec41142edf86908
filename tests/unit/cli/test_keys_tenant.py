"""`keys create --tenant`: a key that acts for one tenant, and `keys list` showing it."""

from __future__ import annotations

import pytest

from app.core.key_store import SecretsManagerKeyStore
from tests.unit.cli.conftest import KEY_STORE_SECRET, assert_one_line_error, call


def create(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    args = (
        "keys",
        "create",
        "--secret-id",
        KEY_STORE_SECRET,
        "--owner",
        "acme-bot",
        "--scopes",
        "mcp/access",
    )
    return call(capsys, *args, *extra)


def test_a_key_created_with_a_tenant_records_it(capsys: pytest.CaptureFixture[str], key_store: str) -> None:
    code, out, err = create(capsys, "--tenant", "acme")
    assert code == 0, err
    assert out.startswith("mcpk_")
    (record,) = SecretsManagerKeyStore(key_store).list_keys()
    assert record.tenant == "acme"
    code, listing, _ = call(capsys, "keys", "list", "--secret-id", key_store)
    assert code == 0
    assert "tenant=acme" in listing.split()


def test_an_invalid_tenant_is_a_one_line_error_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], key_store: str
) -> None:
    code, out, err = create(capsys, "--tenant", "acme/eu")
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "--tenant must be 1-64 characters")
    assert SecretsManagerKeyStore(key_store).list_keys() == ()


def test_without_tenant_the_record_has_none(capsys: pytest.CaptureFixture[str], key_store: str) -> None:
    code, _, err = create(capsys)
    assert code == 0, err
    (record,) = SecretsManagerKeyStore(key_store).list_keys()
    assert record.tenant is None
