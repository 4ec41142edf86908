"""Usage plans through the gateway emulator: the key the authorizer names, token buckets, quotas.

Each behaviour follows the AWS document cited in `devtools/usage_plans.py`; the 403/429 bodies
are the CDK stack's gateway responses (`infra/constructs/usage_plans.py`), compared here. Clocks
are injected: the counts are exact and no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx2
import pytest
from moto import mock_aws

from devtools.usage_plans import (
    MeteredKey,
    MotoUsagePlans,
    PlanLimits,
    UsageMeter,
    quota_period_start,
)
from infra.constructs.usage_plans import INVALID_API_KEY_BODY, QUOTA_EXCEEDED_BODY, THROTTLED_BODY
from tests.unit.devtools.conftest import OK, VALID, fake_authorizer, running_gateway

STAGE = ("abcdef1234", "local")


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bucket(rate: float, burst: int) -> MeteredKey:
    return MeteredKey("key-a", PlanLimits(rate=rate, burst=burst))


# --- the meter ---------------------------------------------------------------------------------


def test_the_bucket_starts_full_with_burst_tokens_then_throttles() -> None:
    """Token bucket: "a token counts for a request"; the burst is the bucket's size."""
    meter = UsageMeter(clock=FakeClock())
    outcomes = [meter.admit(bucket(rate=1, burst=3)) for _ in range(5)]
    assert outcomes == ["admitted"] * 3 + ["throttled"] * 2


def test_the_bucket_refills_at_the_rate_and_never_above_the_burst() -> None:
    clock = FakeClock()
    meter = UsageMeter(clock=clock)
    key = bucket(rate=2, burst=2)
    assert [meter.admit(key) for _ in range(3)] == ["admitted", "admitted", "throttled"]
    clock.now += 0.5  # one token at 2 per second
    assert [meter.admit(key) for _ in range(2)] == ["admitted", "throttled"]
    clock.now += 3600  # an hour idle refills to the burst, not to 7200
    assert [meter.admit(key) for _ in range(3)] == ["admitted", "admitted", "throttled"]


def test_each_usage_key_has_its_own_bucket() -> None:
    meter = UsageMeter(clock=FakeClock())
    first, second = bucket(1, 1), MeteredKey("key-b", PlanLimits(rate=1, burst=1))
    assert [meter.admit(first), meter.admit(first)] == ["admitted", "throttled"]
    assert meter.admit(second) == "admitted"


def test_a_plan_without_throttle_settings_is_not_throttled() -> None:
    meter = UsageMeter(clock=FakeClock())
    key = MeteredKey("key-a", PlanLimits(rate=None, burst=None))
    assert {meter.admit(key) for _ in range(1000)} == {"admitted"}


def test_the_quota_counts_admitted_requests_per_utc_day() -> None:
    wall = FakeClock(datetime(2026, 12, 2, 23, 59, 0, tzinfo=UTC).timestamp())
    meter = UsageMeter(clock=FakeClock(), wall_clock=wall)
    key = MeteredKey("key-a", PlanLimits(rate=None, burst=None, quota=2, period="DAY"))
    assert [meter.admit(key) for _ in range(3)] == ["admitted", "admitted", "quota_exceeded"]
    wall.now += 60  # 00:00 UTC: a new day, a new quota
    assert [meter.admit(key) for _ in range(3)] == ["admitted", "admitted", "quota_exceeded"]


def test_a_throttled_request_is_not_charged_to_the_quota() -> None:
    clock = FakeClock()
    meter = UsageMeter(clock=clock, wall_clock=FakeClock(datetime(2026, 12, 2, tzinfo=UTC).timestamp()))
    key = MeteredKey("key-a", PlanLimits(rate=1, burst=1, quota=2))
    assert [meter.admit(key), meter.admit(key)] == ["admitted", "throttled"]
    clock.now += 1
    assert [meter.admit(key), meter.admit(key)] == ["admitted", "throttled"]
    clock.now += 1
    assert meter.admit(key) == "quota_exceeded"  # two admitted: the quota is spent


@pytest.mark.parametrize(
    ("period", "moment", "start"),
    [
        ("DAY", datetime(2026, 12, 2, 14, 30, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)),
        # QuotaSettings offset 0: "with a time period of WEEK, an offset of 0 starts on Sunday".
        ("WEEK", datetime(2026, 12, 2, 14, 30, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)),
        ("WEEK", datetime(2026, 11, 29, 0, 0, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC)),
        ("WEEK", datetime(2026, 11, 28, 23, 59, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)),
        ("MONTH", datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_quota_periods_are_utc_calendar_periods(period: Any, moment: datetime, start: datetime) -> None:
    assert quota_period_start(period, moment.timestamp()) == start


# --- the gateway ---------------------------------------------------------------------------------


class StaticPlans:
    """A usage plan directory of fixed keys (the moto-backed one is tested below)."""

    def __init__(self, keys: dict[str, MeteredKey]) -> None:
        self.keys = keys

    def lookup(self, usage_key: str) -> MeteredKey | None:
        return self.keys.get(usage_key)


def naming(usage_key: str | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The fake authorizer, naming `usage_key` at the top level of its Allow (when not None)."""

    def authorize(event: dict[str, Any]) -> dict[str, Any]:
        answer = fake_authorizer(event)
        if usage_key is not None:
            answer["usageIdentifierKey"] = usage_key
        return answer

    return authorize


def by_credential(keys: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An authorizer allowing each `Bearer <name>` of `keys`, metered under `keys[name]`."""

    def authorize(event: dict[str, Any]) -> dict[str, Any]:
        headers = {name.lower(): value for name, value in event["headers"].items()}
        credential = headers["authorization"].removeprefix("Bearer ")
        answer = fake_authorizer({**event, "multiValueHeaders": {"Authorization": [VALID]}})
        answer["usageIdentifierKey"] = keys[credential]
        return answer

    return authorize


def post(url: str, credential: str = VALID) -> httpx2.Response:
    return httpx2.post(url, headers={"Authorization": credential}, content=b"{}")


def _assert_gateway_response(response: httpx2.Response, status: int, body: str) -> None:
    assert response.status_code == status
    assert response.text == body
    assert response.headers["content-type"] == "application/json"
    assert "x-amzn-requestid" in response.headers


@pytest.mark.parametrize("named", [None, "not-in-any-plan-0000000"], ids=["no key", "unknown key"])
def test_a_usage_key_in_no_plan_is_403_invalid_api_key_and_the_function_never_runs(named: str | None) -> None:
    """AUTHORIZER key source: a key that matches no usage plan key is "InvalidKeyParameter ... 403
    Forbidden" ("Choose an API key source in API Gateway"): gateway response INVALID_API_KEY."""
    options = {"usage_plans": StaticPlans({})}
    with running_gateway(OK, authorize=naming(named), gateway_options=options) as gateway:
        response = post(gateway.mcp_url)
    _assert_gateway_response(response, 403, INVALID_API_KEY_BODY)
    assert gateway.function.events == []


def test_one_client_is_throttled_while_another_is_served() -> None:
    """Per-client limits: each usage key its own bucket ("Throttle requests to your REST APIs"),
    429 THROTTLED with the stack's body; the other client's requests reach the function."""
    plans = StaticPlans(
        {
            "usage-key-of-a-000000000": MeteredKey("a", PlanLimits(rate=1, burst=2)),
            "usage-key-of-b-000000000": MeteredKey("b", PlanLimits(rate=1, burst=2)),
        }
    )
    authorize = by_credential(
        {"client-a": "usage-key-of-a-000000000", "client-b": "usage-key-of-b-000000000"}
    )
    options = {"usage_plans": plans, "usage_meter": UsageMeter(clock=FakeClock())}  # time stands still
    with running_gateway(OK, authorize=authorize, gateway_options=options) as gateway:
        a = [post(gateway.mcp_url, "Bearer client-a") for _ in range(4)]
        b = [post(gateway.mcp_url, "Bearer client-b") for _ in range(2)]
    assert [response.status_code for response in a] == [200, 200, 429, 429]
    _assert_gateway_response(a[-1], 429, THROTTLED_BODY)
    assert [response.status_code for response in b] == [200, 200]
    assert len(gateway.function.events) == 4


def test_past_its_quota_a_client_gets_429_limit_exceeded() -> None:
    plans = StaticPlans(
        {"quota-key-00000000000000": MeteredKey("q", PlanLimits(rate=None, burst=None, quota=3))}
    )
    options = {"usage_plans": plans}
    with running_gateway(
        OK, authorize=naming("quota-key-00000000000000"), gateway_options=options
    ) as gateway:
        responses = [post(gateway.mcp_url) for _ in range(5)]
    assert [response.status_code for response in responses] == [200, 200, 200, 429, 429]
    _assert_gateway_response(responses[-1], 429, QUOTA_EXCEEDED_BODY)


def test_the_cached_policy_keeps_its_usage_key() -> None:
    """With an authorizer cache the whole answer is reused, `usageIdentifierKey` included: the
    authorizer runs once, and every request is still metered under that key."""
    plans = StaticPlans({"cached-key-0000000000000": MeteredKey("c", PlanLimits(rate=1, burst=2))})
    options = {"usage_plans": plans, "usage_meter": UsageMeter(clock=FakeClock())}
    with running_gateway(
        OK, authorize=naming("cached-key-0000000000000"), gateway_options=options, authorizer_ttl_seconds=300
    ) as gateway:
        statuses = [post(gateway.mcp_url).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(gateway.authorizer.events) == 1


def test_without_usage_plans_the_usage_key_is_ignored() -> None:
    with running_gateway(OK, authorize=naming("anything-at-all-000000000")) as gateway:
        assert [post(gateway.mcp_url).status_code for _ in range(5)] == [200] * 5


def test_an_authorizer_answer_with_a_non_string_usage_key_is_an_authorizer_failure() -> None:
    def authorize(event: dict[str, Any]) -> dict[str, Any]:
        return {**fake_authorizer(event), "usageIdentifierKey": 12345}

    with running_gateway(
        OK, authorize=authorize, gateway_options={"usage_plans": StaticPlans({})}
    ) as gateway:
        response = post(gateway.mcp_url)
    assert response.status_code == 500
    assert json.loads(response.text) == {"message": None}


# --- the moto-backed directory ---------------------------------------------------------------------


@pytest.fixture
def apigateway() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("apigateway")


def _plan(client: Any, stage: tuple[str, str], **limits: Any) -> str:
    stages = [{"apiId": stage[0], "stage": stage[1]}]
    return str(client.create_usage_plan(name="plan", apiStages=stages, **limits)["id"])


def _key_in(client: Any, plan_id: str, enabled: bool = True) -> dict[str, Any]:
    key: dict[str, Any] = client.create_api_key(name="k", enabled=enabled)
    client.create_usage_plan_key(usagePlanId=plan_id, keyId=key["id"], keyType="API_KEY")
    return key


def test_moto_directory_finds_an_enabled_key_in_a_plan_of_the_stage(apigateway: Any) -> None:
    plan = _plan(
        apigateway, STAGE, throttle={"rateLimit": 1.5, "burstLimit": 3}, quota={"limit": 9, "period": "WEEK"}
    )
    key = _key_in(apigateway, plan)
    found = MotoUsagePlans(apigateway, *STAGE).lookup(key["value"])
    assert found == MeteredKey(key["id"], PlanLimits(rate=1.5, burst=3, quota=9, period="WEEK"))


def test_moto_directory_refuses_disabled_keys_other_stages_and_unknown_values(apigateway: Any) -> None:
    disabled = _key_in(apigateway, _plan(apigateway, STAGE), enabled=False)
    elsewhere = _key_in(apigateway, _plan(apigateway, ("abcdef1234", "prod")))
    loose = apigateway.create_api_key(name="in-no-plan", enabled=True)
    directory = MotoUsagePlans(apigateway, *STAGE)
    for value in (disabled["value"], elsewhere["value"], loose["value"], "no-such-key-0000000000"):
        assert directory.lookup(value) is None


def test_moto_directory_sees_changes_after_its_cache_age(apigateway: Any) -> None:
    """API Gateway takes a moment to apply key changes; the emulator caches a lookup a few seconds."""
    clock = FakeClock()
    key = _key_in(apigateway, _plan(apigateway, STAGE))
    directory = MotoUsagePlans(apigateway, *STAGE, cache_seconds=5, clock=clock)
    assert directory.lookup(key["value"]) is not None
    apigateway.delete_api_key(apiKey=key["id"])
    assert directory.lookup(key["value"]) is not None
    clock.now += 5
    assert directory.lookup(key["value"]) is None
