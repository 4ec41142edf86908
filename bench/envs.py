"""One virtualenv per contender under `bench/.envs/`, built once and reused while its recipe holds.

Each contender gets only what it installs on Lambda, so an import-time figure cannot be
flattered (or hurt) by packages another contender brought in. The interpreter is the project
venv's base Python, so the language version is the same for everyone. Where a contender shares
distributions with the project (starlette, pydantic, anyio, ...), they are pinned to the
versions installed in the project venv (`constraints.txt`), so version drift is not measured as
a difference; the published alternatives resolve their own dependencies, as their users' would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.layout import ENVS_DIR, run_logged

MARKER = ".bench-env.json"
_NOT_PINNED = frozenset({"pip", "setuptools", "wheel", "serverless-mcp"})


class EnvError(RuntimeError):
    """A virtualenv could not be built; the message carries pip's own words."""


@dataclass(frozen=True)
class EnvSpec:
    """What one virtualenv holds."""

    name: str
    requirements: tuple[str, ...]
    constrained: bool

    @property
    def path(self) -> Path:
        return ENVS_DIR / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def base_python() -> Path:
    """The interpreter behind the project venv (same version for every contender)."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(sys.base_prefix) / "bin" / version


def constraints_file() -> Path:
    """The project venv's installed versions as a pip constraints file (rewritten every run)."""
    pins = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"] and _normalise(dist.metadata["Name"]) not in _NOT_PINNED
    )
    path = ENVS_DIR / "constraints.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(pins) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def project_pins() -> dict[str, str]:
    """Normalised name → version of every distribution in the project venv."""
    return {
        _normalise(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }


def installed_pins(site: Path) -> dict[str, str]:
    """The project venv's versions of the distributions installed under `site`.

    Recorded at build time and compared later, so an env is rebuilt when the project venv
    moves one of ITS distributions, not whenever any project dependency changes.
    """
    pins = project_pins()
    names = {_normalise(info.name.split("-", 1)[0]) for info in site.glob("*.dist-info")}
    return {name: pins[name] for name in sorted(names) if name in pins and name not in _NOT_PINNED}


def pins_still_hold(recorded: dict[str, str]) -> bool:
    pins = project_pins()
    return all(pins.get(name) == version for name, version in recorded.items())


def recipe_hash(spec: EnvSpec) -> str:
    recipe = {"python": str(base_python()), "version": sys.version, "requirements": spec.requirements}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def site_packages(spec: EnvSpec) -> Path:
    return next(spec.path.glob("lib/python*/site-packages"), spec.path / "lib")


def is_current(spec: EnvSpec) -> bool:
    """True when the env exists, was built from this recipe, and its pins still hold."""
    marker = spec.path / MARKER
    if not marker.is_file() or not spec.python.exists():
        return False
    recorded = json.loads(marker.read_text(encoding="utf-8"))
    return recorded.get("recipe") == recipe_hash(spec) and pins_still_hold(recorded.get("pins", {}))


def ensure_env(spec: EnvSpec, log: Path) -> Path:
    """Build the env unless it is current; return its interpreter. `EnvError` on failure."""
    if is_current(spec):
        return spec.python
    constraints = constraints_file() if spec.constrained else None
    shutil.rmtree(spec.path, ignore_errors=True)
    run_logged([str(base_python()), "-m", "venv", str(spec.path)], log, EnvError)
    if spec.requirements:
        cmd = [str(spec.python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
        if constraints is not None:
            cmd += ["-c", str(constraints)]
        run_logged([*cmd, *spec.requirements], log, EnvError)
    pins = installed_pins(site_packages(spec)) if spec.constrained else {}
    marker = {"recipe": recipe_hash(spec), "requirements": spec.requirements, "pins": pins}
    (spec.path / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    return spec.python


def installed_versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Versions of the named distributions in the env of `python` (absent ones left out)."""
    probe = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n        pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", probe, *names], capture_output=True, text=True, check=True, timeout=60
    )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions
