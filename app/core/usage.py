"""Per-client quotas: the authorizer's usage settings, and the API Gateway API keys behind them.

API Gateway meters a request against a usage plan (rate, burst, quota) through an API Gateway API
key. With the API's key source set to AUTHORIZER, that key is not sent by the client: the
authorizer names it, as `usageIdentifierKey` in its answer ("Choose an API key source in API
Gateway", "Output from an API Gateway Lambda authorizer"). Which key a caller maps to
(docs/quotas.md):

- an API key created with its own usage key (`mcp-lambda keys create --tier …`): that key, alone
  in its tier's plan, so each API key has its own bucket and quota;
- any other API key (one created before usage plans, or through `--secret-id` only): its tier's
  shared key;
- a JWT caller: the shared key of the tier `USAGE_CLIENT_TIERS` names for its `client_id`, else
  of `USAGE_JWT_TIER`. Every JWT caller of a tier shares that tier's bucket and quota.

The stack creates one shared key per tier (CloudFormation generates its value: no value in the
template) and gives the authorizer their IDS (`USAGE_KEY_IDS`); the authorizer reads each value
once per `CONFIG_CACHE_SECONDS` with `apigateway:GET` on exactly those keys. With the key source
AUTHORIZER a usage key value is not a credential (a client cannot present one), but it is still
never logged, echoed or put into an exception.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from app.auth.api_keys import TIER_NAME
from app.core.config import ConfigurationError, aws_client_config, fetch_setting

if TYPE_CHECKING:  # types only (boto3-stubs, a dev dependency)
    from mypy_boto3_apigateway import APIGatewayClient

__all__ = ["ApiGatewayKeys", "UsageKey", "UsageSettings"]

DEFAULT_TIER: Final = "standard"
_ENV_KEY_IDS: Final = "USAGE_KEY_IDS"


@dataclass(frozen=True, slots=True)
class UsageKey:
    """An API Gateway API key: its id (a public name) and its value (never printed)."""

    key_id: str
    value: str

    def __repr__(self) -> str:
        return f"UsageKey(key_id={self.key_id!r})"


def check_tier(name: object, setting: str) -> str:
    """`name` if it is a tier name; `ConfigurationError` naming `setting` otherwise."""
    if not isinstance(name, str) or not TIER_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{setting} must name tiers with 1-32 characters of a-z 0-9 -, starting with a letter "
            "(see .env.example)"
        )
    return name


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a JSON object on one line (see .env.example)")
    return value


@dataclass(frozen=True)
class UsageSettings:
    """What the authorizer needs to name a caller's usage key; None from `from_env` when off."""

    key_ids: Mapping[str, str]
    default_tier: str = DEFAULT_TIER
    jwt_tier: str = DEFAULT_TIER
    client_tiers: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UsageSettings | None:
        """The settings when `USAGE_KEY_IDS` is set (usage plans on), else None.

        `ConfigurationError` names the setting: a tier named anywhere must have a shared key.
        """
        ids = _json_object(env, _ENV_KEY_IDS)
        if not ids:
            return None
        for tier, key_id in ids.items():
            check_tier(tier, _ENV_KEY_IDS)
            if not isinstance(key_id, str) or not key_id.strip():
                raise ConfigurationError(f"{_ENV_KEY_IDS} must map each tier to an API Gateway API key id")
        default = check_tier(env.get("USAGE_DEFAULT_TIER", "").strip() or DEFAULT_TIER, "USAGE_DEFAULT_TIER")
        jwt = check_tier(env.get("USAGE_JWT_TIER", "").strip() or default, "USAGE_JWT_TIER")
        clients = _json_object(env, "USAGE_CLIENT_TIERS")
        for client_id, tier in clients.items():
            check_tier(tier, "USAGE_CLIENT_TIERS")
            if not client_id:
                raise ConfigurationError("USAGE_CLIENT_TIERS must map OAuth client ids to tiers")
        for setting, tier in (("USAGE_DEFAULT_TIER", default), ("USAGE_JWT_TIER", jwt)):
            if tier not in ids:
                raise ConfigurationError(
                    f"{setting} names a tier that is not in USAGE_TIERS: add it there or pick another"
                )
        unknown = sorted({tier for tier in clients.values() if tier not in ids})
        if unknown:
            raise ConfigurationError(
                f"USAGE_CLIENT_TIERS names tiers that are not in USAGE_TIERS: {', '.join(unknown)}"
            )
        return cls(key_ids=dict(ids), default_tier=default, jwt_tier=jwt, client_tiers=dict(clients))

    def tier_for_client(self, client_id: str | None) -> str:
        """The tier of a JWT caller: its client's, else `USAGE_JWT_TIER`."""
        mapped = (self.client_tiers or {}).get(client_id) if client_id else None
        return mapped or self.jwt_tier


class ApiGatewayKeys:
    """API Gateway API keys: read a shared key's value (the authorizer), create and delete a key
    in a usage plan (the CLI and the local stack).

    Args:
        client: a boto3 `apigateway` client; created on first use when omitted, so importing this
            module (the authorizer does) does not import boto3.
    """

    def __init__(self, client: APIGatewayClient | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> APIGatewayClient:
        with self._lock:
            if self._client is None:
                import boto3  # deferred: only a JWT caller with usage plans on pays for it

                # Bounded as every settings read (timeouts, attempts): a slow API Gateway must not
                # hold the authorizer past its own timeout.
                self._client = boto3.client("apigateway", config=aws_client_config())
            return self._client

    def reset(self) -> None:
        """Drop the client (after a SnapStart restore: its connections are not usable)."""
        with self._lock:
            self._client = None

    def value(self, key_id: str) -> str:
        """The value of an enabled API key.

        A failed read is `SettingUnavailable` (transient or not, as every settings read); a
        disabled key or one without a value is a `ConfigurationError`: both name `USAGE_KEY_IDS`.
        """
        answer: dict[str, Any] = {}

        def read() -> str:
            answer.update(self.client.get_api_key(apiKey=key_id, includeValue=True))
            return str(answer.get("value") or "")

        value = fetch_setting(read, _ENV_KEY_IDS, f"API Gateway API key {key_id}")
        if not answer.get("enabled", False) or not value:
            raise ConfigurationError(
                f"{_ENV_KEY_IDS}: API Gateway API key {key_id} is disabled or has no value; enable it or "
                "redeploy the stack"
            )
        return value

    def create(self, plan_id: str, name: str, description: str) -> UsageKey:
        """A new enabled key (API Gateway generates its value) in the usage plan `plan_id`.

        If adding it to the plan fails, the key is deleted again: no orphan keys.
        """
        created = self.client.create_api_key(name=name, description=description, enabled=True)
        key = UsageKey(key_id=created["id"], value=created["value"])
        try:
            self.client.create_usage_plan_key(usagePlanId=plan_id, keyId=key.key_id, keyType="API_KEY")
        except BaseException:
            self.delete(key.key_id)
            raise
        return key

    def delete(self, key_id: str, plan_id: str | None = None) -> None:
        """Take a key out of its usage plan (when named), then delete it; what is gone already is fine.

        Leaving the plan first is explicit rather than relying on the deletion to do it.
        """
        if plan_id is not None:
            with _unless_gone():
                self.client.delete_usage_plan_key(usagePlanId=plan_id, keyId=key_id)
        with _unless_gone():
            self.client.delete_api_key(apiKey=key_id)


@contextlib.contextmanager
def _unless_gone() -> Iterator[None]:
    """API Gateway's NotFoundException is not an error when deleting: the thing is gone."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
