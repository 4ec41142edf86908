"""SnapStart restore hooks: nothing cached in a snapshot outlives a restore."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
import snapshot_restore_py

from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper
from app.core.config import SettingsSource
from app.mcp import handler as mcp_handler
from devtools.dev_issuer import DevIssuer
from tests.conftest import TEST_ISSUER, TEST_MCP_URL


def registered_hooks() -> list[Any]:
    return [hook for hook, _, _ in snapshot_restore_py.get_after_restore()]


def test_both_functions_register_an_after_restore_hook() -> None:
    assert authorizer.after_restore in registered_hooks()
    assert mcp_handler.after_restore in registered_hooks()


def test_authorizer_refetches_signing_keys_after_a_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = DevIssuer(TEST_ISSUER)
    fetched: list[str] = []

    def fetch_json(url: str, timeout: float) -> dict[str, Any]:
        fetched.append(url)
        return issuer.fetch_json(url, timeout)

    keeper = Gatekeeper(SettingsSource(env=dict(os.environ)), fetch_json=fetch_json)
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    token = f"Bearer {issuer.mint(audience=TEST_MCP_URL)}"
    assert keeper.decide(token).allowed
    assert keeper.decide(token).allowed
    before = len(fetched)  # discovery + JWKS, once: cached across warm calls
    authorizer.after_restore()
    assert keeper.decide(token).allowed
    assert len(fetched) == 2 * before


def test_mcp_restore_drops_cached_settings_and_clients() -> None:
    source = mcp_handler.settings_source
    source.reader._ssm = object()  # a provider (and its client) built before the snapshot
    first = source.auth()
    mcp_handler.after_restore()
    assert source.reader._ssm is None
    assert source.auth() == first
    assert source.auth() is not first  # parsed again, not served from before the snapshot


def test_restore_reseeds_random() -> None:
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    mcp_handler.after_restore()
    assert random.random() != expected
