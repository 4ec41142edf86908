"""The authorization front's cost in one run: its sign-in steps, the authorizer's decision for its tokens.

    python -m bench.oauth_front           # full run → bench/.envs/oauth-front.md
    python -m bench.oauth_front --quick   # smoke run → bench/.envs/oauth-front-quick.md

Also a section of `make bench` (issue 12 §4). Why it exists: the front adds a Lambda to every
sign-in and a second issuer to the authorizer; what each costs, measured here:

1. the front's handler (`app.oauth.handler.handler`), warm, in a worker of its own
   (`bench.front_flow`) against the local stack's moto (DynamoDB, KMS, SSM, Secrets Manager,
   seeded as `make dev` seeds them) with the dev issuer as its upstream on 127.0.0.1: GET
   /authorize, POST /consent, GET /callback, POST /token (code), POST /token (refresh), in
   that order in every sign-in (so the steps share the machine's noise), each answer checked;
   per step the AWS calls it makes (counted by a botocore event hook) and the time inside them
   and inside the upstream's token endpoint, so the reader can see what dominates and put AWS's
   own latencies in place of moto's;
2. the authorizer's warm decision (`app.authorizer.handler.handler`) for a front token (RS256,
   KMS-signed, from step 1's last refresh) and for a dev-issuer RS256 token (today's JWT path),
   in one worker, the two series interleaved; the ratio of the medians.

Nothing asserts a wall-clock time; a part that cannot run says why instead of showing a figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.authorizer_design import policy_effect
from bench.front_flow import STEPS
from bench.layout import ENVS_DIR, LOGS_DIR, REPO_ROOT, checkout_code, worker_env
from bench.localstack import StackCredentials, running_stack
from bench.phases import Slot, warm_series
from bench.report import TIMES, duration, times
from bench.scenario import authorizer_event, write_events
from bench.section import Section, planned, run_section
from bench.summary import Summary, ratio
from bench.workers import Launch, Worker, WorkerError
from devtools.mcp_messages import MODERN_VERSION, mcp_request, tool_call_params

Progress = Callable[[str], None]

RESULTS: Final = ENVS_DIR / "oauth-front.md"
QUICK_RESULTS: Final = ENVS_DIR / "oauth-front-quick.md"
TOOL: Final = "whoami"  # declares mcp/profile: both tokens must pass a per-tool decision
FLOW_TIMEOUT_S: Final = 900
STEP_LABELS: Final = {
    "authorize": "GET /oauth/authorize → consent page",
    "consent": "POST /oauth/consent → 302 to the upstream",
    "callback": "GET /oauth/callback → upstream code exchange → 302 with our code",
    "token_code": "POST /oauth/token (authorization_code)",
    "token_refresh": "POST /oauth/token (refresh_token)",
}
TOKENS: Final = (("front", "front token (RS256, KMS-signed)"), ("upstream", "dev-issuer token (RS256)"))


@dataclass(frozen=True)
class FrontPlan:
    """How much to measure; the full plan takes about two minutes here."""

    quick: bool
    flows: int  # timed sign-ins (each: the five steps)
    flow_warmup: int
    auth_rounds: int
    auth_batch: int
    auth_warmup: int


FULL: Final = FrontPlan(
    quick=False, flows=200, flow_warmup=10, auth_rounds=40, auth_batch=50, auth_warmup=100
)
QUICK: Final = FrontPlan(quick=True, flows=5, flow_warmup=2, auth_rounds=2, auth_batch=10, auth_warmup=5)


@dataclass
class StepResult:
    """One step's samples (ns): the handler call, and inside it AWS and the upstream's token endpoint."""

    ns: list[int]
    aws_ns: list[int]
    upstream_ns: list[int]
    upstream_calls: int
    aws_calls: dict[str, int]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepResult:
        return cls(
            [int(v) for v in data["ns"]],
            [int(v) for v in data["aws_ns"]],
            [int(v) for v in data["upstream_ns"]],
            int(data["upstream_calls"]),
            {str(k): int(v) for k, v in data["aws_calls"].items()},
        )

    def own_ns(self) -> list[int]:
        """Per call: what is left after AWS and the upstream (the handler's own Python)."""
        return [t - a - u for t, a, u in zip(self.ns, self.aws_ns, self.upstream_ns, strict=True)]


@dataclass
class FrontResults:
    flows: int = 0
    steps: dict[str, StepResult] = field(default_factory=dict)
    flow_problem: str | None = None
    decisions: dict[str, list[int]] = field(default_factory=dict)
    decision_problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.flow_problem is None and self.decision_problem is None


def function_env(credentials: StackCredentials, **extra: str) -> dict[str, str]:
    """A worker's environment: the bench's, plus what the local stack gave its functions."""
    env = worker_env(**checkout_code(), **credentials.environment, **extra)
    # The stack's functions read the MCP URL and the issuers from SSM, not from these.
    for direct in ("MCP_URL", "OAUTH_ISSUER"):
        env.pop(direct, None)
    return env


def measure(plan: FrontPlan, python: Path, progress: Progress) -> FrontResults:
    """Both parts against one local stack; any failure becomes the part's stated reason."""
    results = FrontResults()
    try:
        with running_stack(0, auto_approve_login=True) as credentials:
            progress(f"oauth front: local stack up at {credentials.mcp_url}")
            progress(f"oauth front: {plan.flows} sign-ins through the front's handler")
            try:
                issued: tuple[str, str] | None = measure_flows(plan, python, credentials, results)
            except Exception as exc:
                results.flow_problem = f"{type(exc).__name__}: {exc}"
                issued = None
            if issued is None:
                results.decision_problem = "it needs a front token from the sign-ins above"
                return results
            progress("oauth front: the authorizer's decisions, front token vs dev-issuer token")
            try:
                results.decisions = measure_decisions(plan, python, credentials, *issued, progress)
            except Exception as exc:
                results.decision_problem = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # the stack itself did not start
        results.flow_problem = results.decision_problem = f"{type(exc).__name__}: {exc}"
    return results


def measure_flows(
    plan: FrontPlan, python: Path, credentials: StackCredentials, results: FrontResults
) -> tuple[str, str]:
    """Run the flow worker; fill `results.steps`; the last access token it got, and its client id."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log = LOGS_DIR / "front-flow.log"
    argv = [str(python), "-m", "bench.front_flow", "--flows", str(plan.flows)]
    argv += ["--warmup", str(plan.flow_warmup), "--mcp-url", credentials.mcp_url]
    with log.open("w", encoding="utf-8") as sink:
        done = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env=function_env(credentials),
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            timeout=FLOW_TIMEOUT_S,
            check=False,
        )
    lines = done.stdout.strip().splitlines()
    answer: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if "error" in answer:
        raise WorkerError(f"front flow: {answer['error']}")
    if done.returncode != 0 or "steps" not in answer:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise WorkerError(f"front flow exited with status {done.returncode}: {' | '.join(tail)}")
    results.flows = int(answer["flows"])
    results.steps = {step: StepResult.from_json(answer["steps"][step]) for step in STEPS}
    return str(answer["access_token"]), str(answer["client_id"])


def measure_decisions(
    plan: FrontPlan,
    python: Path,
    credentials: StackCredentials,
    front_token: str,
    front_client_id: str,
    progress: Progress,
) -> dict[str, list[int]]:
    """One authorizer worker (the stack's settings: oauth_front on, per-tool decisions), two tokens."""
    headers, _ = mcp_request("tools/call", tool_call_params(TOOL, {}), generation=MODERN_VERSION)
    events = write_events(
        "oauth-front-authorizer",
        {
            "front": authorizer_event(front_token, headers),
            "upstream": authorizer_event(credentials.access_token, headers),
        },
    )
    launch = Launch(
        "authorizer-oauth-front", python, events, function_env(credentials), module="app.authorizer.handler"
    )
    with Worker(launch) as worker:
        for key, label in TOKENS:
            answer = worker.call(key)
            if policy_effect(answer) != "Allow":
                raise WorkerError(f"the authorizer did not allow the {label} for tools/call of {TOOL}")
        # The front token names the MCP client the user approved (the registered one), not the
        # front's own client at the upstream: proof that the front's path decided it.
        named = (worker.call("front").get("context") or {}).get("client_id")
        if named != front_client_id:
            raise WorkerError(f"the front token's decision names client {named!r}, not the registered one")
        slots = [Slot(key, worker, key) for key, _ in TOKENS]
        return warm_series(
            slots, rounds=plan.auth_rounds, batch=plan.auth_batch, warmup=plan.auth_warmup, progress=progress
        )


def _operation(name: str) -> str:
    service, _, operation = name.partition(":")
    label = {"dynamodb": "DynamoDB", "kms": "KMS", "ssm": "SSM", "secretsmanager": "Secrets Manager"}
    return f"{label.get(service, service)} {operation}"


def calls_per_step(step: StepResult, flows: int) -> str:
    """`2 DynamoDB GetItem, 1 KMS Sign` per call (a fraction if a call did not always make it)."""
    parts = []
    for name, count in sorted(step.aws_calls.items()):
        per_call = count / flows if flows else float("nan")
        shown = f"{per_call:g}" if per_call == int(per_call) else f"{per_call:.2f}"
        parts.append(f"{shown} {_operation(name)}")
    return ", ".join(parts) or "none"


def total_calls(step: StepResult, flows: int) -> float:
    return sum(step.aws_calls.values()) / flows if flows else float("nan")


def render(results: FrontResults, plan: FrontPlan) -> list[str]:
    lines = [
        "## Authorization front (issue 12): sign-in steps, and the authorizer's decision for its tokens",
        "",
        "### The front's handler per sign-in step (warm, in-process)",
        "",
    ]
    lines += flow_lines(results, plan)
    lines += ["", "### The authorizer's decision: front token vs dev-issuer token", ""]
    lines += decision_lines(results, plan)
    lines += ["", "### What this run cannot measure", "", *LIMITS]
    return lines


def flow_lines(results: FrontResults, plan: FrontPlan) -> list[str]:
    if results.flow_problem is not None:
        return [f"Not measured: {results.flow_problem}"]
    flows = results.flows
    lines = [
        "`app.oauth.handler.handler` on REST v1 proxy events, in a warm worker, against the local stack's "
        f"moto server and its dev issuer (auto-approving) over loopback HTTP; {flows} sign-ins after "
        f"{plan.flow_warmup} warm-up ones, each running the five steps in a client's order (a dynamically "
        "registered public client, every offered scope, PKCE S256, `resource` = the MCP URL), every answer "
        "checked (the consent page's form, the redirects' `state`/`iss`/`code`, the tokens and their "
        "scopes). AWS: the time inside botocore (a `before-call`/`after-call` hook: request signing, the "
        "loopback HTTP call to moto, parsing); upstream: the front's POST to the dev issuer's token "
        "endpoint; own: the rest (the handler's Python: routing, checks, the audit line). Medians of "
        "each, per call.",
        "",
        "| step | median | p99 | n | AWS calls per call | AWS (moto) median | upstream median "
        "| own median | AWS share |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for step in STEPS:
        result = results.steps[step]
        total, aws = Summary.of(result.ns), Summary.of(result.aws_ns)
        upstream = Summary.of(result.upstream_ns) if result.upstream_calls else None
        own = Summary.of(result.own_ns())
        lines.append(
            f"| {STEP_LABELS[step]} | {duration(total.median_ns)} | {duration(total.p99_ns)} | {total.n} "
            f"| {total_calls(result, flows):g}: {calls_per_step(result, flows)} | {duration(aws.median_ns)} "
            f"| {duration(upstream.median_ns) if upstream else '—'} | {duration(own.median_ns)} "
            f"| {ratio(aws.median_ns, total.median_ns):.0%} |"
        )
    sign_in = sum(Summary.of(results.steps[s].ns).median_ns for s in STEPS if s != "token_refresh")
    calls = sum(total_calls(results.steps[s], flows) for s in STEPS if s != "token_refresh")
    lines += [
        "",
        f"One sign-in (the first four steps, sum of medians): {duration(sign_in)}, {calls:g} AWS calls.",
    ]
    lines += ["", *dominates_lines(results)]
    return lines


def dominates_lines(results: FrontResults) -> list[str]:
    """What the figures above say, computed from them (so the words follow the numbers)."""
    flows = results.flows
    aws_total = sum(Summary.of(r.aws_ns).median_ns for r in results.steps.values())
    handler_total = sum(Summary.of(r.ns).median_ns for r in results.steps.values())
    upstream_steps = [s for s in STEPS if results.steps[s].upstream_calls]
    upstream = {s: Summary.of(results.steps[s].upstream_ns).median_ns for s in upstream_steps}
    own_max = max(Summary.of(r.own_ns()).median_ns for r in results.steps.values())
    per_call = {
        s: ratio(Summary.of(results.steps[s].aws_ns).median_ns, total_calls(results.steps[s], flows))
        for s in STEPS
    }
    busiest = max(STEPS, key=lambda s: total_calls(results.steps[s], flows))
    return [
        f"What dominates: the AWS calls, {ratio(aws_total, handler_total):.0%} of the five steps' summed "
        f"medians here, at {duration(min(per_call.values()))} to {duration(max(per_call.values()))} per moto "
        f"call (median AWS time of a step / its calls); the busiest step is {busiest} "
        f"({total_calls(results.steps[busiest], flows):g} calls). The upstream token endpoint (a new "
        "loopback TCP connection per call, urllib, plus the dev issuer's own work) takes "
        + ", ".join(f"{duration(ns)} in {s}" for s, ns in upstream.items())
        + f"; the handler's own Python is at most {duration(own_max)} per step. moto's latency is not AWS's: "
        "a moto call here is an HTTP request to a Python server on this machine. To estimate a deployed "
        "step, multiply the calls per step above by the latencies DynamoDB and KMS show in your region "
        "(DynamoDB's CloudWatch `SuccessfulRequestLatency`; KMS: client-side timings), add the upstream's "
        "token endpoint (Cognito's or your IdP's, over the internet) to the callback and the refresh, and "
        "the front's own time.",
    ]


def decision_lines(results: FrontResults, plan: FrontPlan) -> list[str]:
    if results.decision_problem is not None:
        return [f"Not measured: {results.decision_problem}"]
    front, upstream = Summary.of(results.decisions["front"]), Summary.of(results.decisions["upstream"])
    lines = [
        "`app.authorizer.handler.handler` with the local stack's settings (`oauth_front` on, per-tool "
        f"decisions, TTL 0) on a REQUEST-authorizer event of a 2026-07-28 `tools/call` of `{TOOL}`, in "
        "one warm worker; "
        "both tokens hold every scope and are allowed (checked before timing); both JWKS cached (the "
        "front's fetched once from the stack's `/oauth/jwks.json`, the dev issuer's from its own); audit "
        f"line included; {plan.auth_rounds} rounds of {plan.auth_batch}, the two series interleaved.",
        "",
        f"| token | median | p99 | n | {TIMES} dev-issuer token |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in TOKENS:
        summary = Summary.of(results.decisions[key])
        lines.append(
            f"| {label} | {duration(summary.median_ns)} | {duration(summary.p99_ns)} | {summary.n} "
            f"| {times(ratio(summary.median_ns, upstream.median_ns))} |"
        )
    lines += [
        "",
        f"The front token's decision is {times(ratio(front.median_ns, upstream.median_ns))} the dev-issuer "
        "token's: the authorizer picks the verifier by the exact `iss` and runs the same checks (RS256 "
        "signature, `aud` = the MCP URL, `exp`/`nbf`, scopes), and for a front token also `typ` = `at+jwt`; "
        "the KMS key that signed it is never called by the authorizer (its public key is in the cached "
        "JWKS).",
    ]
    return lines


LIMITS: Final = [
    "- AWS's latencies: the AWS figures above are moto's on this machine. DynamoDB promises "
    "single-digit-millisecond responses at any scale (https://aws.amazon.com/dynamodb/); KMS publishes "
    "request quotas per operation and key type (asymmetric Sign has its own, lower one: "
    "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html) but no latency figure. "
    "The counts per step are what carries over.",
    "- Cold starts of the front's Lambda, and the first request of a container (settings from SSM and "
    "Secrets Manager, the upstream's discovery and JWKS, the KMS public key): the warm-up sign-ins absorb "
    "them here.",
    "- The browser's visits (the consent page rendering, the upstream's own login page) and the network "
    "between the user, API Gateway and the upstream: only the front's handler is timed.",
]


def main(argv: list[str] | None = None) -> int:
    section = Section(
        module="bench.oauth_front",
        description=__doc__.splitlines()[0] if __doc__ else "",
        title="the authorization front",
        caveat=(
            "a shared, noisy 2-core machine, not Lambda, and moto, not AWS. Absolute times are this "
            "machine's; the AWS call counts and the ratios (every figure from this one run) are what carries "
            "over."
        ),
        results=RESULTS,
        quick_results=QUICK_RESULTS,
    )
    return run_section(section, planned(FULL, QUICK, measure, render), argv)


if __name__ == "__main__":
    sys.exit(main())
