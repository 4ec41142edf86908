"""One benchmark run, start to finish: environments, bundles, warm, cold, authorizer, profile.

The order keeps the noisy work (pip, zipping) out of the measurements: everything is built
first, then the timed phases run back to back with every contender present.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import authorizer_design, faults, oauth_front, profiling, servers
from bench.bundles import (
    BundleError,
    BundleSize,
    BundleSpec,
    build_deps,
    build_sources,
    bytecode_python,
    deps_current,
    measure,
)
from bench.envs import EnvError, ensure_env, installed_versions, is_current
from bench.layout import CONTENDERS_DIR, LOGS_DIR, checkout_code, worker_env
from bench.machine import machine_line
from bench.phases import Slot, cold_series, warm_series
from bench.plan import Plan
from bench.registry import BASELINE, OURS, authorizer_bundle, bundle_spec, contenders
from bench.report import AuthRow, McpRow, Report, Target
from bench.scenario import SCRATCH, auth_scenario, tools_call_event, write_events
from bench.summary import Summary, ratio
from bench.workers import Launch, Startup, Worker, WorkerError

Progress = Callable[[str], None]
KEY_DISTRIBUTIONS = (
    "mcp",
    "mangum",
    "starlette",
    "pydantic",
    "anyio",
    "awslabs-mcp-lambda-handler",
    "run-mcp-servers-with-aws-lambda",
    "PyJWT",
    "cryptography",
    "aws-lambda-powertools",
)
AUTH_SERIES = (
    ("floor_rs256", "raw `jwt.decode`, RS256, key in hand (floor)", "jwt_floor", "jwt_rs256", None),
    ("jwt_rs256", "authorizer handler, JWT RS256", "authorizer", "jwt_rs256", "floor_rs256"),
    ("floor_es256", "raw `jwt.decode`, ES256, key in hand (floor)", "jwt_floor", "jwt_es256", None),
    ("jwt_es256", "authorizer handler, JWT ES256", "authorizer", "jwt_es256", "floor_es256"),
    (
        "decide_rs256",
        "decision logic only (`Gatekeeper.decide`), JWT RS256",
        "decision",
        "jwt_rs256",
        "floor_rs256",
    ),
    (
        "decide_es256",
        "decision logic only (`Gatekeeper.decide`), JWT ES256",
        "decision",
        "jwt_es256",
        "floor_es256",
    ),
    ("api_key", "authorizer handler, API key (hash lookup)", "authorizer", "api_key", None),
)


@dataclass
class Outcome:
    report: Report
    profile: list[str]


def run(plan: Plan, progress: Progress) -> Outcome:
    started = time.monotonic()
    load_before = os.getloadavg()
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOGS_DIR.glob("*.log"):
        old.unlink()
    rows = {c.key: McpRow(c.key, c.label, c.note) for c in contenders()}
    pythons = prepare_envs(plan, rows, progress)
    bundles = prepare_bundles(plan, rows, progress)

    mcp_events = write_events("mcp", {"tools_call": tools_call_event()})
    launches = {
        c.key: Launch(
            c.key,
            pythons[c.key],
            mcp_events,
            worker_env(**checkout_code()) if c.key == OURS else worker_env(),
            file=c.file,
            module=c.module,
        )
        for c in contenders()
        if c.key in pythons
    }
    caps = {c.key: c.warm_cap for c in contenders()}
    auth_rows: list[AuthRow] = []
    # The authorizer runs in ours' env (it ships a subset of it); the floor there too (PyJWT).
    auth_python = pythons.get(OURS, Path(sys.executable))
    with auth_scenario() as auth:
        auth_launch = Launch(
            "authorizer",
            auth_python,
            auth.handler_events,
            worker_env(**auth.handler_env, **checkout_code()),
            module="app.authorizer.handler",
        )
        decision_launch = Launch(
            "decision",
            auth_python,
            auth.handler_events,
            worker_env(**auth.handler_env, **checkout_code()),
            file=CONTENDERS_DIR / "authorizer_decision.py",
        )
        floor_launch = Launch(
            "jwt_floor",
            auth_python,
            auth.floor_events,
            worker_env(**auth.floor_env),
            file=CONTENDERS_DIR / "jwt_floor.py",
        )
        progress("warm: MCP contenders, interleaved")
        warm = measure_warm(plan, launches, caps, rows, progress)
        for key, samples in warm.items():
            rows[key].warm = Summary.of(samples)
        progress("warm: authorizer decisions, interleaved")
        auth_rows = measure_auth(plan, auth_launch, decision_launch, floor_launch, progress)
        progress("cold: fresh processes, interleaved")
        measured = [launches[key] for key in launches if rows[key].problem is None]
        cold = cold_series([*measured, auth_launch], runs=plan.cold_runs, progress=progress)
        progress("profile: warm calls under cProfile")
        profiles = collect_profiles(plan, launches, rows, auth_launch)
    profile_lines = profiling.render(profiles, plan.profile_calls, plan.profile_warmup)
    for key, starts in cold.items():
        if key in rows:
            rows[key].cold = Summary.of([s.cold_ns for s in starts])
            rows[key].imports = Summary.of([s.import_ns for s in starts])
            rows[key].process = Summary.of([s.process_ns for s in starts])
    auth_cold = cold.get("authorizer", [])

    design_plan = authorizer_design.QUICK if plan.quick else authorizer_design.FULL
    design = authorizer_design.render(
        authorizer_design.measure(design_plan, auth_python, progress), design_plan
    )

    front_plan = oauth_front.QUICK if plan.quick else oauth_front.FULL
    front = oauth_front.render(oauth_front.measure(front_plan, auth_python, progress), front_plan)

    faults_plan = faults.QUICK if plan.quick else faults.FULL
    faults_section = faults.render(faults.measure(faults_plan, progress), faults_plan)

    progress("servers: the authorizer's decision with several servers and tenants vs today")
    rounds, batch = servers.QUICK if plan.quick else servers.FULL
    servers_section = servers.render(servers.measure(rounds, batch), rounds, batch)

    ours, plain = rows[OURS], rows[BASELINE]
    auth_cold_rows = [
        (
            "authorizer (app.authorizer.handler)",
            _imports(auth_cold),
            _colds(auth_cold),
            bundles.get("authorizer"),
        ),
        ("MCP handler (ours)", ours.imports, ours.cold, ours.bundle),
        ("plain SDK", plain.imports, plain.cold, plain.bundle),
    ]
    targets = build_targets(ours, plain, auth_rows, auth_cold)
    heading = heading_lines(plan, started, load_before)
    notes = notes_lines(plan, rows, pythons)
    report = Report(
        heading,
        list(rows.values()),
        auth_rows,
        auth_cold_rows,
        targets,
        design,
        notes,
        oauth_front=front,
        faults=faults_section,
        servers=servers_section,
    )
    return Outcome(report, profile_lines)


def build_targets(
    ours: McpRow, plain: McpRow, auth_rows: list[AuthRow], auth_cold: list[Startup]
) -> list[Target]:
    """The issue's targets, each a ratio of medians from this run."""
    targets = [
        Target("MCP handler warm median vs plain SDK", ratio(_med(ours.warm), _med(plain.warm)), 0.5),
        Target("MCP handler cold vs plain SDK", ratio(_med(ours.cold), _med(plain.cold)), 1.0),
        Target("authorizer cold vs plain SDK cold", ratio(_med(_colds(auth_cold)), _med(plain.cold)), 0.35),
    ]
    by_key = {row.key: row for row in auth_rows}
    for alg in ("rs256", "es256"):
        floor = by_key.get(f"floor_{alg}")
        for key, what, limit in (
            (f"decide_{alg}", "decision", 1.3),
            (f"jwt_{alg}", "whole handler (event → policy, audit line, EMF)", None),
        ):
            row = by_key.get(key)
            value = ratio(row.summary.median_ns, floor.summary.median_ns) if row and floor else math.nan
            targets.append(
                Target(f"authorizer warm JWT {alg.upper()} {what} vs raw jwt.decode", value, limit)
            )
    return targets


def _med(summary: Summary | None) -> float:
    return summary.median_ns if summary is not None else math.nan


def _colds(starts: list[Startup]) -> Summary | None:
    return Summary.of([s.cold_ns for s in starts]) if starts else None


def _imports(starts: list[Startup]) -> Summary | None:
    return Summary.of([s.import_ns for s in starts]) if starts else None


def prepare_envs(plan: Plan, rows: dict[str, McpRow], progress: Progress) -> dict[str, Path]:
    """Each contender's interpreter; a contender whose env cannot be had gets a `problem`."""
    pythons: dict[str, Path] = {}
    for contender in contenders():
        if plan.quick and contender.published and not is_current(contender.env):
            rows[
                contender.key
            ].problem = "virtualenv not built (`--quick` builds none; run `make bench` once)"
            continue
        if not is_current(contender.env):
            progress(f"building virtualenv bench/.envs/{contender.env.name} …")
        try:
            pythons[contender.key] = ensure_env(contender.env, LOGS_DIR / f"env-{contender.env.name}.log")
        except EnvError as exc:
            rows[contender.key].problem = f"cannot be installed here ({exc})"
    return pythons


def prepare_bundles(plan: Plan, rows: dict[str, McpRow], progress: Progress) -> dict[str, BundleSize]:
    """Bundle sizes by contender key (and "authorizer"); problems recorded on the rows."""
    specs: list[tuple[str, BundleSpec]] = [(c.key, bundle_spec(c)) for c in contenders()]
    specs.append(("authorizer", authorizer_bundle()))
    sizes: dict[str, BundleSize] = {}
    for key, spec in specs:
        # --quick exercises the bundler on the floor only: zipping the others takes too long.
        if plan.quick and key != "floor":
            if key in rows:
                rows[key].bundle_problem = "not measured (--quick)"
            continue
        if not deps_current(spec):
            progress(f"building Lambda bundle {spec.name} (arm64, CPython 3.13) …")
        log = LOGS_DIR / f"bundle-{spec.name}.log"
        try:
            roots = [build_deps(spec, log), build_sources(spec, log)]
            sizes[key] = measure(spec, roots)
        except BundleError as exc:
            if key in rows:
                rows[key].bundle_problem = f"cannot be bundled: {exc}"
            continue
        if key in rows:
            rows[key].bundle = sizes[key]
    return sizes


def check_mcp_answer(response: object) -> str | None:
    """None if the response is a 200 with the sum in it; else what is wrong."""
    if not isinstance(response, dict) or response.get("statusCode") != 200:
        return f"answered {str(response)[:160]}"
    body = str(response.get("body", ""))
    compact = body.replace(" ", "")
    if '"result":5' not in compact and '"text":"5' not in compact:
        return f"answered without the sum: {body[:160]}"
    return None


def measure_warm(
    plan: Plan,
    launches: dict[str, Launch],
    caps: dict[str, int | None],
    rows: dict[str, McpRow],
    progress: Progress,
) -> dict[str, list[int]]:
    with ExitStack() as stack:
        slots: list[Slot] = []
        for key, launch in launches.items():
            worker = Worker(launch)
            try:
                stack.enter_context(worker)
            except WorkerError as exc:
                rows[key].problem = f"does not start here ({exc})"
                continue
            problem = check_mcp_answer(worker.startup.response if worker.startup else None)
            if problem is not None:
                rows[key].problem = problem
                continue
            slots.append(Slot(key, worker, "tools_call", caps.get(key)))
        return warm_series(
            slots, rounds=plan.warm_rounds, batch=plan.warm_batch, warmup=plan.warm_warmup, progress=progress
        )


def measure_auth(
    plan: Plan, auth_launch: Launch, decision_launch: Launch, floor_launch: Launch, progress: Progress
) -> list[AuthRow]:
    with (
        Worker(auth_launch) as authorizer,
        Worker(decision_launch) as decision,
        Worker(floor_launch) as floor,
    ):
        workers = {"authorizer": authorizer, "decision": decision, "jwt_floor": floor}
        for key, _, worker_key, event, _ in AUTH_SERIES:
            response = workers[worker_key].call(event)
            allowed = isinstance(response, dict) and (
                response.get("sub") == "bench-user"
                or response.get("policyDocument", {}).get("Statement", [{}])[0].get("Effect") == "Allow"
            )
            if not allowed:
                raise WorkerError(f"{key}: not allowed: {str(response)[:200]}")
        slots = [Slot(key, workers[worker_key], event) for key, _, worker_key, event, _ in AUTH_SERIES]
        samples = warm_series(
            slots, rounds=plan.auth_rounds, batch=plan.auth_batch, warmup=plan.auth_warmup, progress=progress
        )
    return [AuthRow(key, label, Summary.of(samples[key]), floor) for key, label, _, _, floor in AUTH_SERIES]


def collect_profiles(
    plan: Plan, launches: dict[str, Launch], rows: dict[str, McpRow], auth_launch: Launch
) -> list[profiling.Profile]:
    """cProfile of warm calls: ours and the plain SDK (tools/call), the authorizer (RS256)."""
    jobs = [
        (OURS, "ours", launches.get(OURS), "tools_call"),
        (BASELINE, "plain SDK", launches.get(BASELINE), "tools_call"),
        ("authorizer", "authorizer (JWT RS256)", auth_launch, "jwt_rs256"),
    ]
    profiles: list[profiling.Profile] = []
    for key, label, launch, event in jobs:
        if launch is None or (key in rows and rows[key].problem is not None):
            continue
        out = SCRATCH / f"profile-{key}.prof"
        with Worker(launch) as worker:
            worker.run(event, plan.profile_warmup)
            worker.profile(event, plan.profile_calls, out)
        profiles.append(profiling.load(key, label, out, plan.profile_calls))
    return profiles


def heading_lines(plan: Plan, started: float, load_before: tuple[float, float, float]) -> list[str]:
    mode = "QUICK SMOKE RUN: tiny samples, do not quote" if plan.quick else "full run"
    return [
        "# Benchmarks: MCP on Lambda, side by side",
        "",
        f"Generated by `make bench` ({mode}) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"in {time.monotonic() - started:,.0f} s.",
        machine_line(load_before),
        "",
        "**Machine caveat**: a shared, noisy 2-core machine, not Lambda. Absolute times are this machine's;"
        " the ratios (every figure from this one run, contenders interleaved round-robin) are what carries"
        " over. Medians are quoted, p99 shows the tail.",
    ]


def notes_lines(plan: Plan, rows: dict[str, McpRow], pythons: dict[str, Path]) -> list[str]:
    compiler, exact = bytecode_python()
    notes = [
        f"Warm: {plan.warm_calls} invocations per contender ({plan.warm_rounds} rounds of {plan.warm_batch}, "
        f"order rotating each round, after {plan.warm_warmup} warm-up calls), timed inside the worker "
        "around `handler(event, context)` only; every call gets a fresh copy of the same REST v1 event.",
        f"Cold: {plan.cold_runs} fresh processes per contender, interleaved, after one discarded start "
        "each (bytecode written, OS file cache warm). 'cold' is import + first invocation timed inside "
        "the process; 'spawn → 1st answer' adds interpreter start-up and the virtualenv's site setup.",
        "Authorizer cold: import of `app.authorizer.handler` (reads and validates its settings), then "
        "one RS256 decision including OIDC discovery and the JWKS fetch from a loopback issuer. Warm "
        "decisions use the real handler and event; the JWKS is cached, the API key store comes from a "
        "moto Secrets Manager server through Powertools (cached 60 s, as deployed).",
        "Bundles: the project's recipe (infra/constructs/bundling.py) for everyone: wheels for "
        "manylinux2014 aarch64 / CPython 3.13, --only-binary=:all:, console scripts and dependency tests "
        "dropped, boto3 / botocore / s3transfer / jmespath left out (the Lambda runtime has them), "
        f"sources compiled to bytecode with {compiler}"
        + ("" if exact else " (NOT 3.13: no python3.13 found; sizes approximate)")
        + ".",
        "Contender versions: shared distributions pinned to the project venv's versions (floor, "
        "adapter, plain, ours); published alternatives resolved by pip as their users get them. "
        "`ours`, the authorizer and the jwt.decode floor run in one virtualenv holding the project's "
        "runtime dependencies and snapshot-restore-py (what the functions have on Lambda, no dev "
        "tools), with app/ imported from the checkout.",
    ]
    for key, python in pythons.items():
        versions = installed_versions(python, KEY_DISTRIBUTIONS)
        listed = ", ".join(f"{name} {version}" for name, version in versions.items())
        listed = listed or "standard library only"
        notes.append(f"`{key}` environment: {listed}.")
    for row in rows.values():
        if row.note:
            notes.append(f"`{row.key}`: {row.note}.")
        if row.problem:
            notes.append(f"`{row.key}` not measured: {row.problem}.")
    return notes
