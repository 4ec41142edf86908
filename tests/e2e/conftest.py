"""The local stack (`mcp-lambda dev`) started once per test session, in its own process.

A subprocess keeps the stack's environment (pointed at its own moto server) away from the
other tests, and exercises exactly what `make dev` runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# As deployed by default: no authorizer cache, so the authorizer decides per tool and a revoked
# key stops working within API_KEYS_CACHE (1 s, small so revocation is observable quickly).
AUTHORIZER_TTL_SECONDS = 0.0
API_KEYS_CACHE_SECONDS = 1
ALLOWED_ORIGIN = "https://app.example.com"
ROOT = Path(__file__).resolve().parents[2]
STACK_START_SECONDS = 120
# Usage plans are on in every stack `mcp-lambda dev` starts, as deployed; the e2e stacks get tiers
# roomy enough that no other test is throttled (tests/e2e/test_quotas.py sets its own).
E2E_USAGE_TIERS = '{"standard": {"rate": 10000, "burst": 5000}}'


@contextmanager
def stack_process(
    command: list[str], state_dir: Path, ready_file: str, settings: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (a local stack) in `state_dir` until `state_dir/ready_file` exists; yield the process.

    The stack writes that file once it serves; its output goes to `state_dir/stack.log`, whose
    tail is the failure message if it dies or does not get there in time. Its environment is
    this one without AWS_/MCP_/OAUTH_/SSO_ settings: the stack points itself at its own moto (and a
    developer's SSO_PROVIDER does not turn federation on under tests that do not ask for it). It runs
    in `state_dir`, not the repository, so a developer's own `.env` (which `mcp-lambda` reads
    from its working directory) cannot change what the tests run against. `settings` are added
    to that environment (the usage tiers by default: E2E_USAGE_TIERS).
    """
    from devtools.local_stack import StackStartError, stack_subprocess

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "MCP_", "OAUTH_", "SSO_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(settings if settings is not None else {"USAGE_TIERS": E2E_USAGE_TIERS})
    log_path = state_dir / "stack.log"
    try:
        with stack_subprocess(
            command, state_dir, ready_file, env=env, log_path=log_path, start_seconds=STACK_START_SECONDS
        ) as process:
            yield process
    except StackStartError as error:  # only the start raises it
        pytest.fail(str(error))


def local_logs_client(stack: dict[str, Any]) -> Any:
    """A CloudWatch Logs client for the stack's own moto server (local-only credentials)."""
    import boto3

    return boto3.client(
        "logs",
        endpoint_url=stack["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("local-stack")
    command = [
        sys.executable,
        "-m",
        "devtools",
        "dev",
        "--port",
        "0",
        "--state-dir",
        str(state_dir),
        "--authorizer-ttl",
        str(AUTHORIZER_TTL_SECONDS),
        "--api-keys-cache",
        str(API_KEYS_CACHE_SECONDS),
        "--allowed-origin",
        ALLOWED_ORIGIN,
    ]
    with stack_process(command, state_dir, "credentials.json"):
        state: dict[str, Any] = json.loads((state_dir / "credentials.json").read_text())
        state["state_dir"] = str(state_dir)
        state["log_path"] = str(state_dir / "stack.log")
        yield state


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (`item.stash[PHASE_REPORTS]`), so a fixture can
    tell after `yield` whether the test failed (the browser fixtures then save artifacts)."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
