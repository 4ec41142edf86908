"""`mcp-lambda new-server NAME`, in a copy of the repository's app/: one folder plus one line, working."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.cli.conftest import assert_one_line_error, call

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def export(repo: Path) -> dict[str, object]:
    """The tool-scopes document the stack would build from that copy (a fresh interpreter)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.mcp.tool_scopes_export"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)},
    )
    document: dict[str, object] = json.loads(done.stdout)
    return document


def test_a_new_server_is_one_folder_and_one_registry_line_and_serves_its_tool(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    before = (repo / "app/servers/__init__.py").read_text()
    code, out, err = call(capsys, "new-server", "lab-tools", "--root", str(repo))
    assert code == 0, err
    assert "/lab-tools/mcp" in out
    after = (repo / "app/servers/__init__.py").read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ['    ServerSpec("lab-tools", "app.servers.lab_tools"),  # at /lab-tools/mcp']
    assert (repo / "app/servers/lab_tools/__init__.py").is_file()
    servers = export(repo)["servers"]
    assert isinstance(servers, dict)
    assert servers["lab-tools"] == {
        "path": "/lab-tools/mcp",
        "tools": {"echo": ["mcp/lab-tools"]},
        "prompts": {},
        "resources": {},
        "resource_templates": {},
    }
    assert servers["main"]["path"] == "/mcp"  # the others are untouched


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("research", "a server named 'research' is already listed"),
        ("oauth", "is reserved"),
        ("Lab", "must be 1-31 characters of a-z 0-9 -"),
    ],
)
def test_a_name_that_cannot_be_a_new_server_changes_nothing(
    capsys: pytest.CaptureFixture[str], repo: Path, name: str, message: str
) -> None:
    before = (repo / "app/servers/__init__.py").read_text()
    folders = sorted(p.name for p in (repo / "app/servers").iterdir())
    code, out, err = call(capsys, "new-server", name, "--root", str(repo))
    assert code == 2
    assert out == ""
    assert_one_line_error(err, message)
    assert (repo / "app/servers/__init__.py").read_text() == before
    assert sorted(p.name for p in (repo / "app/servers").iterdir()) == folders
