"""Client metadata from a CIMD document or a registration request (RFC 7591 §2, §3.2.2).

Sources: RFC 7591 §2 (the fields; unknown ones ignored), §3.2.2 (``invalid_redirect_uri`` and
``invalid_client_metadata``); draft-ietf-oauth-client-id-metadata-document-03, "Client ID
Metadata Document" (the document's ``client_id`` equals its URL exactly; no ``client_secret``, no
shared-secret auth methods for a document-identified client).
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from app.oauth.client_metadata import ClientMetadata, ClientMetadataError, parse_client_metadata

CIMD_ID = "https://client.example.test/oauth/client.json"


def _cimd(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "client_id": CIMD_ID,
        "client_name": "Example MCP Client",
        "redirect_uris": ["http://127.0.0.1/callback", "https://client.example.test/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    document.update(fields)
    return {key: value for key, value in document.items() if value is not None}


def test_a_typical_cimd_document_is_parsed() -> None:
    metadata = parse_client_metadata(
        _cimd(client_uri="https://client.example.test/", scope="mcp/access  tools/read mcp/access"),
        client_id=CIMD_ID,
        source="cimd",
    )
    assert metadata == ClientMetadata(
        client_id=CIMD_ID,
        redirect_uris=("http://127.0.0.1/callback", "https://client.example.test/cb"),
        client_name="Example MCP Client",
        client_uri="https://client.example.test/",
        grant_types=("authorization_code", "refresh_token"),
        response_types=("code",),
        token_endpoint_auth_method="none",
        scope="mcp/access tools/read",
    )
    assert metadata.display_name == "Example MCP Client"


def test_defaults_and_unknown_fields_for_a_registration() -> None:
    metadata = parse_client_metadata(
        {"redirect_uris": ["http://localhost:6274/oauth/callback"], "x_vendor_field": {"a": 1}},
        client_id="c-123",
        source="registration",
    )
    assert metadata.grant_types == ("authorization_code",)
    assert metadata.response_types == ("code",)
    assert metadata.token_endpoint_auth_method == "none"
    assert metadata.client_name is None
    assert metadata.display_name == "c-123"


def test_a_registration_request_cannot_choose_its_client_id() -> None:
    metadata = parse_client_metadata(
        {"client_id": "admin", "redirect_uris": ["https://a.example/cb"]},
        client_id="c-9",
        source="registration",
    )
    assert metadata.client_id == "c-9"


def test_display_name_falls_back_to_the_cimd_host() -> None:
    metadata = parse_client_metadata(_cimd(client_name=None), client_id=CIMD_ID, source="cimd")
    assert metadata.display_name == "client.example.test"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_registration_may_ask_for_a_client_secret(method: str) -> None:
    metadata = parse_client_metadata(
        {"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": method},
        client_id="c-1",
        source="registration",
    )
    assert metadata.token_endpoint_auth_method == method


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({"client_id": "https://client.example.test/oauth/other.json"}, "client_id must equal"),
        ({"client_id": CIMD_ID + "/"}, "client_id must equal"),
        ({"client_id": None}, "client_id must equal"),
        ({"client_secret": "s3cr3t"}, "client_secret"),
        ({"client_secret_expires_at": 0}, "client_secret"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
    ],
)
def test_cimd_specific_refusals(fields: dict[str, Any], description: str) -> None:
    document = _cimd(**fields)
    if "client_id" in fields and fields["client_id"] is None:
        document.pop("client_id", None)
    with pytest.raises(ClientMetadataError, match=description) as caught:
        parse_client_metadata(document, client_id=CIMD_ID, source="cimd")
    assert caught.value.error == "invalid_client_metadata"
    assert "s3cr3t" not in caught.value.description


@pytest.mark.parametrize(
    "redirect_uris",
    [
        None,
        [],
        "https://a.example/cb",
        [42],
        ["https://a.example/cb#frag"],
        ["http://evil.example/cb"],
        ["javascript:alert(1)"],
        ["https://user@a.example/cb"],
        [f"https://a.example/cb{i}" for i in range(11)],
    ],
)
def test_bad_redirect_uris_are_invalid_redirect_uri(redirect_uris: object) -> None:
    with pytest.raises(ClientMetadataError) as caught:
        parse_client_metadata(_cimd(redirect_uris=redirect_uris), client_id=CIMD_ID, source="cimd")
    assert caught.value.error == "invalid_redirect_uri"
    assert "evil" not in caught.value.description


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({"grant_types": ["implicit"]}, "grant_types"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"grant_types": ["client_credentials", "authorization_code"]}, "grant_types"),
        ({"grant_types": ["refresh_token"]}, "authorization_code"),
        ({"grant_types": []}, "grant_types"),
        ({"grant_types": "authorization_code"}, "grant_types"),
        ({"response_types": ["token"]}, "response_types"),
        ({"response_types": ["code", "id_token"]}, "response_types"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": 7}, "token_endpoint_auth_method"),
        ({"client_name": "x" * 201}, "client_name"),
        ({"client_name": "Good\u202eevil"}, "client_name"),
        ({"client_name": "line\nbreak"}, "client_name"),
        ({"client_name": "   "}, "client_name"),
        ({"client_name": ["a"]}, "client_name"),
        ({"client_uri": "http://client.example.test/"}, "client_uri"),
        ({"client_uri": "https://user@client.example.test/"}, "client_uri"),
        ({"logo_uri": "javascript:alert(1)"}, "logo_uri"),
        ({"logo_uri": "https://a.example/" + "x" * 2000}, "logo_uri"),
        ({"scope": 'mcp/access bad"scope'}, "scope"),
        ({"scope": "tab\tseparated"}, "scope"),
        ({"software_id": "\x00"}, "software_id"),
    ],
)
@pytest.mark.parametrize("source", ["cimd", "registration"])
def test_unsupported_or_unsafe_metadata_is_refused(
    fields: dict[str, Any], description: str, source: Literal["cimd", "registration"]
) -> None:
    document = _cimd(**fields)
    client_id = CIMD_ID if source == "cimd" else document.pop("client_id") and "c-1"
    with pytest.raises(ClientMetadataError, match=description) as caught:
        parse_client_metadata(document, client_id=client_id, source=source)
    assert caught.value.error == "invalid_client_metadata"


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ClientMetadataError):
        parse_client_metadata(["not", "an", "object"], client_id=CIMD_ID, source="cimd")  # type: ignore[arg-type]
