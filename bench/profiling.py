"""Where a warm tools/call spends its time: cProfile in the worker, summarised here.

Two views, because each answers a different question. Self time by package says who owns the
cost (the SDK, pydantic, the adapter, our own `app/` code, the event loop); the top cumulative
functions say which call paths to look at. Profiling inflates pure-Python code more than C code,
so shares are indicative, not a substitute for the latency table.
"""

from __future__ import annotations

import pstats
import sys
import sysconfig
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.layout import APP_DIR, BENCH_DIR, REPO_ROOT

FINDINGS = BENCH_DIR / "profile_findings.md"  # hand-written reading of a full run, included as is

_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
FuncKey = tuple[str, int, str]


@dataclass(frozen=True)
class Profile:
    """cProfile statistics of `calls` warm invocations of one contender."""

    key: str
    label: str
    calls: int
    stats: pstats.Stats

    @property
    def total_s(self) -> float:
        return float(self.stats.total_tt)  # type: ignore[attr-defined]

    def by_package(self) -> dict[str, float]:
        """Self time per owner (seconds, all calls)."""
        owners: dict[str, float] = defaultdict(float)
        for func, row in self.stats.stats.items():  # type: ignore[attr-defined]
            owners[owner(func)] += row[2]
        return dict(owners)

    def rows(self) -> list[tuple[FuncKey, int, float, float]]:
        """(function, primitive calls, self s, cumulative s) for every function."""
        return [
            (func, int(row[0]), float(row[2]), float(row[3]))
            for func, row in self.stats.stats.items()  # type: ignore[attr-defined]
        ]


def load(key: str, label: str, path: Path, calls: int) -> Profile:
    return Profile(key, label, calls, pstats.Stats(str(path)))


def owner(func: FuncKey) -> str:
    """Who a function belongs to: a site-packages distribution, our app, or a stdlib module."""
    filename = func[0]
    if filename == "~" or filename.startswith("<"):
        return "C builtins"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        top = parts[parts.index("site-packages") + 1]
        return top.removesuffix(".py")
    if path.is_relative_to(APP_DIR):
        return "app (ours)"
    if path.is_relative_to(BENCH_DIR):
        return "bench harness"
    if path.is_relative_to(_STDLIB):
        return "stdlib " + path.relative_to(_STDLIB).parts[0].removesuffix(".py")
    return "other"


def describe(func: FuncKey) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        short = "/".join(parts[parts.index("site-packages") + 1 :])
    elif path.is_relative_to(REPO_ROOT):
        short = path.relative_to(REPO_ROOT).as_posix()
    elif path.is_relative_to(_STDLIB):
        short = path.relative_to(_STDLIB).as_posix()
    else:
        short = path.name
    return f"{short}:{line} {name}"


def package_table(profiles: list[Profile], limit: int = 14) -> list[str]:
    """Self time per invocation by owner, one column per profile, biggest owners first."""
    shares = [p.by_package() for p in profiles]
    owners = sorted({o for s in shares for o in s}, key=lambda o: -max(s.get(o, 0.0) for s in shares))
    head = "| owner | " + " | ".join(f"{p.label}: µs/call | share" for p in profiles) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(profiles)]
    for name in owners[:limit]:
        cells = []
        for profile, share in zip(profiles, shares, strict=True):
            value = share.get(name, 0.0)
            cells.append(f"{value / profile.calls * 1e6:,.0f} | {value / profile.total_s:.0%}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"**{p.total_s / p.calls * 1e6:,.0f}** | 100%" for p in profiles)
    lines.append(f"| **total (profiled)** | {totals} |")
    return lines


def top_table(profile: Profile, *, by: str, limit: int) -> list[str]:
    """The top functions by cumulative or self time, per invocation."""
    rows = [r for r in profile.rows() if "worker.py" not in r[0][0] and "lsprof" not in r[0][2]]
    rows.sort(key=(lambda r: -r[3]) if by == "cumulative" else (lambda r: -r[2]))
    lines = ["| function | calls/inv | self µs/inv | cumulative µs/inv |", "|---|---:|---:|---:|"]
    for func, calls, self_s, cum_s in rows[:limit]:
        per = profile.calls
        cells = [
            f"`{describe(func)}`",
            f"{calls / per:,.1f}",
            f"{self_s / per * 1e6:,.1f}",
            f"{cum_s / per * 1e6:,.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def function_calls_per_invocation(profile: Profile) -> float:
    return sum(r[1] for r in profile.rows()) / profile.calls


def headline(profile: Profile) -> list[str]:
    """Who owns the time, in groups a reader can act on."""
    groups = {
        "MCP SDK (mcp, mcp_types)": ("mcp", "mcp_types"),
        "pydantic (+ core)": ("pydantic", "pydantic_core"),
        "anyio + asyncio (task groups, streams, loop)": ("anyio", "stdlib asyncio", "sniffio"),
        "Mangum + Starlette": ("mangum", "starlette"),
        "our app/ code": ("app (ours)",),
        "logging + Powertools (audit, EMF)": ("aws_lambda_powertools", "stdlib logging"),
    }
    shares = profile.by_package()
    total = profile.total_s
    lines = []
    for label, names in groups.items():
        value = sum(shares.get(name, 0.0) for name in names)
        lines.append(
            f"- {label}: {value / total:.0%} of self time ({value / profile.calls * 1e6:,.0f} µs/call)"
        )
    lines.append(f"- Python function calls per invocation: {function_calls_per_invocation(profile):,.0f}")
    return lines


def render(profiles: list[Profile], calls: int, warmup: int) -> list[str]:
    """The whole of PROFILE.md."""
    by_key = {p.key: p for p in profiles}
    ours, plain, authorizer = by_key.get("ours"), by_key.get("plain"), by_key.get("authorizer")
    lines = [
        "# Where a warm invocation goes (cProfile)",
        "",
        f"{calls} warm invocations per handler under cProfile after {warmup} unprofiled warm-up calls, in "
        f"the benchmark's own workers (same event, same environment; Python {sys.version.split()[0]}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC). Regenerated by every `make bench`.",
        "",
        "How to read it: cProfile slows pure-Python code more than C code, so read shares, not absolute "
        "µs (the latency table in results.md has the real times). Calls to a coroutine are counted per "
        "resumption, and time spent in tasks the request starts (the SDK runs each stateless request in "
        "its own task) is attributed to the event loop, not to the coroutine that started it: the "
        "self-time-by-owner table is the reliable view; the cumulative list shows the call paths.",
        "",
    ]
    if FINDINGS.is_file():
        lines += [FINDINGS.read_text(encoding="utf-8").strip(), ""]
    if ours is not None:
        lines += [f"## Who owns the time: {ours.label}", "", *headline(ours), ""]
    mcp_profiles = [p for p in (ours, plain) if p is not None]
    if mcp_profiles:
        lines += ["## Self time by owner, per tools/call", "", *package_table(mcp_profiles), ""]
    if ours is not None:
        lines += [f"## Top functions by cumulative time: {ours.label}", ""]
        lines += [*top_table(ours, by="cumulative", limit=30), ""]
        lines += [
            f"## Top functions by self time: {ours.label}",
            "",
            *top_table(ours, by="self", limit=15),
            "",
        ]
    if authorizer is not None:
        lines += [f"## {authorizer.label}: self time by owner, per decision", ""]
        lines += [*package_table([authorizer], limit=10), ""]
        lines += [f"## {authorizer.label}: top functions by cumulative time", ""]
        lines += [*top_table(authorizer, by="cumulative", limit=20), ""]
    if not profiles:
        lines.append("Nothing profiled: no handler could be started.")
    return lines
