"""The Lambda assets: what the bundler copies, and (marked `bundling`, needs PyPI) the real bundles.

The real bundling synthesizes the stack with bundling on, which pip-installs each function's
dependencies for Lambda (arm64, CPython 3.13) and compiles bytecode. pip's cache lives in
`.cache/pip` in the repository (ignored by git through `.cache/.gitignore`), so a second run
downloads nothing.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import pytest

from infra.config import StackConfig
from infra.constructs.bundling import BundleSpec, copy_app, prune_dependency_tests, requirements_for
from infra.constructs.functions import authorizer_bundle, mcp_bundle
from infra.constructs.oauth_front import oauth_bundle
from tests.conftest import BUNDLING_GROUP
from tests.infra.conftest import REPO_ROOT, Synth

# One bundled synthesis per test process (`bundled_synth`), shared with tests/artefact: with
# `pytest -n --dist loadgroup` the group stays on one worker.
pytestmark = [pytest.mark.infra, pytest.mark.xdist_group(BUNDLING_GROUP)]

PYC_313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
ELF_AARCH64 = 183
# A PEM private key block WITH key material (libraries such as cryptography mention the marker).
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{64,}")
AWS_ACCESS_KEY = re.compile(rb"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
SECRET_FILES = re.compile(r"(^\.env.*|.*\.pem|.*\.key|.*\.p12|.*\.pfx|id_rsa.*|id_ed25519.*|credentials)$")
NEVER_AT_TOP = ("tests", "devtools", "infra", "bench", "conftest.py", "bin", "boto3", "botocore")
MCP_ONLY = ("mcp", "mcp_types", "starlette", "mangum", "sse_starlette", "uvicorn")


# --- the pieces, without pip -------------------------------------------------------------------------


def _fake_app(root: Path) -> Path:
    app = root / "app"
    for rel, text in {
        "__init__.py": "",
        "mcp/__init__.py": "",
        "mcp/handler.py": "def handler(event, context):\n    return {}\n",
        "tests/test_inside.py": "def test(): pass\n",
        "mcp/test_handler.py": "def test(): pass\n",
        "conftest.py": "",
        "__pycache__/x.cpython-311.pyc": "",
        ".env": "SECRET=1\n",
    }.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return app


def test_copy_app_leaves_out_tests_caches_and_dotfiles(tmp_path: Path) -> None:
    app = _fake_app(tmp_path / "src")
    copy_app(app, tmp_path / "out" / "app")
    copied = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert copied == ["app/__init__.py", "app/mcp/__init__.py", "app/mcp/handler.py"]


def test_dependency_test_suites_are_pruned(tmp_path: Path) -> None:
    for rel in (
        "jsonschema/tests/test_x.py",
        "jsonschema/validators.py",
        "pkg/sub/tests/a.py",
        "pkg-1.0.dist-info/RECORD",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert prune_dependency_tests(tmp_path) == ["jsonschema/tests", "pkg/sub/tests"]
    assert (tmp_path / "jsonschema/validators.py").exists()


def test_fingerprint_follows_source_and_ignores_caches(tmp_path: Path) -> None:
    app = _fake_app(tmp_path)
    spec = BundleSpec("t", app, ("pyjwt",))
    before = spec.fingerprint()
    (app / "__pycache__" / "y.pyc").write_text("noise")
    (app / "tests" / "test_more.py").write_text("noise")
    assert spec.fingerprint() == before
    (app / "mcp" / "handler.py").write_text("changed = True\n")
    assert spec.fingerprint() != before
    assert BundleSpec("t", app, ("pyjwt>=3",)).fingerprint() != spec.fingerprint()


def test_requirements_come_from_pyproject() -> None:
    config = StackConfig()
    authorizer = authorizer_bundle(config).requirements
    assert [re.split(r"[\[<>=]", r)[0] for r in authorizer] == ["pyjwt", "aws-lambda-powertools"]
    mcp = mcp_bundle(config).requirements
    names = {re.split(r"[\[<>=]", r)[0] for r in mcp}
    assert {"mcp", "mangum", "starlette", "aws-lambda-powertools", "pyjwt"} <= names
    assert "boto3" not in names
    assert requirements_for(["PyJWT"]) == authorizer[:1]
    # The front: pyjwt[crypto] (JWKS, RS256) and Powertools, nothing of the MCP stack.
    assert oauth_bundle(config).requirements == authorizer
    assert set(oauth_bundle(config).forbidden_packages) >= {"mcp", "starlette", "mangum", "boto3"}


# --- the real bundles --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(bundled_synth: Synth) -> dict[str, Path]:
    synth = bundled_synth
    found: dict[str, Path] = {}
    for resource in synth.of_type("AWS::Lambda::Function").values():
        name = resource["Properties"]["Handler"].split(".")[1]
        found[name] = synth.outdir / resource["Metadata"]["aws:asset:path"]
    assert set(found) == {"authorizer", "mcp", "oauth"}
    return found


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _zipped_size(root: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_files(root)):
            archive.write(path, path.relative_to(root).as_posix())
    return buffer.tell()


@pytest.mark.bundling
def test_report_asset_sizes(assets: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        for name, root in sorted(assets.items()):
            files = _files(root)
            unzipped = sum(p.stat().st_size for p in files)
            print(
                f"\n[asset] {name}: {len(files)} files, {unzipped / 1e6:.1f} MB unzipped, "
                f"{_zipped_size(root) / 1e6:.1f} MB zipped",
                file=sys.stderr,
            )
            assert unzipped < 250_000_000  # Lambda's unzipped limit


@pytest.mark.bundling
@pytest.mark.parametrize("name", ["authorizer", "mcp", "oauth"])
def test_asset_holds_app_and_bytecode_only_for_313(assets: dict[str, Path], name: str) -> None:
    root = assets[name]
    assert (root / "app" / "__init__.py").is_file()
    assert (root / "app" / "mcp" / "handler.py").is_file()
    assert (root / "app" / "__pycache__" / "__init__.cpython-313.pyc").is_file()
    pycs = list(root.rglob("*.pyc"))
    assert pycs
    assert all(p.name.endswith(".cpython-313.pyc") for p in pycs)
    for pyc in pycs[:: max(1, len(pycs) // 200)]:
        header = pyc.read_bytes()[:8]
        assert header[:4] == PYC_313_MAGIC, pyc
        assert int.from_bytes(header[4:8], "little") == 1, pyc  # hash-based, unchecked


@pytest.mark.bundling
@pytest.mark.parametrize("name", ["authorizer", "mcp", "oauth"])
def test_asset_has_no_tests_tooling_or_secrets(assets: dict[str, Path], name: str) -> None:
    root = assets[name]
    for top in NEVER_AT_TOP:
        assert not (root / top).exists(), top
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        assert "tests" not in rel.parts, rel
        if rel.parts[0] == "app":
            assert not path.name.startswith("test_"), rel
            assert path.name != "conftest.py", rel
        if path.is_file():
            assert not SECRET_FILES.match(path.name), rel
            data = path.read_bytes()
            assert not PRIVATE_KEY.search(data), rel
            assert not AWS_ACCESS_KEY.search(data), rel


@pytest.mark.bundling
def test_the_mcp_asset_carries_the_widgets_html(assets: dict[str, Path]) -> None:
    """A widget's HTML is read from the file beside its tool module at cold start: it must ship."""
    app_dir = REPO_ROOT / "app"
    pages = sorted((app_dir / "tools").rglob("*.html"))
    assert pages, "the example widget's HTML (app/tools/dice.html)"
    for page in pages:
        shipped = assets["mcp"] / page.relative_to(REPO_ROOT)
        assert shipped.read_bytes() == page.read_bytes(), shipped


@pytest.mark.bundling
def test_authorizer_asset_lacks_the_mcp_stack(assets: dict[str, Path]) -> None:
    authorizer, mcp = assets["authorizer"], assets["mcp"]
    for package in MCP_ONLY:
        assert not (authorizer / package).exists(), package
    for package in ("jwt", "cryptography", "aws_lambda_powertools"):
        assert (authorizer / package).is_dir(), package
    for package in ("mcp", "starlette", "mangum", "jwt", "aws_lambda_powertools"):
        assert (mcp / package).is_dir(), package


@pytest.mark.bundling
def test_front_asset_is_small_and_lacks_the_mcp_stack(assets: dict[str, Path]) -> None:
    """The front stays small (no MCP SDK, Starlette or Mangum); boto3 comes from the runtime."""
    front = assets["oauth"]
    for package in (*MCP_ONLY, "boto3", "botocore"):
        assert not (front / package).exists(), package
    for package in ("jwt", "cryptography", "aws_lambda_powertools"):
        assert (front / package).is_dir(), package
    assert not (front / "tool_scopes.json").exists()


@pytest.mark.bundling
def test_authorizer_asset_carries_the_registry_tool_scopes_the_handler_loads(assets: dict[str, Path]) -> None:
    """The file the deployed authorizer reads at TOOL_SCOPES_FILE=/var/task/tool_scopes.json."""
    from app.auth.tool_scopes import ServerTable
    from app.mcp.tool_scopes_export import server_table

    scopes = ServerTable.load(assets["authorizer"] / "tool_scopes.json")
    assert scopes == server_table()
    assert not (assets["mcp"] / "tool_scopes.json").exists()


@pytest.mark.bundling
@pytest.mark.parametrize("name", ["authorizer", "mcp", "oauth"])
def test_native_code_is_for_arm64_linux(assets: dict[str, Path], name: str) -> None:
    libraries = list(assets[name].rglob("*.so"))
    assert libraries
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library
        assert int.from_bytes(header[18:20], "little") == ELF_AARCH64, library


def test_private_key_pattern_catches_a_real_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert PRIVATE_KEY.search(b"x = '''" + pem + b"'''")
    # A library constant naming the PEM marker is not a key (built here so no tracked file
    # holds the marker itself).
    marker = b"-----BEGIN " + b"OPENSSH PRIVATE KEY-----"
    assert not PRIVATE_KEY.search(b'_SK_START = b"' + marker + b'"\n')
