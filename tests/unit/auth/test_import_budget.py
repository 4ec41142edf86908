"""The authorizer's cold start: the auth package must not drag in heavy or unrelated modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("boto3", "botocore", "mcp", "starlette", "mangum", "httpx", "pydantic", "moto")

PROBE = """
import json, sys
import app.auth.authenticator, app.auth.jwt_verifier, app.auth.api_keys, app.auth.principal
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_auth_package_imports_only_stdlib_jwt_and_cryptography() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    assert not loaded.intersection(FORBIDDEN), sorted(loaded.intersection(FORBIDDEN))
    assert {"jwt", "cryptography"} <= loaded


def test_api_key_path_does_not_import_pyjwt() -> None:
    probe = "import sys, app.auth.authenticator; print('jwt' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
