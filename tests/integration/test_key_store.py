"""The API key store in Secrets Manager (moto): the CLI operations and the authorizer's read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from app.auth.api_keys import API_KEY_PREFIX, ApiKeyVerifier, KeyStore, parse_api_key
from app.auth.errors import AuthError, ReasonCode
from app.core.key_store import KeyStoreConflictError, SecretsManagerKeyStore

SECRET_NAME = "serverless-mcp/api-keys"
NOW = 1_800_000_000.0
verifier = ApiKeyVerifier()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name=SECRET_NAME)  # no value yet, as the stack creates it
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def key_store(secretsmanager: Any, clock: Clock) -> SecretsManagerKeyStore:
    return SecretsManagerKeyStore(SECRET_NAME, secretsmanager, clock=clock)


def stored_text(client: Any) -> str:
    text: str = client.get_secret_value(SecretId=SECRET_NAME)["SecretString"]
    return text


def refusal(credential: str, store: KeyStore, now: float) -> ReasonCode:
    with pytest.raises(AuthError) as info:
        verifier.verify(credential, store, now)
    return info.value.reason


def test_secret_without_value_or_empty_is_an_empty_store(
    key_store: SecretsManagerKeyStore, secretsmanager: Any
) -> None:
    assert key_store.load() == KeyStore()
    for empty in ("  ", "{}"):  # "" itself is refused by the API (min length 1)
        secretsmanager.put_secret_value(SecretId=SECRET_NAME, SecretString=empty)
        assert key_store.load() == KeyStore()


def test_missing_secret_is_an_error(secretsmanager: Any) -> None:
    with pytest.raises(ClientError):
        SecretsManagerKeyStore("does-not-exist", secretsmanager).load()


def test_corrupt_secret_is_refused(key_store: SecretsManagerKeyStore, secretsmanager: Any) -> None:
    secretsmanager.put_secret_value(
        SecretId=SECRET_NAME, SecretString='{"version": 1, "keys": [{"key_id": 1}]}'
    )
    with pytest.raises(ValueError, match="invalid API key store document"):
        key_store.load()


def test_create_verify_list_rotate_revoke(
    key_store: SecretsManagerKeyStore, secretsmanager: Any, clock: Clock
) -> None:
    plaintext = key_store.create_key("ci-bot", ["mcp/access", "tools:read"], expires_in_days=30)
    assert plaintext.startswith(API_KEY_PREFIX)
    parsed = parse_api_key(plaintext)
    assert parsed is not None
    key_id, secret = parsed

    # Verify against what the authorizer would load.
    principal = verifier.verify(plaintext, key_store.load(), clock.now)
    assert principal.subject == "apikey:ci-bot"
    assert principal.key_id == key_id
    assert principal.scopes == frozenset({"mcp/access", "tools:read"})

    # List: hashes only, and the expiry the CLI asked for.
    (record,) = key_store.list_keys()
    assert record.key_id == key_id
    assert record.expires_at == int(NOW) + 30 * 86400
    assert record.secret_hash.startswith("sha256:")

    # Rotate with a one-hour overlap.
    clock.now += 100
    new_plaintext = key_store.rotate(key_id, grace_seconds=3600)
    store = key_store.load()
    assert len(store.list()) == 2
    for now in (clock.now, clock.now + 3599):
        assert verifier.verify(plaintext, store, now).key_id == key_id
        assert verifier.verify(new_plaintext, store, now).subject == "apikey:ci-bot"
    assert refusal(plaintext, store, clock.now + 3600) is ReasonCode.EXPIRED_KEY
    assert verifier.verify(new_plaintext, store, clock.now + 3600).key_id != key_id

    # Revoke the new key: refused at once, for the right reason.
    new_key_id = new_plaintext[5:21]
    key_store.revoke(new_key_id)
    assert refusal(new_plaintext, key_store.load(), clock.now) is ReasonCode.REVOKED_KEY

    # The stored document never holds a plaintext key or secret.
    text = stored_text(secretsmanager)
    for leaked in (plaintext, secret, new_plaintext, new_plaintext[22:], API_KEY_PREFIX):
        assert leaked not in text
    document = json.loads(text)
    assert KeyStore.from_json(document) == key_store.load()


def test_revoke_unknown_key_is_a_key_error(key_store: SecretsManagerKeyStore) -> None:
    key_store.create_key("a", ["mcp/access"], None)
    with pytest.raises(KeyError):
        key_store.revoke("ffffffffffffffff")


def test_create_key_refuses_a_non_positive_lifetime(key_store: SecretsManagerKeyStore) -> None:
    with pytest.raises(ValueError, match="expires_in_days"):
        key_store.create_key("a", ["mcp/access"], 0)


def test_concurrent_write_is_detected(key_store: SecretsManagerKeyStore, secretsmanager: Any) -> None:
    key_store.create_key("a", ["mcp/access"], None)
    stale = key_store.load_versioned()
    other_writer = SecretsManagerKeyStore(SECRET_NAME, secretsmanager, clock=lambda: NOW)
    other_plaintext = other_writer.create_key("b", ["mcp/access"], None)

    with pytest.raises(KeyStoreConflictError):
        key_store.save_if_unchanged(stale.store, stale)
    # The other writer's key survived.
    assert verifier.verify(other_plaintext, key_store.load(), NOW).subject == "apikey:b"


def test_management_operations_retry_after_a_conflict(
    key_store: SecretsManagerKeyStore, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = key_store.create_key("a", ["mcp/access"], None)
    other_writer = SecretsManagerKeyStore(SECRET_NAME, secretsmanager, clock=lambda: NOW)
    real_load = key_store.load_versioned
    raced: list[str] = []

    def load_then_race() -> Any:
        snapshot = real_load()
        if not raced:  # someone else writes between our read and our write, once
            raced.append(other_writer.create_key("b", ["mcp/access"], None))
        return snapshot

    monkeypatch.setattr(key_store, "load_versioned", load_then_race)
    third = key_store.create_key("c", ["mcp/access"], None)
    store = real_load().store
    assert {r.owner for r in store.list()} == {"a", "b", "c"}
    for plaintext in (first, raced[0], third):
        verifier.verify(plaintext, store, NOW)


def test_client_is_created_lazily(secretsmanager: Any) -> None:
    store = SecretsManagerKeyStore(SECRET_NAME)
    assert store.load() == KeyStore()
