"""Who a client says it is: RFC 7591 client metadata, checked the same way for both sources.

A client reaches the front either with a Client ID Metadata Document (its ``client_id`` is an
https URL whose JSON body is the metadata: draft-ietf-oauth-client-id-metadata-document) or by
dynamic registration (RFC 7591: it POSTs the metadata). Either way the front later shows
``client_name`` on a consent page and redirects the user's browser to ``redirect_uris``, so every
field is untrusted input: bounded, free of control and bidi-override characters (a name that
renders as something else is a phishing tool), and limited to what this front supports: the
authorization code grant with refresh tokens, ``response_type=code``, and public clients (CIMD) or
public/secret clients (registration). Unknown fields are ignored (RFC 7591 §2).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from app.auth.scopes import split_scope_string
from app.oauth.redirects import MAX_REDIRECT_URI_LENGTH, RedirectUriError, validate_redirect_uri

__all__ = [
    "MAX_CLIENT_NAME_LENGTH",
    "MAX_REDIRECT_URIS",
    "ClientMetadata",
    "ClientMetadataError",
    "parse_client_metadata",
]

MAX_CLIENT_NAME_LENGTH: Final = 200
MAX_REDIRECT_URIS: Final = 10
_MAX_URI_LENGTH: Final = MAX_REDIRECT_URI_LENGTH
_MAX_SHORT_STRING: Final = 200
_MAX_SCOPE_LENGTH: Final = 2000

SUPPORTED_GRANT_TYPES: Final = frozenset({"authorization_code", "refresh_token"})
SUPPORTED_RESPONSE_TYPES: Final = frozenset({"code"})
# A CIMD client has no secret the front could know: only public clients (the draft forbids the
# shared-secret methods; private_key_jwt would need the client's JWKS and is not supported here).
_AUTH_METHODS: Final[Mapping[str, frozenset[str]]] = {
    "cimd": frozenset({"none"}),
    "registration": frozenset({"none", "client_secret_basic", "client_secret_post"}),
}
# Unicode categories refused in any displayed string: controls, format characters (bidi
# overrides such as U+202E), line/paragraph separators, surrogates, private use, unassigned.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})

InvalidMetadataCode = Literal["invalid_client_metadata", "invalid_redirect_uri"]


class ClientMetadataError(ValueError):
    """Client metadata the front will not accept.

    Attributes:
        error: the RFC 7591 §3.2.2 error code, ``invalid_redirect_uri`` or ``invalid_client_metadata``.
        description: what was wrong, safe to return to the client and to log (it names fields,
            never their values).
    """

    def __init__(self, error: InvalidMetadataCode, description: str) -> None:
        super().__init__(description)
        self.error: InvalidMetadataCode = error
        self.description = description


@dataclass(frozen=True)
class ClientMetadata:
    """A client's validated metadata (RFC 7591 §2), as the front uses it."""

    client_id: str
    redirect_uris: tuple[str, ...]
    client_name: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    grant_types: tuple[str, ...] = ("authorization_code",)
    response_types: tuple[str, ...] = ("code",)
    token_endpoint_auth_method: str = "none"  # noqa: S105 - an auth method name, not a secret
    scope: str | None = None
    software_id: str | None = None
    software_version: str | None = None

    @property
    def display_name(self) -> str:
        """What the consent page calls the client: its name, else the host of its URL client_id."""
        if self.client_name:
            return self.client_name
        try:
            host = urlsplit(self.client_id).hostname
        except ValueError:
            host = None
        return host or self.client_id


def parse_client_metadata(
    document: Mapping[str, object], *, client_id: str, source: Literal["cimd", "registration"]
) -> ClientMetadata:
    """Validate ``document`` and return the client's metadata, or raise :class:`ClientMetadataError`.

    ``client_id`` is the identifier the front uses: the document's URL for CIMD (the document's
    own ``client_id`` must equal it exactly), the identifier the front assigned for registration
    (a ``client_id`` in a registration request is ignored: the server assigns it, RFC 7591 §3.2.1).
    """
    if not isinstance(document, Mapping):
        raise _invalid("client metadata must be a JSON object")
    if source == "cimd":
        if document.get("client_id") != client_id:
            raise _invalid("the document's client_id must equal the URL it was fetched from")
        if "client_secret" in document or "client_secret_expires_at" in document:
            raise _invalid("a client metadata document must not contain a client_secret")

    redirect_uris = _redirect_uris(document.get("redirect_uris"))
    grant_types = _choices(document, "grant_types", ("authorization_code",), SUPPORTED_GRANT_TYPES)
    if "authorization_code" not in grant_types:
        raise _invalid("grant_types must include authorization_code")
    response_types = _choices(document, "response_types", ("code",), SUPPORTED_RESPONSE_TYPES)
    auth_method = _optional_string(document, "token_endpoint_auth_method", _MAX_SHORT_STRING) or "none"
    if auth_method not in _AUTH_METHODS[source]:
        allowed = ", ".join(sorted(_AUTH_METHODS[source]))
        raise _invalid(f"token_endpoint_auth_method not supported here; supported: {allowed}")

    return ClientMetadata(
        client_id=client_id,
        redirect_uris=redirect_uris,
        client_name=_display_string(document, "client_name", MAX_CLIENT_NAME_LENGTH),
        client_uri=_https_url(document, "client_uri"),
        logo_uri=_https_url(document, "logo_uri"),
        grant_types=grant_types,
        response_types=response_types,
        token_endpoint_auth_method=auth_method,
        scope=_scope(document),
        software_id=_display_string(document, "software_id", _MAX_SHORT_STRING),
        software_version=_display_string(document, "software_version", _MAX_SHORT_STRING),
    )


def _invalid(description: str) -> ClientMetadataError:
    return ClientMetadataError("invalid_client_metadata", description)


def _redirect_uris(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ClientMetadataError("invalid_redirect_uri", "redirect_uris must be a non-empty array")
    if len(value) > MAX_REDIRECT_URIS:
        raise ClientMetadataError("invalid_redirect_uri", f"at most {MAX_REDIRECT_URIS} redirect_uris")
    uris: list[str] = []
    for position, uri in enumerate(value, start=1):
        if not isinstance(uri, str):
            raise ClientMetadataError("invalid_redirect_uri", "every redirect URI must be a string")
        try:
            validate_redirect_uri(uri)
        except RedirectUriError as exc:
            raise ClientMetadataError("invalid_redirect_uri", f"redirect_uris[{position}]: {exc}") from None
        if uri not in uris:
            uris.append(uri)
    return tuple(uris)


def _choices(
    document: Mapping[str, object], name: str, default: tuple[str, ...], supported: frozenset[str]
) -> tuple[str, ...]:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise _invalid(f"{name} must be a non-empty array of strings")
    if not set(value) <= supported:
        raise _invalid(f"{name} not supported here; supported: {', '.join(sorted(supported))}")
    return tuple(dict.fromkeys(value))


def _optional_string(document: Mapping[str, object], name: str, limit: int) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    if len(value) > limit:
        raise _invalid(f"{name} is longer than {limit} characters")
    return value


def _display_string(document: Mapping[str, object], name: str, limit: int) -> str | None:
    """A string shown to people: bounded, no control/format characters, not blank."""
    value = _optional_string(document, name, limit)
    if value is None:
        return None
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        raise _invalid(f"{name} contains control or formatting characters")
    if not value.strip():
        raise _invalid(f"{name} must not be blank")
    return value


def _https_url(document: Mapping[str, object], name: str) -> str | None:
    value = _optional_string(document, name, _MAX_URI_LENGTH)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise _invalid(f"{name} must be an https URL") from None
    if (
        parts.scheme != "https"
        or not parts.hostname
        or "@" in parts.netloc
        or not value.isascii()
        or any(char.isspace() or ord(char) < 0x20 or char in '\\"<>`' for char in value)
    ):
        raise _invalid(f"{name} must be an https URL with a host and no userinfo")
    return value


def _scope(document: Mapping[str, object]) -> str | None:
    value = _optional_string(document, "scope", _MAX_SCOPE_LENGTH)
    if value is None:
        return None
    try:
        scopes = split_scope_string(value)
    except ValueError:
        raise _invalid("scope must be space-separated RFC 6749 scope tokens") from None
    if not scopes:
        return None
    # Keep the client's order, drop duplicates and extra spaces.
    return " ".join(dict.fromkeys(token for token in value.split(" ") if token))
