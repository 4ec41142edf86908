"""The front's state in one DynamoDB table: clients, rate counters, logins, codes, refresh tokens.

One table, partition key `pk` (a kind prefix and an id), TTL attribute `expires_at`. Every item
that stands for a credential is keyed by the SHA-256 of that credential (a code, a refresh
token, the upstream `state`), so a read of the table gives nothing that can be redeemed; what
must be stored and used again later (the upstream PKCE verifier, the upstream refresh token) is
sealed with KMS under an encryption context naming the item, so a sealed value copied onto
another item does not open.

Single use is a conditional write, never a read-then-write: two concurrent redemptions of one
code or refresh token cannot both succeed. DynamoDB deletes expired items only eventually (and
moto never), so every read checks `expires_at` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from app.oauth.client_metadata import ClientMetadata

CLIENT_TTL_SECONDS: Final = 30 * 86400
_HOUR: Final = 3600


def digest(value: str) -> str:
    """Hex SHA-256 of a credential: the only form in which one is stored or compared."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    """A random credential (codes, tokens, state): `nbytes` random bytes, base64url."""
    return secrets.token_urlsafe(nbytes)


class RateLimited(Exception):
    """Too many registrations (or client metadata downloads) from one address in this hour."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


class RegistrationClosed(Exception):
    """The global cap on registered clients is reached."""


@dataclass(frozen=True)
class StoredClient:
    metadata: ClientMetadata
    secret_hash: str | None  # hex SHA-256 of the client secret; None for a public client


@dataclass(frozen=True)
class PendingLogin:
    """An authorization request between `/authorize` and the upstream's callback."""

    key: str  # digest of the upstream state
    client_id: str
    redirect_uri: str
    client_state: str
    code_challenge: str
    scopes: tuple[str, ...]
    resource: str
    nonce: str
    upstream_verifier: str  # unsealed in memory only
    browser_hash: str
    consented: bool
    expires_at: int


@dataclass(frozen=True)
class AuthorizationCode:
    key: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    subject: str
    resource: str
    family: str
    upstream_refresh_token: str | None
    expires_at: int
    tenant: str | None = None  # the user's tenant at sign-in (multi-tenancy on)


@dataclass(frozen=True)
class Family:
    """A refresh-token family: every refresh token descended from one authorization."""

    family_id: str
    subject: str
    client_id: str
    scopes: tuple[str, ...]
    resource: str
    upstream_refresh_token: str | None
    revoked: bool
    expires_at: int
    tenant: str | None = None


class CodeRedemption:
    """Outcomes of `redeem_code` other than success."""

    UNKNOWN: Final = "unknown"
    REPLAYED: Final = "replayed"


class RefreshRedemption:
    UNKNOWN: Final = "unknown"
    REUSED: Final = "reused"
    REVOKED: Final = "revoked"


# `_use_once`'s answer for an item used before (an identity check: no item is this object).
_REPLAYED: Final[dict[str, Any]] = {}


class SealBroken(Exception):
    """A sealed value did not open: KMS refused its ciphertext or encryption context.

    Either the table was tampered with (a value copied onto another item or field) or the
    sealing key changed. Never a reason to go on: the flow fails closed (a 500 whose audit
    event names this class), and the message holds no ciphertext.
    """


class Sealer:
    """KMS Encrypt/Decrypt with an encryption context naming the item and the field."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    def seal(self, plaintext: str, *, item: str, purpose: str) -> bytes:
        answer = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=plaintext.encode(),
            EncryptionContext={"item": item, "purpose": purpose},
        )
        blob: bytes = answer["CiphertextBlob"]
        return blob

    def open(self, blob: bytes, *, item: str, purpose: str) -> str:
        try:
            answer = self._kms.decrypt(
                KeyId=self._key_id,
                CiphertextBlob=blob,
                EncryptionContext={"item": item, "purpose": purpose},
            )
        except (self._kms.exceptions.InvalidCiphertextException, self._kms.exceptions.IncorrectKeyException):
            raise SealBroken(f"the sealed {purpose} of a {item.split('#', 1)[0]} item did not open") from None
        plaintext: bytes = answer["Plaintext"]
        return plaintext.decode()


class FrontStore:
    """Typed operations on the table; boto3's low-level client, no resource layer (smaller, faster)."""

    def __init__(
        self, dynamodb: Any, table_name: str, sealer: Sealer, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self._sealer = sealer
        self._clock = clock

    @property
    def conditional_failure(self) -> type[Exception]:
        """The exception of a failed condition (a write that lost a race or met a revoked item)."""
        failure: type[Exception] = self._db.exceptions.ConditionalCheckFailedException
        return failure

    def now(self) -> int:
        return int(self._clock())

    # --- clients (dynamic registration) -------------------------------------------------------

    def check_registration_allowed(self, source_ip: str, *, per_ip_per_hour: int, max_clients: int) -> None:
        """Count one registration against the caller's hourly budget and the global cap.

        Both are atomic conditional counters. The global cap counts registrations per client
        lifetime window (30 days, the registered clients' TTL): live clients never exceed twice
        the cap, and a flood ends at the cap however many addresses it comes from.
        """
        self._count_hourly("ip", source_ip, per_ip_per_hour)
        now = self.now()
        window = now // CLIENT_TTL_SECONDS
        if not self._bump(f"ratelimit#clients#{window}", max_clients, (window + 2) * CLIENT_TTL_SECONDS):
            raise RegistrationClosed

    def check_cimd_fetch_allowed(self, source_ip: str, *, per_ip_per_hour: int) -> None:
        """Count one client metadata document download against the caller's hourly budget.

        Called only when a fetch is about to happen (nothing cached): each new URL an address
        names makes the front open a connection to a host of the caller's choosing, so the
        number of those is bounded per address like registrations are.
        """
        self._count_hourly("cimd", source_ip, per_ip_per_hour)

    def _count_hourly(self, kind: str, source_ip: str, limit: int) -> None:
        """One more `kind` event from `source_ip` this hour, or `RateLimited` when over `limit`.

        The address is stored only as its digest (the audit trail has it; the table need not).
        """
        now = self.now()
        hour = now // _HOUR
        # Registrations keep their original key ("ip"): counters live across a deployment.
        prefix = "ratelimit#ip" if kind == "ip" else f"ratelimit#{kind}"
        if not self._bump(f"{prefix}#{digest(source_ip)}#{hour}", limit, (hour + 1) * _HOUR):
            raise RateLimited(retry_after=max(1, (hour + 1) * _HOUR - now))

    def _bump(self, key: str, limit: int, expires_at: int) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="ADD #n :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "count"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":exp": {"N": str(expires_at)},
                },
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return limit > 0

    def put_client(self, metadata: ClientMetadata, secret_hash: str | None) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"client#{metadata.client_id}"},
            "metadata": {"S": json.dumps(asdict(metadata))},
            "created_at": {"N": str(self.now())},
            "expires_at": {"N": str(self.now() + CLIENT_TTL_SECONDS)},
        }
        if secret_hash is not None:
            item["secret_hash"] = {"S": secret_hash}
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_client(self, client_id: str) -> StoredClient | None:
        """A registered client, its 30-day lifetime renewed (at most once a day) by use."""
        key = f"client#{client_id}"
        item = self._get(key)
        if item is None:
            return None
        raw = json.loads(item["metadata"]["S"])
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        metadata = ClientMetadata(**fields)
        expires_at = int(item["expires_at"]["N"])
        if expires_at - self.now() < CLIENT_TTL_SECONDS - 86400:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET expires_at = :exp",
                ExpressionAttributeValues={":exp": {"N": str(self.now() + CLIENT_TTL_SECONDS)}},
            )
        secret_hash = item.get("secret_hash", {}).get("S")
        return StoredClient(metadata=metadata, secret_hash=secret_hash)

    # --- pending logins ----------------------------------------------------------------------

    def put_login(
        self,
        upstream_state: str,
        *,
        client_id: str,
        redirect_uri: str,
        client_state: str,
        code_challenge: str,
        scopes: tuple[str, ...],
        resource: str,
        nonce: str,
        upstream_verifier: str,
        browser_hash: str,
        consented: bool,
        ttl_seconds: int,
    ) -> None:
        key = f"login#{digest(upstream_state)}"
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": key},
                "client_id": {"S": client_id},
                "redirect_uri": {"S": redirect_uri},
                "client_state": {"S": client_state},
                "code_challenge": {"S": code_challenge},
                "scopes": {"S": " ".join(scopes)},
                "resource": {"S": resource},
                "nonce": {"S": nonce},
                "verifier": {
                    "B": self._sealer.seal(upstream_verifier, item=key, purpose="upstream_verifier")
                },
                "browser_hash": {"S": browser_hash},
                "consented": {"BOOL": consented},
                "expires_at": {"N": str(self.now() + ttl_seconds)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_login(self, upstream_state: str) -> PendingLogin | None:
        key = f"login#{digest(upstream_state)}"
        item = self._get(key)
        return self._login(key, item) if item is not None else None

    def mark_consented(self, upstream_state: str) -> bool:
        """Record the user's approval once; False when the login is gone or approved already."""
        key = f"login#{digest(upstream_state)}"
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET consented = :yes",
                ConditionExpression="attribute_exists(pk) AND consented = :no AND expires_at > :now",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":no": {"BOOL": False},
                    ":now": {"N": str(self.now())},
                },
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def take_login(self, upstream_state: str) -> PendingLogin | None:
        """Remove and return the login (single use); None if unknown, used or expired."""
        key = f"login#{digest(upstream_state)}"
        item = self._delete(key)
        return self._login(key, item) if item is not None else None

    def delete_login(self, upstream_state: str) -> None:
        self._delete(f"login#{digest(upstream_state)}")

    def _login(self, key: str, item: dict[str, Any]) -> PendingLogin:
        return PendingLogin(
            key=key,
            client_id=item["client_id"]["S"],
            redirect_uri=item["redirect_uri"]["S"],
            client_state=item["client_state"]["S"],
            code_challenge=item["code_challenge"]["S"],
            scopes=tuple(item["scopes"]["S"].split()),
            resource=item["resource"]["S"],
            nonce=item["nonce"]["S"],
            upstream_verifier=self._sealer.open(
                bytes(item["verifier"]["B"]), item=key, purpose="upstream_verifier"
            ),
            browser_hash=item["browser_hash"]["S"],
            consented=item["consented"]["BOOL"],
            expires_at=int(item["expires_at"]["N"]),
        )

    # --- authorization codes -----------------------------------------------------------------

    def put_code(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str,
        code_challenge: str,
        scopes: tuple[str, ...],
        subject: str,
        resource: str,
        upstream_refresh_token: str | None,
        ttl_seconds: int,
        tenant: str | None = None,
    ) -> None:
        key = f"code#{digest(code)}"
        item: dict[str, Any] = {
            "pk": {"S": key},
            "client_id": {"S": client_id},
            "redirect_uri": {"S": redirect_uri},
            "code_challenge": {"S": code_challenge},
            "scopes": {"S": " ".join(scopes)},
            "subject": {"S": subject},
            "resource": {"S": resource},
            "family": {"S": new_secret(16)},  # the family its tokens will join, known before use
            "used": {"BOOL": False},
            "expires_at": {"N": str(self.now() + ttl_seconds)},
        }
        if tenant is not None:
            item["tenant"] = {"S": tenant}
        if upstream_refresh_token is not None:
            item["upstream_refresh"] = {
                "B": self._sealer.seal(upstream_refresh_token, item=key, purpose="upstream_refresh_token")
            }
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def _use_once(self, key: str) -> dict[str, Any] | None:
        """Mark the live, unused item `key` used (one conditional write) and return its attributes.

        None when there is no such live item; `_REPLAYED` when it was used before, after revoking
        the family it belongs to (a code or refresh token presented twice leaked somewhere).
        """
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET used = :yes",
                ConditionExpression="attribute_exists(pk) AND used = :no AND expires_at > :now",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":no": {"BOOL": False},
                    ":now": {"N": str(self.now())},
                },
                ReturnValues="ALL_NEW",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            item = self._get(key, check_expiry=False)
            if item is not None and item["used"]["BOOL"]:
                self.revoke_family(item["family"]["S"])
                return _REPLAYED
            return None
        attributes: dict[str, Any] = answer["Attributes"]
        return attributes

    def redeem_code(self, code: str) -> AuthorizationCode | str:
        """Mark the code used (atomically) and return it, or why not (`CodeRedemption`).

        A replay answers `REPLAYED` and revokes the family the first redemption created: the
        code leaked, so the tokens issued for it must not outlive the discovery (RFC 6749 §4.1.2).
        """
        key = f"code#{digest(code)}"
        item = self._use_once(key)
        if item is None:
            return CodeRedemption.UNKNOWN
        if item is _REPLAYED:
            return CodeRedemption.REPLAYED
        sealed = item.get("upstream_refresh", {}).get("B")
        return AuthorizationCode(
            key=key,
            client_id=item["client_id"]["S"],
            redirect_uri=item["redirect_uri"]["S"],
            code_challenge=item["code_challenge"]["S"],
            scopes=tuple(item["scopes"]["S"].split()),
            subject=item["subject"]["S"],
            resource=item["resource"]["S"],
            family=item["family"]["S"],
            upstream_refresh_token=(
                self._sealer.open(bytes(sealed), item=key, purpose="upstream_refresh_token")
                if sealed is not None
                else None
            ),
            expires_at=int(item["expires_at"]["N"]),
            tenant=_optional_text(item, "tenant"),
        )

    # --- refresh-token families ------------------------------------------------------------

    def create_family(
        self,
        family_id: str,
        *,
        subject: str,
        client_id: str,
        scopes: tuple[str, ...],
        resource: str,
        upstream_refresh_token: str | None,
        ttl_seconds: int,
        tenant: str | None = None,
    ) -> None:
        key = f"family#{family_id}"
        item: dict[str, Any] = {
            "pk": {"S": key},
            "subject": {"S": subject},
            "client_id": {"S": client_id},
            "scopes": {"S": " ".join(scopes)},
            "resource": {"S": resource},
            "revoked": {"BOOL": False},
            "expires_at": {"N": str(self.now() + ttl_seconds)},  # absolute: rotation never extends it
        }
        if tenant is not None:
            item["tenant"] = {"S": tenant}
        if upstream_refresh_token is not None:
            item["upstream_refresh"] = {"B": self._seal_upstream_refresh(key, upstream_refresh_token)}
        # A code replayed before its first redemption finished may have revoked this family already.
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def _seal_upstream_refresh(self, key: str, token: str) -> bytes:
        return self._sealer.seal(token, item=key, purpose="upstream_refresh_token")

    def get_family(self, family_id: str) -> Family | None:
        key = f"family#{family_id}"
        item = self._get(key)
        if item is None:
            return None
        sealed = item.get("upstream_refresh", {}).get("B")
        return Family(
            family_id=family_id,
            subject=item["subject"]["S"],
            client_id=item["client_id"]["S"],
            scopes=tuple(item["scopes"]["S"].split()),
            resource=item["resource"]["S"],
            upstream_refresh_token=(
                self._sealer.open(bytes(sealed), item=key, purpose="upstream_refresh_token")
                if sealed is not None
                else None
            ),
            revoked=item["revoked"]["BOOL"],
            expires_at=int(item["expires_at"]["N"]),
            tenant=_optional_text(item, "tenant"),
        )

    def update_family_upstream(self, family_id: str, upstream_refresh_token: str) -> None:
        """Keep the upstream's rotated refresh token (unless the family was revoked meanwhile)."""
        key = f"family#{family_id}"
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET upstream_refresh = :sealed",
                ConditionExpression="attribute_exists(pk) AND revoked = :no",
                ExpressionAttributeValues={
                    ":sealed": {"B": self._seal_upstream_refresh(key, upstream_refresh_token)},
                    ":no": {"BOOL": False},
                },
            )

    def revoke_family(self, family_id: str) -> None:
        """Revoke every refresh token of the family; a revoked family never comes back.

        Written even when the family does not exist yet (a code replayed while its first
        redemption is still running): the later `create_family` then fails its condition.
        """
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"family#{family_id}"}},
            UpdateExpression="SET revoked = :yes, expires_at = if_not_exists(expires_at, :exp) "
            "REMOVE upstream_refresh",
            ExpressionAttributeValues={
                ":yes": {"BOOL": True},
                ":exp": {"N": str(self.now() + 90 * 86400)},
            },
        )

    # --- refresh tokens ------------------------------------------------------------------------

    def put_refresh_token(self, token: str, *, family_id: str, expires_at: int) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"refresh#{digest(token)}"},
                "family": {"S": family_id},
                "used": {"BOOL": False},
                "expires_at": {"N": str(expires_at)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def use_refresh_token(self, token: str) -> Family | str:
        """Mark the token used (atomically) and return its live family, or why not.

        A second use of a token revokes its family (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): either
        the client or an attacker holds a stolen copy, and the server cannot tell which.
        """
        item = self._use_once(f"refresh#{digest(token)}")
        if item is None:
            return RefreshRedemption.UNKNOWN
        if item is _REPLAYED:
            return RefreshRedemption.REUSED
        family = self.get_family(item["family"]["S"])
        if family is None or family.revoked:
            return RefreshRedemption.REVOKED
        return family

    def release_refresh_token(self, token: str) -> None:
        """Make a token usable again after a refresh that issued nothing (the upstream was down)."""
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"refresh#{digest(token)}"}},
                UpdateExpression="SET used = :no",
                ConditionExpression="attribute_exists(pk) AND used = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":no": {"BOOL": False}},
            )

    def family_of_refresh_token(self, token: str) -> str | None:
        item = self._get(f"refresh#{digest(token)}")
        return item["family"]["S"] if item is not None else None

    # --- plumbing ----------------------------------------------------------------------------

    def _get(self, key: str, *, check_expiry: bool = True) -> dict[str, Any] | None:
        answer = self._db.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        if item is None:
            return None
        if check_expiry and int(item.get("expires_at", {}).get("N", "0")) <= self.now():
            return None  # DynamoDB's TTL deletes late (moto never): expired is gone
        return item

    def _delete(self, key: str) -> dict[str, Any] | None:
        """Delete and return a live item; None if it was absent or expired (single use)."""
        try:
            answer = self._db.delete_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":now": {"N": str(self.now())}},
                ReturnValues="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        item: dict[str, Any] | None = answer.get("Attributes")
        return item


def _optional_text(item: Mapping[str, Any], name: str) -> str | None:
    """A string attribute that older items (written before it existed) may lack."""
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None
