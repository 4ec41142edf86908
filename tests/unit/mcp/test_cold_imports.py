"""The MCP function's cold start: what importing its handler loads, and what it must not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
import app.mcp.handler
loaded = {name.split(".")[0] for name in sys.modules}
import sse_starlette.sse
hooked = sse_starlette.sse.AppStatus.original_handler is not None
import uvicorn.main  # still importable afterwards (make dev serves through it)
print(json.dumps({"loaded": sorted(loaded), "hooked": hooked}))
"""


def _probe(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answer: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_the_handler_imports_the_sdk_without_the_servers_and_tools_it_never_runs() -> None:
    answer = _probe(PROBE)
    loaded = set(answer["loaded"])  # type: ignore[call-overload]
    assert "mcp" in loaded
    # uvicorn (and click with it) would come only from sse_starlette's shutdown hook.
    assert not loaded.intersection({"uvicorn", "click", "aws_lambda_powertools", "jwt", "boto3"})
    assert answer["hooked"] is False


def test_when_uvicorn_is_loaded_first_nothing_is_changed() -> None:
    code = "import uvicorn.main\n" + PROBE
    assert _probe(code)["hooked"] is True


def test_the_sdk_import_leaves_the_collector_on_with_its_objects_frozen() -> None:
    code = (
        "import gc, json\nimport app.mcp.handler\n"
        'print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))'
    )
    answer = _probe(code)
    assert answer["enabled"] is True
    assert answer["frozen"] > 10_000  # type: ignore[operator]


def test_a_failed_sdk_import_still_restores_the_collector_and_uvicorn() -> None:
    code = (
        "import gc, json, sys\n"
        "from app.mcp.sdk_import import import_sdk_for_lambda\n"
        "try:\n    import_sdk_for_lambda(('mcp.server.no_such_module',))\nexcept ImportError:\n"
        "    failed = True\n"
        'print(json.dumps({"failed": failed, "gc": gc.isenabled(), "uvicorn": "uvicorn" in sys.modules}))'
    )
    assert _probe(code) == {"failed": True, "gc": True, "uvicorn": False}
