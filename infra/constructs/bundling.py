"""Local, Docker-free bundling of the Lambda assets.

Each function's asset is `app/` (copied as the `app` package, without caches or test files)
plus exactly the runtime dependencies that function needs, installed by pip for the Lambda
platform (`--platform manylinux*_aarch64 --python-version 3.13 --only-binary=:all:`), then
compiled to CPython 3.13 bytecode. Dependency ranges come from `pyproject.toml`, the single
source of truth; boto3 is in the Lambda runtime and is never bundled.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra.config import REPO_ROOT, ConfigError

LAMBDA_PYTHON = "3.13"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_13
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
# Lambda's Python 3.13 runs on Amazon Linux 2023 (glibc 2.34): any of these wheels loads there.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
# Bump when the bundle layout changes, so assets are rebuilt even if no input changed.
BUNDLE_FORMAT = "serverless-mcp-bundle/1"

HERE = Path(__file__).resolve().parent
COMPILE_TREE = HERE / "compile_tree.py"
COMPILE_BYTECODE_MJS = HERE / "compile_bytecode.mjs"

# Copied from app/: never these.
APP_IGNORE = ("__pycache__", "*.pyc", "*.pyo", ".*", "tests", "test_*.py", "*_test.py", "conftest.py")
# Dropped from installed dependencies: console scripts (shebangs point at the build machine).
PRUNE_TOP_LEVEL = ("bin",)
# Dropped inside installed dependencies: their own test suites.
DEPENDENCY_TESTS_DIR = "tests"

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class BundlingError(RuntimeError):
    """Bundling failed; the message says what to install or fix."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_dependencies(pyproject: Path = REPO_ROOT / "pyproject.toml") -> dict[str, str]:
    """`[project].dependencies` of pyproject.toml, keyed by normalised distribution name."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    deps: dict[str, str] = {}
    for spec in data["project"]["dependencies"]:
        match = _REQ_NAME.match(spec)
        if match:
            deps[_normalise(match.group(1))] = spec
    return deps


def requirements_for(names: Iterable[str], pyproject: Path = REPO_ROOT / "pyproject.toml") -> tuple[str, ...]:
    """The pyproject requirement specs (with their version ranges) for these distributions."""
    deps = project_dependencies(pyproject)
    missing = [name for name in names if _normalise(name) not in deps]
    if missing:
        raise ConfigError(f"pyproject.toml [project].dependencies lacks {', '.join(missing)}")
    return tuple(deps[_normalise(name)] for name in names)


@dataclass(frozen=True)
class BundleSpec:
    """What goes into one function's asset."""

    name: str
    source_dir: Path
    requirements: tuple[str, ...]
    forbidden_packages: tuple[str, ...] = ()
    # (file name, text) written at the asset root, e.g. the authorizer's tool scopes document.
    extra_files: tuple[tuple[str, str], ...] = ()

    def source_files(self) -> list[Path]:
        files: list[Path] = []
        for path in sorted(self.source_dir.rglob("*")):
            rel = path.relative_to(self.source_dir)
            if not path.is_file() or any(_ignored(part) for part in rel.parts):
                continue
            files.append(path)
        return files

    def fingerprint(self) -> str:
        """Changes whenever the source, the requirements or the bundling recipe change."""
        digest = hashlib.sha256()
        recipe = {
            "format": BUNDLE_FORMAT,
            "python": LAMBDA_PYTHON,
            "platforms": PLATFORMS,
            "requirements": self.requirements,
            "forbidden": self.forbidden_packages,
            "compile_tree": hashlib.sha256(COMPILE_TREE.read_bytes()).hexdigest(),
            "extra_files": self.extra_files,
        }
        digest.update(json.dumps(recipe, sort_keys=True).encode())
        for path in self.source_files():
            digest.update(path.relative_to(self.source_dir).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _ignored(part: str) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for pattern in APP_IGNORE)


def _run(cmd: Sequence[str], what: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            list(cmd), check=False, capture_output=True, text=True, env=env
        )
    except FileNotFoundError as exc:
        raise BundlingError(f"{what}: {cmd[0]} not found ({exc})") from exc
    if done.returncode != 0:
        raise BundlingError(f"{what} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def pip_install(requirements: Sequence[str], target: Path) -> None:
    """Install wheels for Lambda (arm64, CPython 3.13) into `target`; sdists are refused."""
    cmd = [
        sys.executable, "-m", "pip", "install",
        "--disable-pip-version-check", "--no-input", "--quiet", "--no-compile",
        "--target", str(target),
        "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
        "--only-binary=:all:",
    ]  # fmt: skip
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    cmd += list(requirements)
    try:
        _run(cmd, "pip install for the Lambda platform")
    except BundlingError as exc:
        raise BundlingError(
            f"{exc}\nA dependency without a wheel for {'/'.join(PLATFORMS)} and CPython {LAMBDA_PYTHON} "
            "cannot be bundled without Docker: pin a version that ships such a wheel."
        ) from exc


def _python313() -> str | None:
    for candidate in (os.environ.get("BYTECODE_PYTHON"), shutil.which("python3.13")):
        if not candidate:
            continue
        try:
            out = _run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], "python check")
        except BundlingError:
            continue
        if out.strip() == LAMBDA_PYTHON:
            return candidate
    return None


def compile_bytecode(root: Path, ddir: str = "/var/task") -> dict[str, Any]:
    """Compile every .py under root for CPython 3.13 (local python3.13, else Pyodide in Node)."""
    interpreter = _python313()
    if interpreter:
        out = _run([interpreter, str(COMPILE_TREE), str(root), ddir], "bytecode compilation")
    else:
        node = shutil.which("node")
        if not node or not (REPO_ROOT / "node_modules" / "pyodide").is_dir():
            raise BundlingError(
                "Compiling bytecode for Python 3.13 needs a python3.13 on PATH (or BYTECODE_PYTHON=<path>), "
                "or Node.js with the pinned `pyodide` package: run `npm ci` in the repository root."
            )
        out = _run([node, str(COMPILE_BYTECODE_MJS), str(root), ddir], "bytecode compilation (pyodide)")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if result.get("version") != LAMBDA_PYTHON:
        raise BundlingError(f"bytecode compiler is Python {result.get('version')}, expected {LAMBDA_PYTHON}")
    return result


def copy_app(source: Path, destination: Path) -> None:
    """Copy the `app` package without caches, hidden files, test files or conftest.py."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*APP_IGNORE))


def prune_dependency_tests(root: Path) -> list[str]:
    """Drop the test suites some wheels ship (e.g. jsonschema/tests): never imported at run time."""
    removed: list[str] = []
    for package in sorted(root.iterdir()):
        if not package.is_dir() or package.name.endswith((".dist-info", ".data")):
            continue
        for found in sorted(package.rglob(DEPENDENCY_TESTS_DIR)):
            if found.is_dir() and found.exists():
                shutil.rmtree(found)
                removed.append(found.relative_to(root).as_posix())
    return removed


def build_bundle(spec: BundleSpec, output_dir: Path) -> dict[str, Any]:
    """Write the complete asset for `spec` into output_dir (which must be empty or absent)."""
    if not (spec.source_dir / "__init__.py").is_file():
        raise BundlingError(f"{spec.source_dir} is not a Python package (no __init__.py)")
    output_dir.mkdir(parents=True, exist_ok=True)
    pip_install(spec.requirements, output_dir)
    for name in PRUNE_TOP_LEVEL:
        shutil.rmtree(output_dir / name, ignore_errors=True)
    prune_dependency_tests(output_dir)
    present = sorted(p for p in spec.forbidden_packages if (output_dir / p).exists())
    if present:
        raise BundlingError(f"{spec.name} bundle must not contain {', '.join(present)}")
    if (output_dir / "app").exists():
        raise BundlingError("a dependency installed a top-level `app` package, which would shadow the code")
    copy_app(spec.source_dir, output_dir / "app")
    for name, text in spec.extra_files:
        (output_dir / name).write_text(text, encoding="utf-8")
    result = compile_bytecode(output_dir)
    app_failures = [path for path in result["failed"] if str(path).startswith("app/")]
    if app_failures:
        raise BundlingError(f"app code does not compile on Python {LAMBDA_PYTHON}: {', '.join(app_failures)}")
    return result


@jsii.implements(cdk.ILocalBundling)
class LocalBundler:
    """`cdk.ILocalBundling`: bundles on this machine; never falls back to Docker."""

    def __init__(self, spec: BundleSpec) -> None:
        self.spec = spec

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        result = build_bundle(self.spec, Path(output_dir))
        failed = result["failed"]
        note = f", {len(failed)} third-party files not compilable (kept as source)" if failed else ""
        print(
            f"[bundling] {self.spec.name}: {result['compiled']} files compiled "
            f"for Python {LAMBDA_PYTHON}{note}",
            file=sys.stderr,
        )
        return True


def lambda_code(spec: BundleSpec) -> lambda_.Code:
    """The function code: `spec.source_dir` bundled locally; its hash covers every input."""
    if not spec.source_dir.is_dir():
        raise ConfigError(f"APP_SOURCE_DIR {spec.source_dir} does not exist (the Lambda code folder)")
    return lambda_.Code.from_asset(
        str(spec.source_dir),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=spec.fingerprint(),
        exclude=list(APP_IGNORE),
        bundling=cdk.BundlingOptions(
            image=LAMBDA_RUNTIME.bundling_image,
            # Only used if local bundling declined, which it never does: say so instead of guessing.
            command=[
                "sh",
                "-c",
                "echo 'serverless-mcp bundles locally (infra/constructs/bundling.py)' >&2; exit 1",
            ],
            local=LocalBundler(spec),
        ),
    )
