"""An arm64 CPython 3.13 on this (x86-64 or arm64) machine, without Docker: Debian trixie's
`python3.13` packages extracted into a sysroot, run by qemu's user-mode emulator.

Lambda's `python3.13` runtime on arm64 is what the stack deploys (infra/constructs/bundling.py);
the wheels and the bytecode in its assets are chosen for exactly that interpreter, which this
machine does not have. Debian's arm64 build of the same CPython minor version is the closest
thing a package registry offers; qemu-user runs it (and the wheels' aarch64 extension modules)
instruction by instruction.

- The packages come through a SEPARATE apt configuration (its own sources.list, lists, archive
  cache and `APT::Architecture=arm64`) under the cache folder: the host's apt state is never
  read or changed, and nothing is installed on the host except qemu itself (`.ci/run` installs
  Debian's `qemu-user-static`, as it installs the browser).
- The sysroot is cached under `$XDG_CACHE_HOME/serverless-mcp/arm64-sysroot/<key>`, the key being
  the exact package versions apt resolves: a warm run costs one `apt-get update` that finds
  nothing new. An unreachable mirror with a sysroot already cached uses that sysroot.
- Failures raise `SysrootUnavailable` naming what is missing (qemu, dpkg, the mirror), so the
  test can skip locally and fail in CI with that message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEBIAN_MIRROR: Final = "http://deb.debian.org/debian"
DEBIAN_SUITE: Final = "trixie"
# What the interpreter needs; its Depends bring libc6, libssl3t64, libffi8, zlib1g, libexpat1,
# libsqlite3-0, tzdata, media-types and the rest of what the standard library loads.
PACKAGES: Final = ("python3.13",)
PYTHON: Final = "usr/bin/python3.13"
ARCHIVE_KEYRING: Final = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
QEMU_NAMES: Final = ("qemu-aarch64-static", "qemu-aarch64")
QEMU_PACKAGE: Final = "qemu-user-static"
# Debian's usr-merge: the dynamic loader is looked up at /lib/ld-linux-aarch64.so.1.
MERGED_DIRS: Final = {"lib": "usr/lib", "bin": "usr/bin", "sbin": "usr/sbin"}
COMPLETE_MARKER: Final = ".complete"
APT_TIMEOUT_SECONDS: Final = 600

_INST_LINE = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) ")

Progress = Callable[[str], None]


class SysrootUnavailable(RuntimeError):
    """The emulated interpreter cannot be had here; the message says what is missing."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "serverless-mcp"


def find_qemu() -> str:
    for name in QEMU_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise SysrootUnavailable(
        f"qemu is missing: no {' or '.join(QEMU_NAMES)} on PATH. Install Debian's {QEMU_PACKAGE} "
        f"(`apt-get install --no-install-recommends {QEMU_PACKAGE}`; .ci/run does)"
    )


@dataclass(frozen=True)
class Arm64Python:
    """The cached sysroot and the emulator that runs it."""

    qemu: str
    sysroot: Path
    packages: tuple[str, ...]  # "name=version", as apt resolved them

    def guest_root(self, where: Path, mounts: Mapping[str, Path]) -> Path:
        """A root folder for one run: the sysroot's directories, plus `mounts` (guest path → host
        folder, e.g. {"var/task": asset}) made visible to the guest at those absolute paths.

        qemu's `-L` looks every absolute path up under this folder first, then on the host: the
        guest sees `/var/task/app/...` exactly as on Lambda, while the cached sysroot stays
        untouched (everything here is a symbolic link into it).
        """
        where.mkdir(parents=True, exist_ok=True)
        for entry in sorted(self.sysroot.iterdir()):
            if entry.name in ("usr", "etc", *MERGED_DIRS):
                (where / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        for guest_path, host in mounts.items():
            link = where / guest_path.strip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(host.resolve(), target_is_directory=True)
        return where

    def command(self, root: Path, *args: str) -> list[str]:
        """argv running the guest's python3.13 with `args` under qemu, in `root`."""
        return [self.qemu, "-L", str(root), str(root / PYTHON), *args]


class AptError(RuntimeError):
    pass


class Arm64Apt:
    """apt-get with its own configuration, state and cache in `base`; the host's apt untouched."""

    def __init__(self, base: Path) -> None:
        self.base = base
        etc = base / "etc"
        for folder in (
            etc / "apt.conf.d",
            etc / "preferences.d",
            etc / "sources.list.d",
            etc / "trusted.gpg.d",
            base / "state" / "lists" / "partial",
            base / "cache" / "archives" / "partial",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        (base / "state" / "status").touch()
        (etc / "sources.list").write_text(
            f"deb [arch=arm64 signed-by={ARCHIVE_KEYRING}] {DEBIAN_MIRROR} {DEBIAN_SUITE} main\n",
            encoding="utf-8",
        )
        lines = [
            f'Dir::State "{base / "state"}";',
            f'Dir::State::status "{base / "state" / "status"}";',
            f'Dir::Cache "{base / "cache"}";',
            f'Dir::Etc "{etc}";',
            'APT::Architecture "arm64";',
            'APT::Architectures { "arm64"; };',
            'APT::Install-Recommends "false";',
            # Downloads land in this folder, which apt's unprivileged `_apt` user may not reach
            # (a home folder): fetch as the calling user instead of warning on every file.
            'APT::Sandbox::User "root";',
            'Acquire::Languages "none";',
            'Acquire::Retries "2";',
            # Only the binary package cache is needed (`apt-get -s install`), not the source one.
            'Dir::Cache::srcpkgcache "";',
        ]
        # The host's proxy, if apt has one: the mirror is reached the way the host reaches it.
        for option in ("Acquire::http::Proxy", "Acquire::https::Proxy"):
            value = _host_apt_option(option)
            if value:
                lines.append(f'{option} "{value}";')
        self.config = base / "apt.conf"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(self, *args: str) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.config), "DEBIAN_FRONTEND": "noninteractive"}
        try:
            done = subprocess.run(
                ["apt-get", "-q", *args],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                timeout=APT_TIMEOUT_SECONDS,
            )
        except FileNotFoundError:
            raise SysrootUnavailable(
                "apt-get is missing: the arm64 sysroot is built with Debian's apt"
            ) from None
        except subprocess.TimeoutExpired:
            raise AptError(f"apt-get {args[0]} got no answer within {APT_TIMEOUT_SECONDS} s") from None
        if done.returncode != 0 or re.search(r"^(E:|Err:)", done.stdout + done.stderr, re.MULTILINE):
            detail = "\n".join(
                line
                for line in (done.stdout + done.stderr).splitlines()
                if line.startswith(("E:", "Err:", "W:"))
            )
            raise AptError(
                f"apt-get {args[0]} failed (exit {done.returncode}): {detail or done.stderr[-500:]}"
            )
        return done.stdout

    def update(self) -> None:
        self.run("update")

    def plan(self) -> tuple[str, ...]:
        """What `apt-get install python3.13` would install into an empty arm64 system."""
        out = self.run("-s", "install", *PACKAGES)
        found = sorted(f"{m.group(1)}={m.group(2)}" for m in map(_INST_LINE.match, out.splitlines()) if m)
        if not found:
            raise AptError(f"apt-get resolved nothing for {' '.join(PACKAGES)}")
        return tuple(found)

    def download(self, plan: tuple[str, ...]) -> list[Path]:
        """The .deb files of `plan` (apt checks each against the signed index)."""
        self.run("install", "--download-only", "-y", *PACKAGES)
        archives = self.base / "cache" / "archives"
        debs: list[Path] = []
        for item in plan:
            name, version = item.split("=", 1)
            # Debian file names carry the epoch as %3a.
            stem = f"{name}_{version.replace(':', '%3a')}_"
            matches = sorted(archives.glob(f"{stem}*.deb"))
            if not matches:
                raise AptError(f"apt downloaded no file for {item}")
            debs.append(matches[0])
        return debs


def _host_apt_option(option: str) -> str:
    try:
        done = subprocess.run(
            ["apt-config", "shell", "VALUE", option], check=False, capture_output=True, text=True, timeout=30
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return ""
    match = re.match(r"VALUE='(.*)'", done.stdout.strip())
    return match.group(1) if match else ""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One builder at a time (two test runs on one machine share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _extract(debs: list[Path], target: Path) -> None:
    if not shutil.which("dpkg-deb"):
        raise SysrootUnavailable("dpkg-deb is missing: the arm64 sysroot is extracted with Debian's dpkg")
    for deb in debs:
        done = subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(target)], check=False, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SysrootUnavailable(f"dpkg-deb -x {deb.name} failed: {done.stderr.strip()}")
    for name, inside in MERGED_DIRS.items():
        if not (target / name).exists():
            (target / name).symlink_to(inside, target_is_directory=True)


def _cached(sysroots: Path) -> list[Path]:
    """Complete sysroots, newest first."""
    if not sysroots.is_dir():
        return []
    found = [p for p in sysroots.iterdir() if (p / COMPLETE_MARKER).is_file()]
    return sorted(found, key=lambda p: (p / COMPLETE_MARKER).stat().st_mtime, reverse=True)


def ensure_sysroot(progress: Progress = print) -> Arm64Python:
    """The cached arm64 CPython 3.13 sysroot (built on first use) and the qemu that runs it."""
    qemu = find_qemu()
    if not ARCHIVE_KEYRING.is_file():
        raise SysrootUnavailable(
            f"{ARCHIVE_KEYRING} is missing: apt checks the Debian packages against it "
            "(Debian's debian-archive-keyring package)"
        )
    root = cache_root()
    sysroots = root / "arm64-sysroot"
    with locked(root / "arm64-sysroot.lock"):
        apt = Arm64Apt(root / "arm64-apt")
        try:
            apt.update()
            plan = apt.plan()
        except AptError as exc:
            cached = _cached(sysroots)
            if cached:
                progress(f"the Debian mirror is unreachable ({exc}); using the cached sysroot {cached[0]}")
                manifest = json.loads((cached[0] / COMPLETE_MARKER).read_text(encoding="utf-8"))
                return Arm64Python(qemu, cached[0], tuple(manifest["packages"]))
            raise SysrootUnavailable(
                f"the Debian package mirror {DEBIAN_MIRROR} ({DEBIAN_SUITE}, arm64) is unreachable and no "
                f"sysroot is cached in {sysroots}: {exc}"
            ) from None
        key = hashlib.sha256("\n".join(plan).encode()).hexdigest()[:16]
        target = sysroots / key
        if not (target / COMPLETE_MARKER).is_file():
            progress(f"building the arm64 sysroot ({len(plan)} Debian {DEBIAN_SUITE} packages) in {target}")
            try:
                debs = apt.download(plan)
            except AptError as exc:
                raise SysrootUnavailable(
                    f"the Debian package mirror {DEBIAN_MIRROR} ({DEBIAN_SUITE}, arm64) failed: {exc}"
                ) from None
            sysroots.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=sysroots))
            _extract(debs, building)
            if not (building / PYTHON).is_file():
                raise SysrootUnavailable(f"the extracted packages hold no {PYTHON}")
            manifest = {"suite": DEBIAN_SUITE, "mirror": DEBIAN_MIRROR, "packages": list(plan)}
            (building / COMPLETE_MARKER).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            building.rename(target)
            for deb in debs:
                deb.unlink(missing_ok=True)  # the sysroot is the cache; the archives are not kept
        (target / COMPLETE_MARKER).touch()
        for old in sysroots.iterdir():
            if old != target and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return Arm64Python(qemu, target, plan)
