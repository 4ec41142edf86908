"""Tenant data whose isolation IAM enforces: one DynamoDB table, credentials per tenant.

The table's partition key is the tenant (`tenant`, a string; sort key `sk`). The MCP function's
own role may not read or write it at all. It may only assume the tenant-data role, and only
with a session tag `tenant=<id>` (`sts:AssumeRole` + `sts:TagSession`, condition: the tag is
present and is the only one); that role may touch items only where
`ForAllValues:StringEquals dynamodb:LeadingKeys = ${aws:PrincipalTag/tenant}`
("Using IAM policy conditions for fine-grained access control", Amazon DynamoDB Developer
Guide; "Pass session tags in AWS STS", IAM User Guide). So a tool holding tenant A's table
client that asks for tenant B's key (a bug, or a prompt-injected argument) is refused by
DynamoDB with AccessDeniedException, whatever the tool code does.

`TenantData.table_for(tenant)` hands a tool that table client. Credentials are cached per
tenant: AssumeRole's shortest session is 15 minutes, and assuming a role per request would add
an STS round trip (tens of ms) to every call. A session is reused until 5 minutes before it
expires, at most `MAX_TENANTS` sessions are kept (least recently used dropped), and a SnapStart
restore drops them all (credentials and connections must not outlive a snapshot).

boto3 is imported on first use, not at import: the MCP function's cold start never pays for it
unless a tenant-data tool runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.auth.tenants import check_tenant_id
from app.core.config import ConfigurationError

TENANT_TAG: Final = "tenant"
PARTITION_KEY: Final = "tenant"
SORT_KEY: Final = "sk"
SESSION_SECONDS: Final = 900  # the shortest session AssumeRole grants
REFRESH_MARGIN_SECONDS: Final = 300  # a cached session is used for at most 10 minutes
MAX_TENANTS: Final = 256  # sessions kept per container: memory stays bounded
_ROLE_ARN_PREFIX: Final = ("arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::")

log = logging.getLogger(__name__)


class TenantDataError(Exception):
    """The tenant's data could not be reached; the message says why, never a credential."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # the AWS error code, when there was one


class TenantAccessDenied(TenantDataError):
    """IAM refused a request: the code asked for another tenant's items (a bug to fix)."""


@dataclass(frozen=True)
class TenantDataSettings:
    """Where tenant data lives: `TENANT_TABLE_NAME` and `TENANT_DATA_ROLE_ARN` (both or neither)."""

    table_name: str
    role_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TenantDataSettings | None:
        """The settings, `None` when neither is set; `ConfigurationError` naming the setting."""
        table = env.get("TENANT_TABLE_NAME", "").strip()
        role = env.get("TENANT_DATA_ROLE_ARN", "").strip()
        if not table and not role:
            return None
        if not table or not role:
            raise ConfigurationError(
                "TENANT_TABLE_NAME and TENANT_DATA_ROLE_ARN go together: set both (MULTI_TENANT=true "
                "deploys the table and the role) or neither"
            )
        if not role.startswith(_ROLE_ARN_PREFIX) or ":role/" not in role:
            raise ConfigurationError("TENANT_DATA_ROLE_ARN must be an IAM role ARN (arn:aws:iam::…:role/…)")
        return cls(table_name=table, role_arn=role)


def _serializer() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


class TenantTable:
    """One tenant's view of the table: the keys it builds always carry that tenant.

    `client` is the low-level DynamoDB client signed with this tenant's session, for code that
    needs more than these three calls; a request it makes for another tenant's key is refused
    by IAM (`TenantAccessDenied` when it goes through the methods here).
    """

    def __init__(self, client: Any, table_name: str, tenant: str) -> None:
        self.client = client
        self.table_name = table_name
        self.tenant = tenant
        self._serialize, self._deserialize = _serializer()

    def key(self, sort_key: str) -> dict[str, Any]:
        """The typed primary key of `sort_key` in this tenant's partition."""
        return {PARTITION_KEY: {"S": self.tenant}, SORT_KEY: {"S": sort_key}}

    def put(self, sort_key: str, attributes: Mapping[str, Any]) -> None:
        """Write an item; `ValueError` if it already exists (sort keys are meant to be unique)."""
        item = {name: self._serialize.serialize(value) for name, value in attributes.items()}
        item.update(self.key(sort_key))
        try:
            self._call(
                self.client.put_item,
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
        except TenantDataError as error:
            if error.code == "ConditionalCheckFailedException":
                raise ValueError("an item with that key exists already") from None
            raise

    def get(self, sort_key: str) -> dict[str, Any] | None:
        """The item's attributes (keys left out), or `None`."""
        answer = self._call(self.client.get_item, TableName=self.table_name, Key=self.key(sort_key))
        item = answer.get("Item")
        return None if item is None else self._plain(item)

    def query(self, prefix: str, *, limit: int, newest_first: bool = True) -> list[dict[str, Any]]:
        """This tenant's items whose sort key starts with `prefix`, at most `limit`."""
        answer = self._call(
            self.client.query,
            TableName=self.table_name,
            KeyConditionExpression="#pk = :tenant AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={":tenant": {"S": self.tenant}, ":prefix": {"S": prefix}},
            ScanIndexForward=not newest_first,
            Limit=limit,
        )
        return [self._plain(item) for item in answer.get("Items", [])]

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        """`operation(**kwargs)`; AWS errors as `TenantDataError`s naming the cause, never a credential."""
        try:
            return operation(**kwargs)
        except Exception as error:
            code = _error_code(error)
            if code in ("AccessDeniedException", "AccessDenied"):
                # Isolation held, and code asked for what it should not: an operator must know.
                log.error("tenant data: IAM refused a request of tenant %s (another's key?)", self.tenant)
                raise TenantAccessDenied("the tenant data policy refused this request", code) from None
            cause = code or type(error).__name__
            raise TenantDataError(f"the tenant data table could not be reached ({cause})", code) from None

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: self._deserialize.deserialize(value)
            for name, value in item.items()
            if name not in (PARTITION_KEY, SORT_KEY)
        }


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str):
            return code
    return ""


ClientFactory = Callable[..., Any]


def _boto3_client(service: str, **kwargs: Any) -> Any:
    import boto3  # deferred: see the module docstring

    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


class TenantData:
    """Hands out `TenantTable`s, each signed with its tenant's own (cached) STS session."""

    def __init__(
        self,
        settings: TenantDataSettings,
        *,
        client_factory: ClientFactory = _boto3_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._client_factory = client_factory
        self._clock = clock
        self._sts: Any = None
        self._tables: OrderedDict[str, tuple[float, TenantTable]] = OrderedDict()
        self._lock = threading.Lock()
        self.assumed = 0  # AssumeRole calls made, since start or the last `clear()`

    def table_for(self, tenant: str) -> TenantTable:
        """The table client for `tenant` (a valid tenant id, or `ValueError`)."""
        check_tenant_id(tenant)
        now = self._clock()
        with self._lock:
            cached = self._tables.get(tenant)
            if cached is not None and now < cached[0]:
                self._tables.move_to_end(tenant)
                return cached[1]
        # Outside the lock: an STS call must not hold up other tenants' requests.
        reuse_until, table = self._assume(tenant, now)
        with self._lock:
            self._tables[tenant] = (reuse_until, table)
            self._tables.move_to_end(tenant)
            while len(self._tables) > MAX_TENANTS:
                self._tables.popitem(last=False)
        return table

    def clear(self) -> None:
        """Forget every session and client (after a SnapStart restore)."""
        with self._lock:
            self._tables.clear()
            self._sts = None
            self.assumed = 0

    def _assume(self, tenant: str, now: float) -> tuple[float, TenantTable]:
        with self._lock:
            if self._sts is None:
                self._sts = self._client_factory("sts")
            sts = self._sts
        try:
            answer = sts.assume_role(
                RoleArn=self.settings.role_arn,
                # Shows in CloudTrail next to the tag; the tag, not the name, is what IAM checks.
                RoleSessionName=f"tenant-{tenant}"[:64],
                DurationSeconds=SESSION_SECONDS,
                Tags=[{"Key": TENANT_TAG, "Value": tenant}],
            )
        except Exception as error:
            code = _error_code(error)
            log.error("tenant data: could not assume the tenant data role (%s)", code or type(error).__name__)
            message = "the tenant data role could not be assumed (the function log says why)"
            raise TenantDataError(message, code) from None
        credentials = answer["Credentials"]
        client = self._client_factory(
            "dynamodb",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        with self._lock:
            self.assumed += 1
        expires = _epoch(credentials.get("Expiration"), now + SESSION_SECONDS)
        return min(expires, now + SESSION_SECONDS) - REFRESH_MARGIN_SECONDS, TenantTable(
            client, self.settings.table_name, tenant
        )


def _epoch(value: object, default: float) -> float:
    """STS's `Expiration` (a datetime from boto3) as epoch seconds; `default` if unreadable."""
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        try:
            return float(timestamp())
        except (TypeError, ValueError, OverflowError):
            return default
    return default
