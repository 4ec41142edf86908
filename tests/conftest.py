"""Fixtures shared by every test folder, and the baseline test environment.

The baseline is set at import, before any test imports a Lambda handler module (they read
their settings at import, as on a Lambda cold start). It points at no real AWS and names the
canonical MCP URL the tests use.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

EVENTS_DIR: Final = Path(__file__).parent / "events"
TEST_MCP_URL: Final = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/mcp"
TEST_PRM_URL: Final = (
    "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/.well-known/oauth-protected-resource/mcp"
)
TEST_ISSUER: Final = "https://issuer.example.com"
# The tests that need the real Lambda assets (`bundled_synth`) share this xdist group, so one
# synthesis with bundling serves them all.
BUNDLING_GROUP: Final = "infra-bundling"

_BASELINE = {
    "MCP_URL": TEST_MCP_URL,
    "OAUTH_ISSUER": TEST_ISSUER,
    "OAUTH_BASE_SCOPE": "mcp/access",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "ServerlessMcpTest",
}
for _name in (
    "MCP_URL_PARAMETER",
    "AUTH_SETTINGS_PARAMETER",
    "API_KEYS_SECRET_ID",
    "UPSTREAM_SECRET_ID",
    "ALLOWED_ORIGINS",
    "OAUTH_JWKS_URL",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    # Multi-tenancy is off unless a test turns it on.
    "MULTI_TENANT",
    "TENANT_CLAIM",
    "TENANT_GROUP_PREFIX",
    "DEFAULT_TENANT",
    "TENANT_TABLE_NAME",
    "TENANT_DATA_ROLE_ARN",
    # Usage plans (docs/quotas.md): a developer's own values must not switch them on in tests.
    "USAGE_PLANS",
    "USAGE_TIERS",
    "USAGE_DEFAULT_TIER",
    "USAGE_JWT_TIER",
    "USAGE_CLIENT_TIERS",
    "USAGE_KEY_IDS",
):
    os.environ.pop(_name, None)
os.environ.update(_BASELINE)


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return event


@pytest.fixture(scope="session")
def bundled_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack synthesized with bundling on, once per test process: the real Lambda assets
    (pip for arm64 CPython 3.13, compiled bytecode), as `cdk deploy` builds them."""
    from tests.infra.conftest import synthesize_bundled

    return synthesize_bundled(tmp_path_factory.mktemp("cdk-bundled"))


def missing(reason: str) -> NoReturn:
    """A system prerequisite is absent: skip locally with how to fix it; fail in CI, where
    `.ci/run` installs everything first (the browser, qemu)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it in .ci/run before make test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mcp_handler_runtime() -> Iterator[Any]:
    """`app.mcp.handler.handler` in one warm runtime for the whole session.

    The handler module is one Lambda container: its session manager may run once per process,
    so every test that uses the module-level handler shares this runtime.
    """
    from app.mcp.handler import handler
    from devtools.lambda_runtime import LambdaRuntime

    runtime = LambdaRuntime(handler)
    yield runtime
    runtime.close()


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (`pytest.mark.anyio`) run on asyncio, as Mangum and uvicorn do."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS, even if one changed the environment: restore the baseline."""
    for name, value in _BASELINE.items():
        monkeypatch.setenv(name, value)


class LogCapture:
    """Everything the audit trail and stdout (EMF metrics) wrote."""

    def __init__(self, stream: io.StringIO, capfd: pytest.CaptureFixture[str]) -> None:
        self._stream = stream
        self._capfd = capfd

    def text(self) -> str:
        return self._stream.getvalue() + self._capfd.readouterr().out

    def audits(self) -> list[dict[str, Any]]:
        lines = self._stream.getvalue().splitlines()
        return [json.loads(line) for line in lines if '"event_type":"audit"' in line]


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[LogCapture]:
    """Capture the audit lines (EMF documents stay on stdout, for `capfd`)."""
    from app.core.audit import trail

    stream = io.StringIO()
    previous, trail.stream = trail.stream, stream
    try:
        yield LogCapture(stream, capfd)
    finally:
        trail.stream = previous


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the MCP conformance results (`tests/e2e/test_conformance.py`) and what the arm64
    assets ran on (`tests/artefact/`), passing or failing."""
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, text in getattr(report, "user_properties", ()):
            if name in ("conformance", "artefact"):
                terminalreporter.write_line(str(text))
