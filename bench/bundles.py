"""Asset size of each Lambda bundle: what would be uploaded, zipped and unzipped.

The recipe is the project's own (`infra/constructs/bundling.py`), applied to every contender
alike: wheels for Lambda arm64 / CPython 3.13 (`pip install --target --platform
manylinux2014_aarch64 ... --only-binary=:all:`), console scripts and dependency test suites
dropped, boto3/botocore (and s3transfer, jmespath, which only they need) left out because the
Lambda Python runtime provides them, every `.py` compiled to 3.13 bytecode next to its source.

Installed dependencies are cached under `bench/.envs/bundles/<name>-deps` (keyed by the
recipe); the contender's own code (`app/` for ours) is copied and compiled on every run, so
the figure follows the code. It is reimplemented here rather than imported from `infra/`,
which pulls in the CDK (and Node) at import and is being changed by others.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.envs import constraints_file, installed_pins, pins_still_hold
from bench.layout import BUNDLES_DIR, run_logged

LAMBDA_PYTHON = "3.13"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
SOURCE_IGNORE = ("__pycache__", "*.pyc", "*.pyo", ".*", "tests", "test_*.py", "conftest.py")
_MARKER = ".bench-bundle.json"


class BundleError(RuntimeError):
    """A bundle could not be built; the message says why (pip's words)."""


@dataclass(frozen=True)
class BundleSpec:
    """One Lambda asset: installed requirements plus source files or packages."""

    name: str
    requirements: tuple[str, ...]
    sources: tuple[Path, ...]  # files are copied as-is, directories as packages
    constrained: bool = False  # pin shared distributions to the project venv's versions


@dataclass(frozen=True)
class BundleSize:
    zipped: int
    unzipped: int
    files: int
    bytecode_python: str


@functools.cache
def bytecode_python() -> tuple[str, bool]:
    """A CPython 3.13 to compile with (BYTECODE_PYTHON, PATH, pyenv); else this one, flagged."""
    candidates = [os.environ.get("BYTECODE_PYTHON"), shutil.which(f"python{LAMBDA_PYTHON}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{LAMBDA_PYTHON}*/bin/python3"))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == LAMBDA_PYTHON:
            return candidate, True
    return sys.executable, False


def deps_dir(spec: BundleSpec) -> Path:
    return BUNDLES_DIR / f"{spec.name}-deps"


def _recipe(spec: BundleSpec, compiler: str) -> str:
    recipe = {
        "requirements": spec.requirements,
        "constrained": spec.constrained,
        "platforms": PLATFORMS,
        "python": LAMBDA_PYTHON,
        "runtime_provided": RUNTIME_PROVIDED,
        "compiler": compiler,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def deps_current(spec: BundleSpec) -> bool:
    marker = deps_dir(spec) / _MARKER
    if not marker.is_file():
        return False
    recorded = json.loads(marker.read_text(encoding="utf-8"))
    same_recipe = recorded.get("recipe") == _recipe(spec, bytecode_python()[0])
    return same_recipe and pins_still_hold(recorded.get("pins", {}))


def build_deps(spec: BundleSpec, log: Path) -> Path:
    """Install, prune and compile the requirements once per recipe; return the directory."""
    target = deps_dir(spec)
    if deps_current(spec):
        return target
    compiler = bytecode_python()[0]
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if spec.requirements:
        cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
        cmd += ["--no-compile", "--target", str(target), "--implementation", "cp"]
        cmd += ["--python-version", LAMBDA_PYTHON, "--only-binary=:all:"]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        if spec.constrained:
            cmd += ["-c", str(constraints_file())]
        run_logged([*cmd, *spec.requirements], log, BundleError)
    _prune(target)
    _compile(compiler, target, log)
    pins = installed_pins(target) if spec.constrained else {}
    marker = {"recipe": _recipe(spec, compiler), "requirements": spec.requirements, "pins": pins}
    (target / _MARKER).write_text(json.dumps(marker), encoding="utf-8")
    return target


def _prune(root: Path) -> None:
    shutil.rmtree(root / "bin", ignore_errors=True)
    for entry in list(root.iterdir()):
        name = entry.name.lower()
        dist = name.split("-")[0] if name.endswith(".dist-info") else name
        if dist in RUNTIME_PROVIDED:
            shutil.rmtree(entry, ignore_errors=True)
    for package in root.iterdir():
        if package.is_dir() and not package.name.endswith((".dist-info", ".data")):
            for tests in sorted(package.rglob("tests"), reverse=True):
                if tests.is_dir():
                    shutil.rmtree(tests, ignore_errors=True)


def _compile(compiler: str, root: Path, log: Path) -> None:
    # A few third-party files may not compile (templates, py2 leftovers): they stay as source,
    # as in the project's bundler, so the exit status is not checked.
    cmd = [compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    run_logged([*cmd, "-d", "/var/task", str(root)], log, BundleError, check=False)


def build_sources(spec: BundleSpec, log: Path) -> Path:
    """Copy and compile the contender's own code (every run: it changes)."""
    target = BUNDLES_DIR / f"{spec.name}-src"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for source in spec.sources:
        if source.is_dir():
            shutil.copytree(source, target / source.name, ignore=shutil.ignore_patterns(*SOURCE_IGNORE))
        else:
            shutil.copy2(source, target / source.name)
    _compile(bytecode_python()[0], target, log)
    return target


def measure(spec: BundleSpec, roots: Iterable[Path]) -> BundleSize:
    """Sum of file sizes, and the size of one deflate zip of all roots (as Lambda receives it)."""
    archive = BUNDLES_DIR / f"{spec.name}.zip"
    unzipped = 0
    files = 0
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for root in roots:
            for path in sorted(root.rglob("*")):
                if not path.is_file() or path.name == _MARKER:
                    continue
                unzipped += path.stat().st_size
                files += 1
                bundle.write(path, path.relative_to(root).as_posix())
    zipped = archive.stat().st_size
    archive.unlink()
    return BundleSize(zipped=zipped, unzipped=unzipped, files=files, bytecode_python=bytecode_python()[0])
