"""API Gateway usage plans, emulated for the local gateway: which plan meters a usage key, and
the plan's token bucket and quota.

What API Gateway does, and so what `devtools/gateway.py` does with these pieces, after the
authorizer allowed a request to a method that requires an API key, with the key source
AUTHORIZER ("Choose an API key source in API Gateway": https://docs.aws.amazon.com/apigateway/
latest/developerguide/api-gateway-api-key-source.html):

- the authorizer's `usageIdentifierKey` must be an enabled API key in a usage plan of this stage
  ("the Lambda authorizer function must return one of the usage plan's API keys",
  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html);
  otherwise 403 INVALID_API_KEY, `{"message": "Forbidden"}`;
- the key's requests are throttled with a token bucket ("API Gateway throttles requests to your
  API using the token bucket algorithm, where a token counts for a request": "Throttle requests
  to your REST APIs", https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-request-throttling.html): the bucket holds `burstLimit` tokens, refills at
  `rateLimit` per second and starts full; a request finding less than one token gets 429
  THROTTLED, `{"message": "Too Many Requests"}`;
- the key's admitted requests are counted per quota period, calendar periods in UTC (a day
  from 00:00 UTC; a week from Sunday, which is what the API reference's QuotaSettings `offset`
  0 means: "with a time period of WEEK, an offset of 0 starts on Sunday"; a month from the 1st);
  past `limit` the answer is 429 QUOTA_EXCEEDED, `{"message": "Limit Exceeded"}` (the AWS
  Knowledge Center's "429 Too Many Requests or Limit Exceeded errors" article names both).

The status codes are the "Gateway response types for API Gateway" table
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html);
the bodies are the ones `infra/constructs/usage_plans.py` declares (a test keeps them equal).
AWS documents neither whether a throttled request counts toward the quota nor which check comes
first: here the bucket is checked first and only requests that pass both are counted, so a
client is never charged quota for a request it did not get. AWS calls throttles and quotas
"targets rather than guaranteed request ceilings"; the emulator applies them exactly, which is
never kinder than AWS.

Which plan a key is in comes from the local stack's moto API Gateway (`MotoUsagePlans`), where
the local stack creates the tiers' plans and keys and `mcp-lambda keys create --local --tier`
adds keys, as the stack and the CLI do deployed. Like API Gateway, which takes a moment to see a
key or plan change, a lookup is cached for a few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient

QuotaPeriod = Literal["DAY", "WEEK", "MONTH"]
Outcome = Literal["admitted", "throttled", "quota_exceeded"]

INVALID_API_KEY_MESSAGE: Final = "Forbidden"
THROTTLED_MESSAGE: Final = "Too Many Requests"
QUOTA_EXCEEDED_MESSAGE: Final = "Limit Exceeded"
LOOKUP_CACHE_SECONDS: Final = 5.0


@dataclass(frozen=True)
class PlanLimits:
    """A usage plan's limits for a key; `rate`/`burst` None: the plan does not throttle."""

    rate: float | None
    burst: int | None
    quota: int | None = None
    period: QuotaPeriod = "DAY"


@dataclass(frozen=True)
class MeteredKey:
    """A usage key API Gateway accepts: its API key id (what the meters count by) and limits."""

    key_id: str
    limits: PlanLimits


class UsagePlanDirectory(Protocol):
    """Which enabled API key a usage key value is, in which plan of this stage; None if none."""

    def lookup(self, usage_key: str) -> MeteredKey | None: ...


def quota_period_start(period: QuotaPeriod, epoch_seconds: float) -> datetime:
    """The start (UTC) of the quota period that contains `epoch_seconds`."""
    now = datetime.fromtimestamp(epoch_seconds, UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day
    if period == "WEEK":
        # Python's weekday(): Monday 0 … Sunday 6; the week starts on Sunday.
        return day - timedelta(days=(day.weekday() + 1) % 7)
    return day.replace(day=1)


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class UsageMeter:
    """Token buckets and quota counters per API key id, on monotonic and wall clocks."""

    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _counts: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, key: MeteredKey) -> Outcome:
        """Charge one request to `key`: admitted, or why not."""
        limits = key.limits
        with self._lock:
            if not self._take_token(key.key_id, limits):
                return "throttled"
            if limits.quota is not None:
                start = quota_period_start(limits.period, self.wall_clock())
                period_start, used = self._counts.get(key.key_id, (start, 0))
                if period_start != start:
                    used = 0
                if used >= limits.quota:
                    return "quota_exceeded"
                self._counts[key.key_id] = (start, used + 1)
            return "admitted"

    def _take_token(self, key_id: str, limits: PlanLimits) -> bool:
        """Take a token from the key's bucket; True also when the plan does not throttle."""
        rate, burst = limits.rate, limits.burst
        if rate is None or burst is None:
            return True
        now = self.clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(tokens=float(burst), updated=now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


def plan_limits(plan: dict[str, Any]) -> PlanLimits:
    """A usage plan as API Gateway's GetUsagePlans returns it, as limits."""
    throttle = plan.get("throttle") or {}
    quota = plan.get("quota") or {}
    rate, burst = throttle.get("rateLimit"), throttle.get("burstLimit")
    return PlanLimits(
        rate=float(rate) if rate is not None else None,
        burst=int(burst) if burst is not None else None,
        quota=int(quota["limit"]) if quota.get("limit") is not None else None,
        period=quota.get("period") or "DAY",
    )


class MotoUsagePlans:
    """A `UsagePlanDirectory` over the local stack's moto API Gateway (the usage plans of one stage)."""

    def __init__(
        self,
        client: APIGatewayClient,
        api_id: str,
        stage: str,
        *,
        cache_seconds: float = LOOKUP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._stage = (api_id, stage)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, MeteredKey | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, usage_key: str) -> MeteredKey | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(usage_key)
        if cached is not None and now < cached[0]:
            return cached[1]
        found = self._resolve(usage_key)
        with self._lock:
            self._cache[usage_key] = (now + self._cache_seconds, found)
        return found

    def _resolve(self, usage_key: str) -> MeteredKey | None:
        key: Any = None
        for keys in self._client.get_paginator("get_api_keys").paginate(includeValues=True):
            key = next((item for item in keys.get("items", []) if item.get("value") == usage_key), None)
            if key is not None:
                break
        if key is None or not key.get("enabled", False):
            return None
        for plans in self._client.get_paginator("get_usage_plans").paginate(keyId=key["id"]):
            for plan in plans.get("items", []):
                stages = {(stage.get("apiId"), stage.get("stage")) for stage in plan.get("apiStages", [])}
                if self._stage in stages:
                    return MeteredKey(key_id=key["id"], limits=plan_limits(dict(plan)))
        return None
