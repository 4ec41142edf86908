"""The API key store in AWS Secrets Manager: load, save, and the management operations.

The whole store is one JSON secret (see :class:`~app.auth.api_keys.KeyStore`); it holds
hashes only, so reading it does not reveal a usable key. The authorizer only reads it (through
Powertools Parameters, see ``app.core.config.SettingsSource.api_key_store``); the ``mcp-lambda`` CLI
changes it with
:meth:`~SecretsManagerKeyStore.create_key`, :meth:`~SecretsManagerKeyStore.revoke` and
:meth:`~SecretsManagerKeyStore.rotate`.

Concurrent changes are detected, best effort:
:meth:`SecretsManagerKeyStore.save_if_unchanged` re-reads the current ``VersionId`` just before
writing and refuses (:class:`KeyStoreConflictError`) if it is no longer the version the change
was based on; the management operations then re-read and retry. A write landing in the few
milliseconds between that check and the put is not detected.

Why not a true compare-and-swap: moving the ``AWSCURRENT`` label with
``UpdateSecretVersionStage`` (which fails unless ``RemoveFromVersionId`` holds the label) is
atomic on AWS, but moto 5.2.5 does not change what ``GetSecretValue`` without ``VersionStage``
returns after such a move, so readers of the local stack (Powertools ``get_secret`` included)
would keep seeing the old store. A plain ``PutSecretValue`` behaves the same on both. Key
management is a rare, human-driven operation; that window is an acceptable trade.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError

from app.auth.api_keys import ApiKeyRecord, KeyStore, generate_api_key
from app.core.usage import UsageKey

if TYPE_CHECKING:  # types only (boto3-stubs, a dev dependency)
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = [
    "KeyStoreConflictError",
    "SecretsManagerKeyStore",
    "VersionedKeyStore",
]

_CURRENT: Final = "AWSCURRENT"
_MAX_ATTEMPTS: Final = 3
_DAY_SECONDS: Final = 86400


class KeyStoreConflictError(RuntimeError):
    """The key store changed between read and write; re-read and try again."""


@dataclass(frozen=True, slots=True)
class VersionedKeyStore:
    """A store and the secret version it was read from (``None``: the secret had no value)."""

    store: KeyStore
    version_id: str | None


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SecretsManagerKeyStore:
    """The key store kept in one Secrets Manager secret.

    Args:
        secret_id: secret name or ARN (``API_KEYS_SECRET_ID``). The secret must exist.
        client: a boto3 ``secretsmanager`` client; created on first use when omitted, so
            importing this module does not import boto3.
        clock: epoch seconds, for key creation and expiry; injected by tests.
    """

    def __init__(
        self,
        secret_id: str,
        client: SecretsManagerClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_id:
            raise ValueError("API_KEYS_SECRET_ID must name a Secrets Manager secret")
        self._secret_id = secret_id
        self._client = client
        self._clock = clock

    @property
    def client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3  # deferred: only the first real call pays the import

            self._client = boto3.client("secretsmanager")
        return self._client

    # --- reading ---------------------------------------------------------------------------

    def load(self) -> KeyStore:
        """The current store. An empty secret value, ``{}`` or no value yet: an empty store."""
        return self.load_versioned().store

    def load_versioned(self) -> VersionedKeyStore:
        """The current store and the ``VersionId`` it came from, for :meth:`save_if_unchanged`."""
        response = self._get_current()
        if response is None:
            return VersionedKeyStore(KeyStore(), None)
        text = response.get("SecretString")
        if text is None:
            raise ValueError("the API key store secret must hold a JSON string, not binary data")
        document = json.loads(text) if text.strip() else {}
        return VersionedKeyStore(KeyStore.from_json(document), response.get("VersionId"))

    def _get_current(self) -> Mapping[str, Any] | None:
        """``GetSecretValue`` of ``AWSCURRENT``, or ``None`` if the secret has no value yet."""
        try:
            return self.client.get_secret_value(SecretId=self._secret_id, VersionStage=_CURRENT)
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
        # Either the secret does not exist (describe raises) or it has no value yet.
        self.client.describe_secret(SecretId=self._secret_id)
        return None

    # --- writing ---------------------------------------------------------------------------

    def save(self, store: KeyStore) -> str:
        """Write ``store`` as the new current version, unconditionally; return its ``VersionId``."""
        text = json.dumps(store.to_json(), separators=(",", ":"), sort_keys=True)
        response = self.client.put_secret_value(SecretId=self._secret_id, SecretString=text)
        return str(response["VersionId"])

    def save_if_unchanged(self, store: KeyStore, based_on: VersionedKeyStore) -> str:
        """:meth:`save`, unless the secret changed since ``based_on`` was read.

        Raises :class:`KeyStoreConflictError` if the current version is no longer
        ``based_on.version_id`` (``None``: the secret had no value then).
        """
        current = self._get_current()
        if (None if current is None else current.get("VersionId")) != based_on.version_id:
            raise KeyStoreConflictError("the API key store changed while it was being updated; try again")
        return self.save(store)

    def _update(self, change: Callable[[KeyStore], tuple[KeyStore, str | None]]) -> str | None:
        """Read, apply ``change``, save conditionally; retry on a concurrent write."""
        for _ in range(_MAX_ATTEMPTS):
            current = self.load_versioned()
            new_store, result = change(current.store)
            try:
                self.save_if_unchanged(new_store, current)
            except KeyStoreConflictError:
                continue
            return result
        raise KeyStoreConflictError("the API key store kept changing; try again later")

    # --- management (the CLI) ---------------------------------------------------------------

    def create_key(
        self,
        owner: str,
        scopes: list[str] | tuple[str, ...],
        expires_in_days: int | None,
        *,
        tenant: str | None = None,
        tier: str | None = None,
        usage_key: UsageKey | None = None,
        servers: tuple[str, ...] | None = None,
    ) -> str:
        """Create a key and return its plaintext: shown once, stored nowhere.

        `tenant`: the tenant the key acts for, if given. `tier` and `usage_key`: its usage tier
        and its own API Gateway usage key (docs/quotas.md). `servers`: the MCP servers it may
        call (docs/servers.md); None: the primary server only.
        """
        if expires_in_days is not None and (isinstance(expires_in_days, bool) or expires_in_days <= 0):
            raise ValueError("expires_in_days must be a positive number of days, or None")
        now = self._clock()
        expires_at = None if expires_in_days is None else math.floor(now) + expires_in_days * _DAY_SECONDS

        def change(store: KeyStore) -> tuple[KeyStore, str | None]:
            plaintext, record = generate_api_key(
                owner, scopes, expires_at, now, tenant=tenant, servers=servers
            )
            record = replace(
                record,
                tier=tier,
                usage_key_id=usage_key.key_id if usage_key else None,
                usage_key=usage_key.value if usage_key else None,
            )
            return store.add(record), plaintext

        return cast(str, self._update(change))

    def list_keys(self) -> tuple[ApiKeyRecord, ...]:
        """Every key record (hashes only), revoked and expired ones included."""
        return self.load().list()

    def revoke(self, key_id: str) -> None:
        """Revoke a key for good; ``KeyError`` if there is no such key."""
        self._update(lambda store: (store.revoke(key_id), None))

    def rotate(self, key_id: str, grace_seconds: int) -> str:
        """Issue a successor key; the old one keeps working for ``grace_seconds`` at most."""
        now = self._clock()

        def change(store: KeyStore) -> tuple[KeyStore, str | None]:
            plaintext, new_store = store.rotate(key_id, now, grace_seconds)
            return new_store, plaintext

        return cast(str, self._update(change))
