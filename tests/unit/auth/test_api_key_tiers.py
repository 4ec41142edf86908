"""Key store records with a usage tier and a usage key of their own (docs/quotas.md).

Stores written before usage plans existed must read and write exactly as before; a record's
usage key value stays out of every repr; a rotated key keeps its tier and usage key, so the
successor is metered as the same client.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from app.auth.api_keys import ApiKeyRecord, ApiKeyVerifier, KeyStore, generate_api_key
from app.auth.principal import Principal
from app.core.usage import UsageKey

USAGE_VALUE = "Zk4sQx7Vb2Lm9Np0Rt5Wy8Ac3Df6Gh1Jk"  # a made-up API Gateway key value (not a credential)


def _record(
    tier: str | None = None, usage_key_id: str | None = None, usage_key: str | None = None
) -> tuple[str, ApiKeyRecord]:
    plaintext, record = generate_api_key("agent-7", ("mcp/access",), None, now=1_000)
    return plaintext, replace(record, tier=tier, usage_key_id=usage_key_id, usage_key=usage_key)


def test_a_record_without_usage_fields_serializes_exactly_as_before() -> None:
    _, record = _record()
    assert set(record.to_json()) == {
        "key_id",
        "owner",
        "scopes",
        "created_at",
        "expires_at",
        "revoked",
        "secret_hash",
    }
    assert ApiKeyRecord.from_json(record.to_json()) == record


def test_tier_and_usage_key_round_trip_through_the_store_document() -> None:
    _, record = _record(tier="premium", usage_key_id="a1b2c3d4e5", usage_key=USAGE_VALUE)
    document = json.loads(json.dumps(KeyStore((record,)).to_json()))
    (parsed,) = KeyStore.from_json(document).records
    assert (parsed.tier, parsed.usage_key_id, parsed.usage_key) == ("premium", "a1b2c3d4e5", USAGE_VALUE)


def test_the_usage_key_value_is_never_in_a_repr() -> None:
    _, record = _record(tier="premium", usage_key_id="a1b2c3d4e5", usage_key=USAGE_VALUE)
    assert USAGE_VALUE not in repr(record)
    assert USAGE_VALUE not in repr(KeyStore((record,)))
    assert USAGE_VALUE not in repr(UsageKey("a1b2c3d4e5", USAGE_VALUE))


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ({"tier": "Premium"}, "tier must be"),
        ({"tier": "9lives"}, "tier must be"),
        ({"tier": ""}, "tier must be"),
        ({"usage_key_id": "a1b2c3d4e5"}, "go together"),
        ({"usage_key": USAGE_VALUE}, "go together"),
        ({"usage_key_id": "a1/b2", "usage_key": USAGE_VALUE}, "usage_key_id must be"),
        ({"usage_key_id": "a1b2c3d4e5", "usage_key": "short"}, "usage_key must be"),
        ({"usage_key_id": "a1b2c3d4e5", "usage_key": "x" * 19 + " "}, "usage_key must be"),
    ],
)
def test_malformed_usage_fields_are_refused_without_echoing_the_value(
    usage: dict[str, str], message: str
) -> None:
    _, record = _record()
    document = {**record.to_json(), **usage}
    with pytest.raises(ValueError, match=message) as raised:
        KeyStore.from_json({"version": 1, "keys": [document]})
    assert USAGE_VALUE not in str(raised.value)


def test_an_unknown_field_is_still_refused() -> None:
    _, record = _record()
    with pytest.raises(ValueError, match="exactly the fields"):
        ApiKeyRecord.from_json({**record.to_json(), "plan": "gold"})


def test_the_tier_is_the_authorizers_to_set_not_the_verifiers() -> None:
    """With usage plans off nobody is metered, so a verified key names no tier by itself."""
    plaintext, record = _record(tier="premium", usage_key_id="a1b2c3d4e5", usage_key=USAGE_VALUE)
    principal = ApiKeyVerifier().verify(plaintext, KeyStore((record,)), now=2_000)
    assert principal.tier is None
    assert USAGE_VALUE not in json.dumps(principal.to_context())


def test_a_rotated_key_keeps_its_tier_and_usage_key() -> None:
    _, record = _record(tier="premium", usage_key_id="a1b2c3d4e5", usage_key=USAGE_VALUE)
    _, store = KeyStore((record,)).rotate(record.key_id, now=2_000, grace_seconds=60)
    old, new = store.records
    assert new.key_id != old.key_id
    assert (new.tier, new.usage_key_id, new.usage_key) == ("premium", "a1b2c3d4e5", USAGE_VALUE)


def test_the_tier_goes_through_the_authorizer_context_and_back() -> None:
    principal = Principal(
        subject="apikey:agent-7", auth_method="api_key", scopes=frozenset({"mcp/access"}), tier="gold"
    )
    assert Principal.from_context(principal.to_context()) == principal
