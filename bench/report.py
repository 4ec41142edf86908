"""Markdown for the terminal, `bench/results.md` and `bench/PROFILE.md`.

Only formatting lives here: every number arrives measured, and a row that could not be
measured carries the reason instead of a figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.bundles import BundleSize
from bench.summary import Summary, ratio

TIMES = "\u00d7"  # the multiplication sign, spelled so that linters do not take it for an x


@dataclass
class McpRow:
    """One MCP contender's figures (None where not measured; `problem` says why)."""

    key: str
    label: str
    note: str = ""
    problem: str | None = None
    warm: Summary | None = None
    cold: Summary | None = None
    imports: Summary | None = None
    process: Summary | None = None
    bundle: BundleSize | None = None
    bundle_problem: str | None = None


@dataclass
class AuthRow:
    """One authorizer series: the handler's decision, or the raw `jwt.decode` floor."""

    key: str
    label: str
    summary: Summary
    floor_key: str | None = None


@dataclass
class Target:
    name: str
    measured: float
    limit: float | None  # None: measured beside a target for context, not one of the targets

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.measured):
            return "not measured"
        if self.limit is None:
            return "context"
        return "PASS" if self.measured <= self.limit else "FAIL"


@dataclass
class Report:
    heading: list[str]
    mcp: list[McpRow]
    auth: list[AuthRow]
    auth_cold: list[tuple[str, Summary | None, Summary | None, BundleSize | None]]
    targets: list[Target]
    authorizer_design: list[str]  # the section's lines (bench.authorizer_design)
    notes: list[str] = field(default_factory=list)
    oauth_front: list[str] = field(default_factory=list)  # the section's lines (bench.oauth_front)
    faults: list[str] = field(default_factory=list)  # the section's lines (bench.faults)
    servers: list[str] = field(default_factory=list)  # the section's lines (bench.servers)


def duration(ns: float | None) -> str:
    if ns is None or not math.isfinite(ns):
        return "—"
    if ns >= 100e6:
        return f"{ns / 1e6:,.0f} ms"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} µs"


def size(value: int | None) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.1f} MB"
    return f"{value / 1e3:.1f} kB"


def times(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    if value < 0.01:
        return f"<0.01{TIMES}"
    return f"{value:.3f}{TIMES}" if value < 0.1 else f"{value:.2f}{TIMES}"


def _median(summary: Summary | None) -> float:
    return summary.median_ns if summary is not None else math.nan


def mcp_table(rows: list[McpRow], baseline: str) -> list[str]:
    base = next((r for r in rows if r.key == baseline), None)
    base_warm = _median(base.warm) if base else math.nan
    base_cold = _median(base.cold) if base else math.nan
    lines = [
        f"| contender | warm median | warm p99 | n | warm {TIMES} plain | cold: import + 1st call "
        f"| cold {TIMES} plain | import | spawn → 1st answer | bundle zip | bundle unzipped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.problem is not None:
            lines.append(f"| {row.label} | not measured: {row.problem} |" + " |" * 9)
            continue
        warm, cold = row.warm, row.cold
        zipped = size(row.bundle.zipped) if row.bundle else (row.bundle_problem or "—")
        lines.append(
            f"| {row.label} | {duration(_median(warm))} | {duration(warm.p99_ns if warm else None)} "
            f"| {warm.n if warm else 0} | {times(ratio(_median(warm), base_warm))} "
            f"| {duration(_median(cold))} | {times(ratio(_median(cold), base_cold))} "
            f"| {duration(_median(row.imports))} | {duration(_median(row.process))} "
            f"| {zipped} | {size(row.bundle.unzipped) if row.bundle else '—'} |"
        )
    return lines


def auth_table(rows: list[AuthRow]) -> list[str]:
    by_key = {row.key: row for row in rows}
    lines = [
        f"| decision | median | p99 | n | decisions/s (1 / median) | {TIMES} raw jwt.decode |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        floor = by_key.get(row.floor_key) if row.floor_key else None
        factor = times(ratio(row.summary.median_ns, floor.summary.median_ns)) if floor else "—"
        lines.append(
            f"| {row.label} | {duration(row.summary.median_ns)} | {duration(row.summary.p99_ns)} "
            f"| {row.summary.n} | {row.summary.per_second:,.0f} | {factor} |"
        )
    return lines


def auth_cold_table(
    rows: list[tuple[str, Summary | None, Summary | None, BundleSize | None]], baseline_cold: float
) -> list[str]:
    lines = [
        f"| function | import | cold: import + 1st call | cold {TIMES} plain SDK "
        "| bundle zip | bundle unzipped |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, imports, cold, bundle in rows:
        lines.append(
            f"| {label} | {duration(_median(imports))} | {duration(_median(cold))} "
            f"| {times(ratio(_median(cold), baseline_cold))} "
            f"| {size(bundle.zipped) if bundle else '—'} | {size(bundle.unzipped) if bundle else '—'} |"
        )
    return lines


CONTEXT_NOTE = (
    "*context*: measured beside a target, not one itself. The authorizer target is its decision "
    "(`Gatekeeper.decide`: settings, header, key choice, signature, claims, scope, principal); "
    "the whole handler adds the event translation, the policy document, and the audit line with "
    "its EMF metrics that every decision writes (issue 4)."
)


def target_table(targets: list[Target]) -> list[str]:
    lines = ["| target (issue 7) | measured | limit | result |", "|---|---:|---:|---|"]
    for target in targets:
        measured = f"{target.measured:.3f}{TIMES}" if math.isfinite(target.measured) else "—"
        if target.limit is None:
            lines.append(f"| {target.name} | {measured} | — | {target.verdict} |")
        else:
            lines.append(f"| {target.name} | {measured} | ≤ {times(target.limit)} | **{target.verdict}** |")
    if any(target.limit is None for target in targets):
        lines += ["", CONTEXT_NOTE]
    return lines


def render(report: Report, baseline: str) -> str:
    base = next((r for r in report.mcp if r.key == baseline), None)
    base_cold = _median(base.cold) if base else math.nan
    parts = [
        *report.heading,
        "",
        "## Targets",
        "",
        *target_table(report.targets),
        "",
        "## MCP Lambda handler: REST v1 tools/call (`add`), authorizer context included",
        "",
        *mcp_table(report.mcp, baseline),
        "",
        "## Authorizer",
        "",
        "Cold start (fresh process: import, then one decision for an RS256 JWT, JWKS fetched over loopback):",
        "",
        *auth_cold_table(report.auth_cold, base_cold),
        "",
        "Warm decisions (REQUEST-authorizer event → policy, audit line included; JWKS and key store cached):",
        "",
        *auth_table(report.auth),
        "",
        *report.authorizer_design,
        "",
        *((*report.oauth_front, "") if report.oauth_front else ()),
        *((*report.faults, "") if report.faults else ()),
        *((*report.servers, "") if report.servers else ()),
        "## Notes",
        "",
        *(f"- {note}" for note in report.notes),
        "",
    ]
    return "\n".join(parts)
