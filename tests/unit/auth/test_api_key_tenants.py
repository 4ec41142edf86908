"""API keys that act for a tenant: the optional `tenant` field of a key record."""

from __future__ import annotations

import copy

import pytest

from app.auth.api_keys import ApiKeyVerifier, KeyStore, generate_api_key

from .helpers import NOW


def test_a_key_created_for_a_tenant_authenticates_as_that_tenant() -> None:
    plaintext, record = generate_api_key("acme-bot", ("mcp/access",), None, NOW, tenant="acme")
    principal = ApiKeyVerifier().verify(plaintext, KeyStore().add(record), NOW)
    assert (principal.subject, principal.tenant) == ("apikey:acme-bot", "acme")
    assert principal.to_context()["tenant"] == "acme"


def test_the_tenant_survives_the_store_document_and_rotation() -> None:
    _, record = generate_api_key("acme-bot", ("mcp/access",), None, NOW, tenant="acme")
    store = KeyStore.from_json(KeyStore().add(record).to_json())
    assert store.get(record.key_id) == record
    new_key, rotated = store.rotate(record.key_id, NOW, grace_seconds=60)
    successor = next(r for r in rotated.list() if r.key_id != record.key_id)
    assert successor.tenant == "acme"
    assert ApiKeyVerifier().verify(new_key, rotated, NOW).tenant == "acme"


def test_a_store_without_tenants_keeps_its_exact_shape() -> None:
    """Records written before tenants existed parse, and are written back byte for byte."""
    _, record = generate_api_key("old-bot", ("mcp/access",), None, NOW)
    document = KeyStore().add(record).to_json()
    assert "tenant" not in document["keys"][0]
    assert KeyStore.from_json(copy.deepcopy(document)).to_json() == document


@pytest.mark.parametrize("tenant", ["acme corp", "", "-acme", 7, ["acme"]])
def test_a_record_with_an_invalid_tenant_makes_the_store_invalid(tenant: object) -> None:
    _, record = generate_api_key("acme-bot", ("mcp/access",), None, NOW, tenant="acme")
    document = KeyStore().add(record).to_json()
    document["keys"][0]["tenant"] = tenant
    with pytest.raises(ValueError, match="invalid API key store document: tenant must be"):
        KeyStore.from_json(document)


def test_an_unknown_field_is_still_refused() -> None:
    _, record = generate_api_key("acme-bot", ("mcp/access",), None, NOW)
    document = KeyStore().add(record).to_json()
    document["keys"][0]["tenant_id"] = "acme"
    with pytest.raises(ValueError, match="exactly the fields"):
        KeyStore.from_json(document)


def test_generate_refuses_an_invalid_tenant() -> None:
    with pytest.raises(ValueError, match="tenant must be"):
        generate_api_key("acme-bot", ("mcp/access",), None, NOW, tenant="acme/eu")
