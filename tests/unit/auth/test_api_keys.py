"""API keys: format, hashing, the store document, rotation and verification."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from app.auth.api_keys import (
    API_KEY_LENGTH,
    ApiKeyRecord,
    ApiKeyVerifier,
    KeyStore,
    generate_api_key,
    hash_api_key,
    parse_api_key,
)
from app.auth.errors import AuthError, ReasonCode

from .helpers import NOW

KEY_FORMAT = re.compile(r"mcpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
verifier = ApiKeyVerifier()


def reason(credential: str, store: KeyStore, now: float) -> ReasonCode:
    with pytest.raises(AuthError) as info:
        verifier.verify(credential, store, now)
    return info.value.reason


def test_generated_key_has_the_documented_format_and_a_hash_only_record() -> None:
    plaintext, record = generate_api_key("ci-bot", ["b", "a", "a"], NOW + 86400, NOW + 0.7)
    assert KEY_FORMAT.fullmatch(plaintext)
    assert len(plaintext) == API_KEY_LENGTH == 65
    key_id, secret = plaintext[5:21], plaintext[22:]
    assert parse_api_key(plaintext) == (key_id, secret)
    assert record.key_id == key_id
    assert record.scopes == ("a", "b")
    assert record.created_at == NOW
    assert record.expires_at == NOW + 86400
    assert record.revoked is False
    assert record.secret_hash == "sha256:" + hashlib.sha256(plaintext.encode()).hexdigest()
    assert secret not in json.dumps(record.to_json())


def test_generated_keys_are_unique() -> None:
    plaintexts = {generate_api_key("o", [], None, NOW)[0] for _ in range(50)}
    assert len(plaintexts) == 50


def test_secret_containing_underscores_parses_by_length() -> None:
    key = "mcpk_0123456789abcdef_" + "_" * 20 + "-" * 23
    assert parse_api_key(key) == ("0123456789abcdef", "_" * 20 + "-" * 23)


@pytest.mark.parametrize(
    "credential",
    [
        "mcpk_0123456789abcdef_" + "A" * 42,
        "mcpk_0123456789abcdef_" + "A" * 44,
        "mcpk_0123456789ABCDEF_" + "A" * 43,
        "mcpk_0123456789abcdeg_" + "A" * 43,
        "mcpk-0123456789abcdef_" + "A" * 43,
        "mcpk_0123456789abcdef-" + "A" * 43,
        "mcpk_0123456789abcdef_" + "A" * 42 + "=",
        "MCPK_0123456789abcdef_" + "A" * 43,
        "",
    ],
)
def test_malformed_keys_do_not_parse(credential: str) -> None:
    assert parse_api_key(credential) is None
    assert reason(credential, KeyStore(), NOW) is ReasonCode.MALFORMED_CREDENTIAL


def test_verify_valid_key_gives_its_principal() -> None:
    plaintext, record = generate_api_key("ci-bot", ["mcp/access"], None, NOW)
    principal = verifier.verify(plaintext, KeyStore().add(record), NOW)
    assert principal.subject == "apikey:ci-bot"
    assert principal.auth_method == "api_key"
    assert principal.scopes == frozenset({"mcp/access"})
    assert principal.key_id == record.key_id
    assert principal.client_id is None


def test_refusal_reasons() -> None:
    good, good_record = generate_api_key("a", [], None, NOW)
    expiring, expiring_record = generate_api_key("b", [], NOW + 10, NOW)
    store = KeyStore().add(good_record).add(expiring_record)
    wrong_secret = good[:22] + ("B" if good[22] != "B" else "C") + good[23:]
    assert reason(wrong_secret, store, NOW) is ReasonCode.BAD_SECRET
    assert reason("mcpk_ffffffffffffffff_" + good[22:], store, NOW) is ReasonCode.UNKNOWN_KEY
    assert verifier.verify(expiring, store, NOW + 9.99).key_id == expiring_record.key_id
    assert reason(expiring, store, NOW + 10) is ReasonCode.EXPIRED_KEY
    assert reason(good, store.revoke(good_record.key_id), NOW) is ReasonCode.REVOKED_KEY


def test_revoked_or_expired_is_only_reported_for_the_right_secret() -> None:
    plaintext, record = generate_api_key("a", [], NOW + 10, NOW)
    store = KeyStore().add(record).revoke(record.key_id)
    wrong = plaintext[:22] + ("B" if plaintext[22] != "B" else "C") + plaintext[23:]
    assert reason(wrong, store, NOW + 100) is ReasonCode.BAD_SECRET


def test_unknown_key_id_still_costs_a_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    real_compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr("app.auth.api_keys.hmac.compare_digest", spy)
    plaintext, record = generate_api_key("a", [], None, NOW)
    store = KeyStore().add(record)
    assert reason("mcpk_ffffffffffffffff_" + plaintext[22:], store, NOW) is ReasonCode.UNKNOWN_KEY
    assert reason(plaintext[:22] + "B" * 43, store, NOW) is ReasonCode.BAD_SECRET
    verifier.verify(plaintext, store, NOW)
    assert len(compared) == 3
    assert all(len(a) == len(b) == 71 for a, b in compared)


def test_hash_binds_the_key_id() -> None:
    secret = "A" * 43
    assert hash_api_key("0" * 16, secret) != hash_api_key("1" * 16, secret)


# --- the store document --------------------------------------------------------------------


def sample_store() -> KeyStore:
    _, a = generate_api_key("alice", ["mcp/access"], None, NOW)
    _, b = generate_api_key("bob", ["mcp/access", "tools:write"], NOW + 100, NOW)
    return KeyStore().add(a).add(b).revoke(a.key_id)


def test_json_round_trip() -> None:
    store = sample_store()
    document = json.loads(json.dumps(store.to_json()))
    assert document["version"] == 1
    assert KeyStore.from_json(document) == store


def test_empty_document_is_an_empty_store() -> None:
    assert KeyStore.from_json({}).list() == ()
    assert KeyStore.from_json({"version": 1, "keys": []}).list() == ()


def _broken_documents() -> list[tuple[str, Any]]:
    good = sample_store().to_json()
    record = good["keys"][0]
    cases: list[tuple[str, Any]] = [
        ("not-an-object", []),
        ("string", "{}"),
        ("wrong-version", {**good, "version": 2}),
        ("bool-version", {**good, "version": True}),
        ("extra-top-level", {**good, "extra": 1}),
        ("missing-keys", {"version": 1}),
        ("keys-not-list", {"version": 1, "keys": {}}),
        ("record-not-object", {"version": 1, "keys": ["x"]}),
        ("duplicate-key-id", {"version": 1, "keys": [record, record]}),
    ]
    mutations: list[tuple[str, str, Any]] = [
        ("bad-key-id", "key_id", "XYZ"),
        ("short-key-id", "key_id", "abc"),
        ("empty-owner", "owner", ""),
        ("owner-with-space", "owner", "a b"),
        ("scopes-string", "scopes", "mcp/access"),
        ("scope-with-space", "scopes", ["a b"]),
        ("scope-int", "scopes", [1]),
        ("created-float", "created_at", 1.5),
        ("created-negative", "created_at", -1),
        ("created-bool", "created_at", True),
        ("expires-string", "expires_at", "2030-01-01"),
        ("revoked-string", "revoked", "false"),
        ("hash-without-prefix", "secret_hash", "0" * 64),
        ("hash-short", "secret_hash", "sha256:abc"),
        ("hash-uppercase", "secret_hash", "sha256:" + "A" * 64),
        ("plaintext-instead-of-hash", "secret_hash", "mcpk_0123456789abcdef_" + "A" * 43),
    ]
    for name, field_name, value in mutations:
        broken = copy.deepcopy(good)
        broken["keys"][0][field_name] = value
        cases.append((name, broken))
    missing = copy.deepcopy(good)
    del missing["keys"][0]["revoked"]
    cases.append(("missing-field", missing))
    extra = copy.deepcopy(good)
    extra["keys"][0]["plaintext"] = "x"
    cases.append(("extra-field", extra))
    return cases


BROKEN = _broken_documents()


@pytest.mark.parametrize("document", [doc for _, doc in BROKEN], ids=[name for name, _ in BROKEN])
def test_bad_documents_are_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="invalid API key store document"):
        KeyStore.from_json(document)


def test_add_refuses_a_duplicate_and_revoke_an_unknown_key() -> None:
    store = sample_store()
    with pytest.raises(ValueError, match="already exists"):
        store.add(store.list()[0])
    with pytest.raises(KeyError):
        store.revoke("ffffffffffffffff")


def test_operations_return_new_stores() -> None:
    store = sample_store()
    before = store.to_json()
    store.revoke(store.list()[1].key_id)
    store.add(generate_api_key("c", [], None, NOW)[1])
    store.rotate(store.list()[1].key_id, NOW, 60)
    assert store.to_json() == before


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_overlap_then_old_key_expires() -> None:
    old_plain, old_record = generate_api_key("ci-bot", ["mcp/access", "tools:read"], None, NOW)
    store = KeyStore().add(old_record)

    rotated_at = NOW + 1000
    new_plain, store = store.rotate(old_record.key_id, rotated_at, 3600)
    assert new_plain != old_plain
    assert len(store.list()) == 2

    for now in (rotated_at, rotated_at + 3599):
        old = verifier.verify(old_plain, store, now)
        new = verifier.verify(new_plain, store, now)
        assert old.subject == new.subject == "apikey:ci-bot"
        assert old.scopes == new.scopes == frozenset({"mcp/access", "tools:read"})
        assert old.key_id != new.key_id

    assert reason(old_plain, store, rotated_at + 3600) is ReasonCode.EXPIRED_KEY
    assert verifier.verify(new_plain, store, rotated_at + 3600).key_id != old_record.key_id


def test_rotation_never_extends_the_old_key_and_keeps_the_lifetime() -> None:
    _, record = generate_api_key("a", ["s"], NOW + 100, NOW)
    _, store = KeyStore().add(record).rotate(record.key_id, NOW + 50, 3600)
    old = store.get(record.key_id)
    assert old is not None
    assert old.expires_at == NOW + 100
    (new,) = [r for r in store.list() if r.key_id != record.key_id]
    assert new.created_at == NOW + 50
    assert new.expires_at == NOW + 50 + 100
    assert new.owner == "a"
    assert new.scopes == ("s",)


@pytest.mark.parametrize("grace", [-1, 1.5, True])
def test_rotation_refuses_a_bad_grace(grace: Any) -> None:
    _, record = generate_api_key("a", [], None, NOW)
    with pytest.raises(ValueError, match="grace_seconds"):
        KeyStore().add(record).rotate(record.key_id, NOW, grace)


def test_rotation_refuses_revoked_expired_and_unknown_keys() -> None:
    _, record = generate_api_key("a", [], NOW + 10, NOW)
    store = KeyStore().add(record)
    with pytest.raises(ValueError, match="revoked or expired"):
        store.revoke(record.key_id).rotate(record.key_id, NOW, 0)
    with pytest.raises(ValueError, match="revoked or expired"):
        store.rotate(record.key_id, NOW + 10, 0)
    with pytest.raises(KeyError):
        store.rotate("ffffffffffffffff", NOW, 0)


@pytest.mark.parametrize(
    ("owner", "scopes", "expires_at"),
    [("", [], None), ("has space", [], None), ("a", ["bad scope"], None), ("a", [], NOW), ("a", [], NOW - 1)],
)
def test_generate_refuses_bad_input(owner: str, scopes: list[str], expires_at: int | None) -> None:
    with pytest.raises(ValueError, match=r"owner|scope|expires_at"):
        generate_api_key(owner, scopes, expires_at, NOW)


def test_record_rejects_a_plaintext_where_the_hash_goes() -> None:
    plaintext, record = generate_api_key("a", [], None, NOW)
    with pytest.raises(ValueError, match="secret_hash"):
        ApiKeyRecord(
            key_id=record.key_id,
            owner="a",
            scopes=(),
            created_at=NOW,
            expires_at=None,
            revoked=False,
            secret_hash=plaintext,
        )
