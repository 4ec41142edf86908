"""Per-client quotas over real HTTP: one client throttled with 429 while another is served.

A local stack of its own (`mcp-lambda dev`, as `make dev` runs it) with small tiers, keys made
with `mcp-lambda keys create --local --tier`, the real authorizer naming each caller's usage key,
and the gateway emulator metering it as API Gateway does (`devtools/usage_plans.py` cites the
AWS documents). No assertion depends on time: the limits are small enough to count.

- "tiny": a 2-token bucket refilled at 1 per second (API Gateway's token bucket: "Throttle
  requests to your REST APIs", https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-request-throttling.html);
- "capped": 3 requests a day (usage plan quota);
- "pooled": 2 requests a day for every JWT caller of the dev machine client (USAGE_CLIENT_TIERS):
  JWT callers share their tier's key;
- "roomy": everyone else (the dev API key, the default tier).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.e2e.conftest import ROOT, stack_process
from tests.e2e.test_local_stack import MCP_HEADERS, issuer_token

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-quotas")]

TIERS = {
    "roomy": {"rate": 10000, "burst": 5000},
    "tiny": {"rate": 1, "burst": 2},
    "capped": {"rate": 10000, "burst": 5000, "quota": 3, "period": "DAY"},
    "pooled": {"rate": 10000, "burst": 5000, "quota": 2, "period": "DAY"},
}
SETTINGS = {
    "USAGE_TIERS": json.dumps(TIERS),
    "USAGE_DEFAULT_TIER": "roomy",
    "USAGE_CLIENT_TIERS": json.dumps({"mcp-lambda-dev": "pooled"}),
}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
# Enough requests to empty a 2-token bucket refilled at 1 per second unless each one took more
# than a quarter of a second (it takes milliseconds here).
MAX_TRIES = 10
THROTTLED = {"message": "Too Many Requests"}
QUOTA_EXCEEDED = {"message": "Limit Exceeded"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("quota-stack")
    command = [sys.executable, "-m", "devtools", "dev", "--port", "0", "--state-dir", str(state_dir)]
    with stack_process(command, state_dir, "credentials.json", SETTINGS):
        state: dict[str, Any] = json.loads((state_dir / "credentials.json").read_text())
        state["state_dir"] = str(state_dir)
        yield state


def create_key(stack: dict[str, Any], owner: str, tier: str) -> str:
    """`mcp-lambda keys create --local --tier TIER`, as an operator runs it (in a fresh shell)."""
    command = ["keys", "create", "--local", "--state-dir", stack["state_dir"], "--owner", owner]
    result = subprocess.run(
        [sys.executable, "-m", "devtools", *command, "--scopes", "mcp/access", "--tier", tier],
        cwd=Path(stack["state_dir"]),
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": stack["state_dir"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def call(stack: dict[str, Any], credential: str) -> httpx2.Response:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {credential}"}
    return httpx2.post(stack["mcp_url"], headers=headers, json=LIST_TOOLS, timeout=30)


def test_one_client_is_throttled_with_429_while_another_is_served(stack: dict[str, Any]) -> None:
    """Two keys in the same tier have a bucket each: the one that bursts is throttled, the other
    one's requests at that moment are all served. The 429 is the stack's THROTTLED response."""
    greedy, polite = create_key(stack, "greedy", "tiny"), create_key(stack, "polite", "tiny")
    statuses: list[int] = []
    throttled = None
    while len(statuses) < MAX_TRIES and throttled is None:
        response = call(stack, greedy)
        statuses.append(response.status_code)
        if response.status_code == 429:
            throttled = response
    assert throttled is not None, f"greedy was never throttled: {statuses}"
    assert statuses[:2] == [200, 200]  # the bucket starts full: burst 2
    assert throttled.json() == THROTTLED
    assert throttled.headers["content-type"] == "application/json"

    served = [call(stack, polite) for _ in range(2)]
    assert [response.status_code for response in served] == [200, 200]
    assert all(response.json()["result"]["tools"] for response in served)


def test_past_its_quota_a_client_gets_429_limit_exceeded_and_others_are_served(stack: dict[str, Any]) -> None:
    capped = create_key(stack, "capped", "capped")
    statuses = [call(stack, capped).status_code for _ in range(3)]
    over = call(stack, capped)
    assert statuses == [200, 200, 200]
    assert over.status_code == 429
    assert over.json() == QUOTA_EXCEEDED
    assert call(stack, stack["api_key"]).status_code == 200  # the dev key: its own key, tier roomy


def test_jwt_callers_of_one_client_share_their_tiers_key(stack: dict[str, Any]) -> None:
    """USAGE_CLIENT_TIERS maps the dev machine client to "pooled": two different tokens of that
    client are metered under one shared key, so the second token finds the quota spent."""
    first, second = stack["access_token"], issuer_token(stack, "mcp/access")
    assert first != second
    assert [call(stack, first).status_code for _ in range(2)] == [200, 200]
    refused = call(stack, second)
    assert refused.status_code == 429
    assert refused.json() == QUOTA_EXCEEDED
    assert call(stack, stack["api_key"]).status_code == 200
