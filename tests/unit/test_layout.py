"""The package-per-function layout holds: a file's folder says which Lambda it ships in, and no
package reaches into another function's code (the rules are in the design notes' layout table)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

# package -> the app packages its modules may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "auth": set(),
    "core": {"auth"},
    "authorizer": {"core", "auth"},
    "mcp": {"core", "auth", "tools", "servers"},
    "oauth": {"core", "auth"},
    "tools": {"core", "mcp"},
    "servers": {"core", "mcp"},
}


def _app_imports(path: Path) -> set[str]:
    """The first package under `app` of every `app.…` import in `path` (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "app" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_module_lives_in_a_package_named_in_the_layout() -> None:
    loose = sorted(p.name for p in APP.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules at the root of app/ (give them a package): {loose}"
    packages = {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), f"packages not in the layout table: {packages - set(ALLOWED)}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_its_function_may(package: str) -> None:
    if not (APP / package).is_dir():
        pytest.skip(f"app/{package}/ does not exist yet")
    for path in sorted((APP / package).rglob("*.py")):
        reached = _app_imports(path) - {package} - ALLOWED[package]
        assert not reached, f"{path.relative_to(APP.parent)} imports app.{', app.'.join(sorted(reached))}"
