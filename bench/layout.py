"""Where things are, and the settings every worker process gets.

One place for paths and the environment, so that every contender runs with the same
variables (the handlers read their settings at import) and nothing leaks in from the shell
that started the benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

BENCH_DIR: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = BENCH_DIR.parent
APP_DIR: Final = REPO_ROOT / "app"
CONTENDERS_DIR: Final = BENCH_DIR / "contenders"
WORKER: Final = BENCH_DIR / "worker.py"
ENVS_DIR: Final = BENCH_DIR / ".envs"  # git-ignored: virtualenvs, bundles, logs, scratch files
BUNDLES_DIR: Final = ENVS_DIR / "bundles"
LOGS_DIR: Final = ENVS_DIR / "logs"
RESULTS: Final = BENCH_DIR / "results.md"
PROFILE: Final = BENCH_DIR / "PROFILE.md"

PROJECT_PYTHON: Final = Path(sys.executable)
MCP_URL: Final = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/mcp"
OAUTH_ISSUER: Final = "https://issuer.example.com"
AUTHORIZER_CONTEXT: Final = {
    "principalId": "bench-user",
    "principal": "bench-user",
    "auth_method": "jwt",
    "scopes": "mcp/access mcp/profile",
    "client_id": "bench-client",
}

# Inherited from the shell only where a process cannot start without it.
_PASS_THROUGH: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def checkout_code() -> dict[str, str]:
    """The variables that make `app/` importable from the checkout, as the bundle has it at its root."""
    return {"PYTHONPATH": str(REPO_ROOT)}


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of every worker: the handlers' settings, fake AWS credentials, no more."""
    env = {name: os.environ[name] for name in _PASS_THROUGH if name in os.environ}
    env.update(
        {
            "MCP_URL": MCP_URL,
            "OAUTH_ISSUER": OAUTH_ISSUER,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            # As deployed (infra defaults): ours logs one audit line and EMF metrics per call.
            "POWERTOOLS_SERVICE_NAME": "serverless-mcp",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_METRICS_NAMESPACE": "ServerlessMcp",
        }
    )
    env.update(extra)
    return env


def run_logged(cmd: list[str], log: Path, error: type[Exception], *, check: bool = True) -> None:
    """Run a build command with its output appended to `log`; `error` with its last errors on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as sink:
        sink.write("$ " + " ".join(cmd) + "\n")
        sink.flush()
        done = subprocess.run(cmd, stdout=sink, stderr=subprocess.PIPE, text=True, check=False)
        sink.write(done.stderr)
    if check and done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "error:" in line]
        raise error("; ".join(errors[-3:]) or f"exit {done.returncode} (see {log})")
