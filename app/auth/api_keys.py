"""API keys: format, hashing, the key store document, and verification. Pure: no I/O.

Format: ``mcpk_<key_id>_<secret>``, 65 characters:

- ``mcpk_``: a fixed prefix, so the authenticator can tell an API key from a JWT without
  trying to parse it, and secret scanners can recognise a leaked key.
- ``key_id``: 16 lower-case hex characters (64 random bits): the public, loggable name of
  the key, used to find its record.
- ``secret``: 43 base64url characters, 32 bytes from :mod:`secrets` (256 bits).

base64url contains ``_``, so the parts are split by their fixed lengths, never on ``_``.

Only a hash of each key is stored (see :func:`hash_api_key`). Times are integer epoch seconds
(UTC), which compare without parsing and cannot carry a time-zone mistake; the CLI formats them
for people.

Reason codes for logs are precise (``unknown_key``, ``bad_secret``, ...), but the verifier
compares a hash even when the key id is unknown, so response time does not reveal which key ids
exist, and revocation/expiry are only reported once the secret matched.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from app.auth.errors import AuthError, ReasonCode
from app.auth.principal import Principal
from app.auth.scopes import validate_scopes
from app.auth.tenants import check_tenant_id
from app.auth.tool_scopes import SERVER_NAME

__all__ = [
    "API_KEY_LENGTH",
    "API_KEY_PREFIX",
    "KEY_STORE_FORMAT_VERSION",
    "ApiKeyRecord",
    "ApiKeyVerifier",
    "KeyStore",
    "generate_api_key",
    "hash_api_key",
    "parse_api_key",
]

API_KEY_PREFIX: Final = "mcpk_"
_KEY_ID_BYTES: Final = 8
_SECRET_BYTES: Final = 32
API_KEY_LENGTH: Final = len(API_KEY_PREFIX) + 2 * _KEY_ID_BYTES + 1 + 43
KEY_STORE_FORMAT_VERSION: Final = 1

_API_KEY: Final = re.compile(r"mcpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})", re.ASCII)
_KEY_ID: Final = re.compile(r"[0-9a-f]{16}", re.ASCII)
_SECRET_HASH: Final = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
# Owners become part of the subject ("apikey:<owner>") and of log lines: keep them plain.
_OWNER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:/-]{0,127}", re.ASCII)
_RECORD_FIELDS: Final = frozenset(
    {"key_id", "owner", "scopes", "created_at", "expires_at", "revoked", "secret_hash"}
)
# Written only when set, so a store without tenants keeps its exact shape.
_OPTIONAL_RECORD_FIELDS: Final = frozenset({"tenant", "servers"})
# Usage plans (docs/quotas.md): written only when set, so a store without them reads and writes
# exactly as before.
_USAGE_FIELDS: Final = ("tier", "usage_key_id", "usage_key")
# A usage tier name (USAGE_TIERS): it also names the tier's API Gateway usage plan.
TIER_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,31}", re.ASCII)
# An API Gateway API key: its id, and its value (CreateApiKey: at least 20 characters).
_USAGE_KEY_ID: Final = re.compile(r"[A-Za-z0-9]{1,64}", re.ASCII)
_USAGE_KEY: Final = re.compile(r"[\x21-\x7e]{20,128}", re.ASCII)


def parse_api_key(credential: str) -> tuple[str, str] | None:
    """Split a credential into ``(key_id, secret)``, or ``None`` if it is not an API key."""
    match = _API_KEY.fullmatch(credential)
    return (match.group(1), match.group(2)) if match else None


def hash_api_key(key_id: str, secret: str) -> str:
    """``"sha256:<hex>"`` of the full key text ``mcpk_<key_id>_<secret>``.

    A fast hash is the right tool here, unlike for passwords: the secret is 256 random bits,
    so there is nothing to brute-force, and a slow KDF would only add latency to every
    authorizer call. Hashing the whole key (key id included) binds a stored hash to its key
    id, so copying a hash to another record does not make another key valid.
    """
    digest = hashlib.sha256(f"{API_KEY_PREFIX}{key_id}_{secret}".encode("ascii")).hexdigest()
    return f"sha256:{digest}"


# Compared against when the key id is unknown, so both paths cost one hash and one compare.
_DUMMY_HASH: Final = hash_api_key("0" * 16, "A" * 43)


def _epoch(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer (epoch seconds)")
    return value


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """What the key store keeps about one key: never the key itself.

    Attributes:
        key_id: 16 lower-case hex characters.
        owner: who the key belongs to (the principal subject is ``apikey:<owner>``).
        scopes: granted scopes, normalised to a sorted tuple without duplicates.
        created_at: epoch seconds (UTC).
        expires_at: epoch seconds (UTC) after which the key is refused, or ``None``.
        revoked: a revoked key is refused for good.
        secret_hash: :func:`hash_api_key` of the key, ``"sha256:<64 hex>"``.
        tenant: the tenant the key acts for (``keys create --tenant``), or ``None``.
        tier: the usage tier (API Gateway usage plan) of the key; ``None``: the default tier.
        usage_key_id, usage_key: the id and value of the key's own API Gateway API key, which
            the authorizer returns as ``usageIdentifierKey`` so API Gateway meters this key on
            its own; ``None``: the key shares its tier's key. With the API key source
            AUTHORIZER a client cannot present that value, so it is not a credential; it is
            still never printed or logged (``repr`` leaves it out).
        servers: the MCP servers of the API the key may call (``keys create --server``), by
            registry name (docs/servers.md); ``None``: the primary server only.
    """

    key_id: str
    owner: str
    scopes: tuple[str, ...]
    created_at: int
    expires_at: int | None
    revoked: bool
    secret_hash: str
    tenant: str | None = None
    tier: str | None = None
    usage_key_id: str | None = None
    usage_key: str | None = field(default=None, repr=False)
    servers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("key_id must be 16 lower-case hex characters")
        if not isinstance(self.owner, str) or not _OWNER.fullmatch(self.owner):
            raise ValueError("owner must be 1-128 characters of A-Z a-z 0-9 . _ @ + : / -")
        if isinstance(self.scopes, str) or not isinstance(self.scopes, tuple | list):
            raise ValueError("scopes must be a list of scope tokens")
        object.__setattr__(self, "scopes", tuple(sorted(validate_scopes(self.scopes))))
        _epoch(self.created_at, "created_at")
        if self.expires_at is not None:
            _epoch(self.expires_at, "expires_at")
        if not isinstance(self.revoked, bool):
            raise ValueError("revoked must be a boolean")
        if not isinstance(self.secret_hash, str) or not _SECRET_HASH.fullmatch(self.secret_hash):
            raise ValueError("secret_hash must be 'sha256:' followed by 64 lower-case hex characters")
        if self.tenant is not None:
            check_tenant_id(self.tenant)
        if self.tier is not None and (not isinstance(self.tier, str) or not TIER_NAME.fullmatch(self.tier)):
            raise ValueError("tier must be 1-32 characters of a-z 0-9 -, starting with a letter")
        if self.servers is not None:
            if (
                isinstance(self.servers, str)
                or not isinstance(self.servers, tuple | list)
                or not self.servers
            ):
                raise ValueError("servers must be a non-empty list of server names")
            if not all(isinstance(name, str) and SERVER_NAME.fullmatch(name) for name in self.servers):
                raise ValueError("servers must hold server names (a-z 0-9 -, starting with a letter)")
            object.__setattr__(self, "servers", tuple(dict.fromkeys(self.servers)))
        if (self.usage_key_id is None) != (self.usage_key is None):
            raise ValueError("usage_key_id and usage_key go together (both or neither)")
        if self.usage_key_id is not None and (
            not isinstance(self.usage_key_id, str) or not _USAGE_KEY_ID.fullmatch(self.usage_key_id)
        ):
            raise ValueError("usage_key_id must be an API Gateway API key id (letters and digits)")
        if self.usage_key is not None and (
            not isinstance(self.usage_key, str) or not _USAGE_KEY.fullmatch(self.usage_key)
        ):
            raise ValueError("usage_key must be an API Gateway API key value (20-128 printable characters)")

    def is_expired(self, now: float) -> bool:
        """True once ``now`` (epoch seconds) has reached ``expires_at``."""
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "key_id": self.key_id,
            "owner": self.owner,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
            "secret_hash": self.secret_hash,
            **({"tenant": self.tenant} if self.tenant is not None else {}),
            **({"servers": list(self.servers)} if self.servers is not None else {}),
        }
        for name in _USAGE_FIELDS:
            if getattr(self, name) is not None:
                document[name] = getattr(self, name)
        return document

    @classmethod
    def from_json(cls, data: object) -> ApiKeyRecord:
        """Strictly parse one record; ``ValueError`` on a missing, extra or mistyped field."""
        if not isinstance(data, Mapping):
            raise ValueError("a key record must be a JSON object")
        optional = _OPTIONAL_RECORD_FIELDS.union(_USAGE_FIELDS)
        if not _RECORD_FIELDS <= set(data) <= _RECORD_FIELDS | optional:
            raise ValueError(
                f"a key record must have exactly the fields {sorted(_RECORD_FIELDS)}, "
                f"and may have {', '.join(sorted(optional))}"
            )
        scopes = data["scopes"]
        if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
            raise ValueError("scopes must be a list of strings")
        servers = data.get("servers")
        if servers is not None and not isinstance(servers, list):
            raise ValueError("servers must be a list of server names")
        return cls(
            key_id=data["key_id"],
            owner=data["owner"],
            scopes=tuple(scopes),
            created_at=data["created_at"],
            expires_at=data["expires_at"],
            revoked=data["revoked"],
            secret_hash=data["secret_hash"],
            tenant=data.get("tenant"),
            tier=data.get("tier"),
            usage_key_id=data.get("usage_key_id"),
            usage_key=data.get("usage_key"),
            servers=tuple(servers) if servers is not None else None,
        )


def generate_api_key(
    owner: str,
    scopes: Iterable[str],
    expires_at: int | None,
    now: float,
    *,
    tenant: str | None = None,
    servers: Iterable[str] | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Create a key: return its plaintext (show it once, store it nowhere) and its record.

    ``now`` and ``expires_at`` are epoch seconds; ``expires_at`` must be in the future.
    ``tenant``: the tenant every request with this key acts for. ``servers``: the MCP servers
    it may call (``None``: the primary server only).
    """
    created_at = _epoch(math.floor(now), "now")
    if expires_at is not None and _epoch(expires_at, "expires_at") <= created_at:
        raise ValueError("expires_at must be later than now")
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    plaintext = f"{API_KEY_PREFIX}{key_id}_{secret}"
    record = ApiKeyRecord(
        key_id=key_id,
        owner=owner,
        scopes=tuple(scopes),
        created_at=created_at,
        expires_at=expires_at,
        revoked=False,
        secret_hash=hash_api_key(key_id, secret),
        tenant=tenant,
        servers=tuple(servers) if servers is not None else None,
    )
    return plaintext, record


@dataclass(frozen=True, slots=True)
class KeyStore:
    """The whole API key store: an immutable value, changed by returning a new one.

    Stored as one JSON document (a Secrets Manager secret): ``{"version": 1, "keys": [...]}``.
    ``version`` is the document format version, so a future format can be told apart; only
    :data:`KEY_STORE_FORMAT_VERSION` is accepted today. Several records of one owner may be
    valid at once: that is how rotation overlaps.
    """

    records: tuple[ApiKeyRecord, ...] = ()
    version: int = KEY_STORE_FORMAT_VERSION
    _by_id: Mapping[str, ApiKeyRecord] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.version != KEY_STORE_FORMAT_VERSION or isinstance(self.version, bool):
            raise ValueError(f"unsupported key store version; expected {KEY_STORE_FORMAT_VERSION}")
        records = tuple(self.records)
        by_id: dict[str, ApiKeyRecord] = {}
        for record in records:
            if not isinstance(record, ApiKeyRecord):
                raise ValueError("key store records must be ApiKeyRecord values")
            if record.key_id in by_id:
                raise ValueError(f"duplicate key_id {record.key_id}")
            by_id[record.key_id] = record
        object.__setattr__(self, "records", records)
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def from_json(cls, document: object) -> KeyStore:
        """Strictly parse the store document; ``{}`` is an empty store; else ``ValueError``.

        The error message starts with "invalid API key store document" and says what is
        wrong; it never echoes a value from the document.
        """
        try:
            return cls._from_json(document)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid API key store document: {exc}") from None

    @classmethod
    def _from_json(cls, document: object) -> KeyStore:
        if not isinstance(document, Mapping):
            raise ValueError("the key store must be a JSON object")
        if not document:
            return cls()
        if set(document) != {"version", "keys"}:
            raise ValueError("the key store must have exactly the fields 'version' and 'keys'")
        keys = document["keys"]
        if not isinstance(keys, list):
            raise ValueError("'keys' must be a list")
        return cls(records=tuple(ApiKeyRecord.from_json(item) for item in keys), version=document["version"])

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "keys": [record.to_json() for record in self.records]}

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._by_id.get(key_id)

    def add(self, record: ApiKeyRecord) -> KeyStore:
        """A store with ``record`` added; ``ValueError`` if its key id is taken."""
        if record.key_id in self._by_id:
            raise ValueError(f"key_id {record.key_id} already exists")
        return replace(self, records=(*self.records, record))

    def revoke(self, key_id: str) -> KeyStore:
        """A store with the key revoked (idempotent); ``KeyError`` if there is no such key."""
        record = self._require(key_id)
        return self._replace_record(replace(record, revoked=True))

    def rotate(self, key_id: str, now: float, grace_seconds: int) -> tuple[str, KeyStore]:
        """Issue a successor key and let the old one expire after a grace period.

        The new key has the same owner, scopes, tenant, servers, tier and usage key (so it is metered as
        the same client, in the same bucket and quota), and the same lifetime as the old one (or
        none if the old one had none). The old key's ``expires_at`` becomes
        ``min(existing, now + grace_seconds)``: both keys verify until then, so clients can
        switch without downtime. Returns the new plaintext (show it once) and the new store.
        ``ValueError`` if the old key is revoked or expired, ``KeyError`` if it is unknown.
        """
        if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, int) or grace_seconds < 0:
            raise ValueError("grace_seconds must be a non-negative integer")
        old = self._require(key_id)
        if old.revoked or old.is_expired(now):
            raise ValueError(f"key {key_id} is revoked or expired: create a new key instead")
        start = math.floor(now)
        lifetime = None if old.expires_at is None else max(old.expires_at - old.created_at, 1)
        plaintext, new = generate_api_key(
            old.owner,
            old.scopes,
            None if lifetime is None else start + lifetime,
            now,
            tenant=old.tenant,
            servers=old.servers,
        )
        new = replace(new, tier=old.tier, usage_key_id=old.usage_key_id, usage_key=old.usage_key)
        grace_end = start + grace_seconds
        old_expires = grace_end if old.expires_at is None else min(old.expires_at, grace_end)
        store = self._replace_record(replace(old, expires_at=old_expires)).add(new)
        return plaintext, store

    def list(self) -> tuple[ApiKeyRecord, ...]:
        """Every record, revoked and expired ones included, in insertion order."""
        return self.records

    def _require(self, key_id: str) -> ApiKeyRecord:
        record = self._by_id.get(key_id)
        if record is None:
            raise KeyError(key_id)
        return record

    def _replace_record(self, new: ApiKeyRecord) -> KeyStore:
        return replace(
            self, records=tuple(new if record.key_id == new.key_id else record for record in self.records)
        )


class ApiKeyVerifier:
    """Check a presented API key against a :class:`KeyStore` snapshot."""

    def verify(self, credential: str, store: KeyStore, now: float) -> Principal:
        """Return the key's principal, or raise :class:`AuthError`.

        Reasons: ``malformed_credential`` (not ``mcpk_<16 hex>_<43 base64url>``),
        ``unknown_key``, ``bad_secret``, then (only for the right secret) ``revoked_key`` and
        ``expired_key``. The principal is ``apikey:<owner>`` with the record's scopes,
        ``key_id``, ``tenant`` and ``expires_at``; API keys have no OAuth client, so
        ``client_id`` is ``None``.
        """
        parsed = parse_api_key(credential)
        if parsed is None:
            raise AuthError(ReasonCode.MALFORMED_CREDENTIAL, "not an API key")
        key_id, secret = parsed
        record = store.get(key_id)
        expected = record.secret_hash if record is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_api_key(key_id, secret), expected)
        if record is None:
            raise AuthError(ReasonCode.UNKNOWN_KEY)
        if not matches:
            raise AuthError(ReasonCode.BAD_SECRET)
        if record.revoked:
            raise AuthError(ReasonCode.REVOKED_KEY)
        if record.is_expired(now):
            raise AuthError(ReasonCode.EXPIRED_KEY)
        return Principal(
            subject=Principal.api_key_name(record.owner),
            auth_method="api_key",
            scopes=frozenset(record.scopes),
            key_id=record.key_id,
            tenant=record.tenant,
            expires_at=record.expires_at,
        )
