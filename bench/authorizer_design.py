"""The authorizer design side by side, in one run: TTL 0 (per-tool decisions) vs TTL 300 (cached).

    python -m bench.authorizer_design           # full run → bench/.envs/authorizer-design.md
    python -m bench.authorizer_design --quick   # smoke run → bench/.envs/authorizer-design-quick.md

Also a section of `make bench`, whose `bench/results.md` holds the numbers quoted elsewhere; run
alone, it writes under the git-ignored `bench/.envs/` (or `--output`). Why it exists: with the API Gateway
authorizer cache off (`AUTHORIZER_CACHE_TTL_SECONDS=0`, the default) the authorizer runs on every
request and can refuse a tool the caller lacks the scope for, so API Gateway itself sends the
step-up challenge; with a TTL (the previous design) it runs once per Authorization header per
window and decides on the base scope only. What that costs, measured here:

1. end to end through the local stack: two stacks running at once, in two processes, TTL 0 and
   TTL 300, answering the same `tools/call` of a scoped tool from a 2026-07-28 client (routing
   headers `Mcp-Method`/`Mcp-Name`) and a 2025-11-25 client (none), with an API key and with a
   JWT; the eight series interleaved batch by batch;
2. the authorizer handler's own warm duration per decision, in-process (what Lambda bills), with
   per-tool decisions on (`TOOL_SCOPES_FILE`, TTL 0) and off (TTL 300), and the MCP handler's for
   the same call, the cost model's yardstick; interleaved likewise;
3. cost per million requests from AWS list prices (`bench.cost_model`).

Every configuration is checked before it is timed (a narrow token is refused per tool only where
per-tool decisions are on), every timed answer is checked, and nothing asserts a wall-clock time:
a part that cannot run says why instead of showing a figure.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench import cost_model
from bench.cost_model import CostModel, Function
from bench.envs import ensure_env, is_current
from bench.layout import ENVS_DIR, LOGS_DIR, MCP_URL, REPO_ROOT, checkout_code, worker_env
from bench.localstack import Post, StackClient, running_stack
from bench.phases import Slot, warm_series
from bench.registry import ours_env
from bench.report import duration, times
from bench.scenario import SCRATCH, auth_scenario, authorizer_event, tools_call_event, write_events
from bench.section import Section, planned, run_section
from bench.summary import Summary, ratio
from bench.workers import Launch, Worker, WorkerError
from devtools.mcp_messages import HANDSHAKE_VERSION, MODERN_VERSION, mcp_request, tool_call_params

Progress = Callable[[str], None]

RESULTS: Final = ENVS_DIR / "authorizer-design.md"
QUICK_RESULTS: Final = ENVS_DIR / "authorizer-design-quick.md"
TOOL: Final = "whoami"  # declares mcp/profile, so a per-tool decision has a scope to check
TOOL_SCOPE: Final = "mcp/profile"
BASE_SCOPE: Final = "mcp/access"
PER_TOOL_TTL: Final = 0
CACHED_TTL: Final = 300  # API Gateway's default, and the previous design's
TTLS: Final = (PER_TOOL_TTL, CACHED_TTL)
CLIENTS: Final = (MODERN_VERSION, HANDSHAKE_VERSION)
CREDENTIALS: Final = (("api_key", "API key"), ("jwt", "JWT (RS256)"))


@dataclass(frozen=True)
class DesignPlan:
    """How much to measure; the full plan finishes in a few minutes on 2 cores."""

    quick: bool
    stack_rounds: int  # end to end: rounds x batch requests per series
    stack_batch: int
    stack_warmup: int
    auth_rounds: int  # in-process: rounds x batch invocations per series
    auth_batch: int
    auth_warmup: int


FULL: Final = DesignPlan(
    quick=False,
    stack_rounds=50,
    stack_batch=10,
    stack_warmup=20,
    auth_rounds=40,
    auth_batch=50,
    auth_warmup=100,
)
QUICK: Final = DesignPlan(
    quick=True, stack_rounds=2, stack_batch=5, stack_warmup=3, auth_rounds=2, auth_batch=10, auth_warmup=5
)


@dataclass
class DesignResults:
    """Raw samples (nanoseconds) by series; a part that could not run has its reason instead."""

    end_to_end: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)  # (ttl, client, cred)
    end_to_end_problem: str | None = None
    decisions: dict[tuple[bool, str], list[int]] = field(default_factory=dict)  # (per-tool on, cred)
    mcp: list[int] = field(default_factory=list)
    decisions_problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.end_to_end_problem is None and self.decisions_problem is None


def measure(plan: DesignPlan, python: Path, progress: Progress) -> DesignResults:
    """Both measurements, one after the other (each interleaves its own series)."""
    results = DesignResults()
    # Any failure becomes the part's stated reason: one broken part must not sink a whole
    # `make bench` run, and its report says what broke instead of printing a figure.
    progress("authorizer design: end to end, TTL 0 and TTL 300 stacks side by side")
    try:
        results.end_to_end = measure_end_to_end(plan, progress)
    except Exception as exc:
        results.end_to_end_problem = f"{type(exc).__name__}: {exc}"
    progress("authorizer design: warm decisions in-process, per-tool on and off")
    try:
        results.decisions, results.mcp = measure_decisions(plan, python, progress)
    except Exception as exc:
        results.decisions_problem = f"{type(exc).__name__}: {exc}"
    return results


def measure_end_to_end(plan: DesignPlan, progress: Progress) -> dict[tuple[int, str, str], list[int]]:
    """Eight interleaved series: two stacks x two client generations x two credentials."""
    import httpx2

    series: dict[str, tuple[int, str, str]] = {}
    slots: list[Slot] = []
    with ExitStack() as stack:
        client = stack.enter_context(httpx2.Client(timeout=30))
        for ttl in TTLS:
            credentials = stack.enter_context(running_stack(ttl))
            progress(f"  TTL {ttl} stack up at {credentials.mcp_url}")
            tokens = {"api_key": credentials.api_key, "jwt": credentials.access_token}
            posts: dict[str, Post] = {}
            for generation in CLIENTS:
                headers, body = mcp_request("tools/call", tool_call_params(TOOL, {}), generation=generation)
                for credential, _ in CREDENTIALS:
                    name = f"{generation}/{credential}"
                    posts[name] = Post({**headers, "Authorization": f"Bearer {tokens[credential]}"}, body)
                    series[f"ttl{ttl}/{name}"] = (ttl, generation, credential)
            worker = StackClient(client, credentials.mcp_url, posts)
            slots += [Slot(f"ttl{ttl}/{name}", worker, name) for name in posts]
        samples = warm_series(
            slots,
            rounds=plan.stack_rounds,
            batch=plan.stack_batch,
            warmup=plan.stack_warmup,
            progress=progress,
        )
    return {series[key]: values for key, values in samples.items()}


def export_tool_scopes(python: Path) -> Path:
    """The tool registry's scopes document, written as the stack and `make dev` write it."""
    done = subprocess.run(
        [str(python), "-m", "app.mcp.tool_scopes_export"],
        cwd=REPO_ROOT,
        env=worker_env(**checkout_code()),
        capture_output=True,
        text=True,
        check=True,
    )
    path = SCRATCH / "tool-scopes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(done.stdout, encoding="utf-8")
    return path


def measure_decisions(
    plan: DesignPlan, python: Path, progress: Progress
) -> tuple[dict[tuple[bool, str], list[int]], list[int]]:
    """The authorizer with per-tool decisions on and off, and the MCP handler, interleaved."""
    scopes_file = export_tool_scopes(python)
    headers, _ = mcp_request("tools/call", tool_call_params(TOOL, {}), generation=MODERN_VERSION)
    with auth_scenario() as auth:
        jwt, narrow = auth.issuer.mint("RS256", MCP_URL), auth.issuer.mint("RS256", MCP_URL, BASE_SCOPE)
        events = write_events(
            "authorizer-design",
            {
                "jwt": authorizer_event(jwt, headers),
                "api_key": authorizer_event(auth.api_key, headers),
                "jwt_narrow": authorizer_event(narrow, headers),
            },
        )
        handler_env = {**auth.handler_env, **checkout_code()}
        per_tool = Launch(
            "authorizer-per-tool",
            python,
            events,
            worker_env(
                **handler_env,
                TOOL_SCOPES_FILE=str(scopes_file),
                AUTHORIZER_CACHE_TTL_SECONDS=str(PER_TOOL_TTL),
            ),
            module="app.authorizer.handler",
        )
        cached = Launch(
            "authorizer-cached",
            python,
            events,
            worker_env(**handler_env, AUTHORIZER_CACHE_TTL_SECONDS=str(CACHED_TTL)),
            module="app.authorizer.handler",
        )
        mcp_events = write_events("mcp-design", {"tools_call": tools_call_event(TOOL, {}, MODERN_VERSION)})
        mcp = Launch(
            "mcp-design", python, mcp_events, worker_env(**checkout_code()), module="app.mcp.handler"
        )
        with Worker(per_tool) as on, Worker(cached) as off, Worker(mcp) as handler:
            check_configurations(on, off, handler)
            slots = [
                *(Slot(f"on/{credential}", on, credential) for credential, _ in CREDENTIALS),
                *(Slot(f"off/{credential}", off, credential) for credential, _ in CREDENTIALS),
                Slot("mcp", handler, "tools_call"),
            ]
            samples = warm_series(
                slots,
                rounds=plan.auth_rounds,
                batch=plan.auth_batch,
                warmup=plan.auth_warmup,
                progress=progress,
            )
    decisions = {
        (side == "on", credential): samples[f"{side}/{credential}"]
        for side in ("on", "off")
        for credential, _ in CREDENTIALS
    }
    return decisions, samples["mcp"]


def policy_effect(response: object) -> str | None:
    if not isinstance(response, dict):
        return None
    statements = response.get("policyDocument", {}).get("Statement", [])
    return str(statements[0].get("Effect")) if statements else None


def check_configurations(on: Worker, off: Worker, handler: Worker) -> None:
    """Prove each worker is the design it stands for before timing it; `WorkerError` if not."""
    for worker in (on, off):
        for credential, _ in CREDENTIALS:
            if policy_effect(worker.call(credential)) != "Allow":
                raise WorkerError(f"{worker.launch.key}: {credential} with every scope was not allowed")
    refused = on.call("jwt_narrow")
    scope = str(refused.get("context", {}).get("scope", "")) if isinstance(refused, dict) else ""
    if policy_effect(refused) != "Deny" or TOOL_SCOPE not in scope.split():
        raise WorkerError(f"per-tool decisions are not on: a token without {TOOL_SCOPE} got {refused!r:.200}")
    if policy_effect(off.call("jwt_narrow")) != "Allow":
        raise WorkerError("the cached design refused a token with the base scope (it decides on that alone)")
    answer = handler.startup.response if handler.startup else None
    body = str(answer.get("body", "")) if isinstance(answer, dict) else ""
    if not isinstance(answer, dict) or answer.get("statusCode") != 200 or '"isError":false' not in body:
        raise WorkerError(f"the MCP handler did not answer the tools/call: {str(answer)[:200]}")


def billed_ms(samples: Sequence[int]) -> int:
    """The median invocation's billed duration (rounded up to the next ms, as Lambda bills).

    The median, not the mean: the tail here is this shared machine's noise, not Lambda's (p99 is
    shown beside it).
    """
    return cost_model.billed_ms(Summary.of(samples).median_ns)


def memory_settings() -> tuple[int, int]:
    """The functions' configured memory (MB), from the stack's own defaults: authorizer, MCP."""
    from infra.config import StackConfig

    config = StackConfig()
    return config.authorizer_memory_mb, config.mcp_memory_mb


def render(results: DesignResults, plan: DesignPlan) -> list[str]:
    lines = [
        "## Authorizer design: TTL 0 (per-tool decisions) vs TTL 300 (cached), side by side",
        "",
        "TTL 0 (`AUTHORIZER_CACHE_TTL_SECONDS=0`, the default): API Gateway runs the authorizer on every "
        "request; it decides per tool from the 2026-07-28 routing headers, so the step-up 403 comes from the "
        "gateway. TTL 300 (the previous design): one authorizer run per Authorization header per 300 s, a "
        "base-scope decision, cached for every tool. The trade-off and the choice: "
        "[docs/authorizer-design.md](../docs/authorizer-design.md).",
        "",
        "### End to end through the local stack",
        "",
    ]
    lines += end_to_end_lines(results, plan)
    lines += ["", "### The authorizer's own duration per decision (what Lambda bills)", ""]
    lines += decision_lines(results, plan)
    lines += ["", "### Cost per million requests", ""]
    lines += cost_lines(results)
    lines += ["", "### What this run cannot measure", "", *LIMITS]
    return lines


def end_to_end_lines(results: DesignResults, plan: DesignPlan) -> list[str]:
    if results.end_to_end_problem is not None:
        return [f"Not measured: {results.end_to_end_problem}"]
    lines = [
        f"Two local stacks running at once (two processes: uvicorn → gateway emulator → authorizer → MCP "
        f"handler), the same `tools/call` of `{TOOL}` (it declares `{TOOL_SCOPE}`), sent sequentially over "
        f"one keep-alive connection per stack; the 8 series interleaved in batches of {plan.stack_batch}, "
        f"order rotating each round, {plan.stack_warmup} warm-up requests each. After its warm-up the TTL "
        "300 stack answers every request from its authorizer cache: the cached design's best case. What "
        "TTL 0 adds is one authorizer run as the emulator makes it (the REQUEST event built, the handler "
        "invoked on its own thread like a separate function, the policy read back), a local stand-in for "
        "the Lambda invoke it costs on AWS.",
        "",
        "| client | credential | TTL 0 median | TTL 0 p99 | TTL 300 median | TTL 300 p99 | n "
        "| TTL 0 / TTL 300 | added by TTL 0 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for generation in CLIENTS:
        headers = "Mcp-Method/Mcp-Name" if generation == MODERN_VERSION else "no routing headers"
        client = f"{generation} ({headers})"
        for credential, label in CREDENTIALS:
            per_tool = Summary.of(results.end_to_end[(PER_TOOL_TTL, generation, credential)])
            cached = Summary.of(results.end_to_end[(CACHED_TTL, generation, credential)])
            lines.append(
                f"| {client} | {label} | {duration(per_tool.median_ns)} | {duration(per_tool.p99_ns)} "
                f"| {duration(cached.median_ns)} | {duration(cached.p99_ns)} | {per_tool.n} "
                f"| {times(ratio(per_tool.median_ns, cached.median_ns))} "
                f"| {duration(per_tool.median_ns - cached.median_ns)} |"
            )
    return lines


def decision_lines(results: DesignResults, plan: DesignPlan) -> list[str]:
    if results.decisions_problem is not None:
        return [f"Not measured: {results.decisions_problem}"]
    lines = [
        "`app.authorizer.handler.handler` on a REQUEST-authorizer event of a 2026-07-28 `tools/call` of "
        f"`{TOOL}` (routing headers present), in a warm worker each: per-tool decisions on "
        f"(`TOOL_SCOPES_FILE`, TTL 0) and off (TTL {CACHED_TTL}); audit line included, JWKS and key store "
        "cached; "
        f"{plan.auth_rounds} rounds of {plan.auth_batch}, the series interleaved. Billed: the median "
        "invocation's duration rounded up to the next millisecond, as Lambda bills.",
        "",
        "| credential | per-tool on: median | p99 | per-tool off: median | p99 | n | on / off "
        "| billed on / off |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for credential, label in CREDENTIALS:
        on_samples = results.decisions[(True, credential)]
        off_samples = results.decisions[(False, credential)]
        on, off = Summary.of(on_samples), Summary.of(off_samples)
        lines.append(
            f"| {label} | {duration(on.median_ns)} | {duration(on.p99_ns)} | {duration(off.median_ns)} "
            f"| {duration(off.p99_ns)} | {on.n} | {times(ratio(on.median_ns, off.median_ns))} "
            f"| {billed_ms(on_samples)} ms / {billed_ms(off_samples)} ms |"
        )
    mcp = Summary.of(results.mcp)
    lines += [
        "",
        f"For the cost model, the MCP handler (`app.mcp.handler`) on the same call, same rounds: median "
        f"{duration(mcp.median_ns)}, p99 {duration(mcp.p99_ns)}, n {mcp.n}, "
        f"billed {billed_ms(results.mcp)} ms.",
    ]
    return lines


def cost_inputs(results: DesignResults) -> CostModel:
    """Billed durations from this run: the slower credential's, per design."""
    authorizer_mb, mcp_mb = memory_settings()

    def billed(per_tool: bool) -> int:
        return max(billed_ms(results.decisions[(per_tool, credential)]) for credential, _ in CREDENTIALS)

    return CostModel(
        per_tool=Function(authorizer_mb, billed(True)),
        cached=Function(authorizer_mb, billed(False)),
        mcp=Function(mcp_mb, billed_ms(results.mcp)),
    )


def cost_lines(results: DesignResults) -> list[str]:
    if results.decisions_problem is not None:
        return ["Not computed: it needs the billed durations above."]
    model = cost_inputs(results)
    lines = [
        f"AWS list prices, {cost_model.PRICE_REGION}, on-demand, first volume tier, no free tier, as of "
        f"{cost_model.PRICES_AS_OF}: Lambda arm64 ${cost_model.LAMBDA_USD_PER_MILLION_REQUESTS:.2f} per "
        f"million requests + ${cost_model.LAMBDA_ARM64_USD_PER_GB_SECOND:.10f} per GB-second "
        f"({cost_model.LAMBDA_PRICING_URL}), billed per 1 ms; API Gateway REST "
        f"${cost_model.REST_API_USD_PER_MILLION_REQUESTS:.2f} per million requests "
        f"({cost_model.API_GATEWAY_PRICING_URL}). Inputs from this run and `infra/config.py`: authorizer "
        f"{model.per_tool.memory_mb} MB, billed {model.per_tool.billed_ms} ms (per-tool on) / "
        f"{model.cached.billed_ms} ms (off) → ${model.per_tool.usd_per_million:.4f} / "
        f"${model.cached.usd_per_million:.4f} per million invocations; MCP Lambda {model.mcp.memory_mb} MB, "
        f"billed {model.mcp.billed_ms} ms → ${model.mcp.usd_per_million:.4f} per million. The same in both "
        f"designs: API Gateway + MCP Lambda = **${model.path_usd:.4f} per million requests**.",
        "",
        "| requests per token per TTL window | TTL 300: authorizer runs per 1M requests "
        "| TTL 300: authorizer $ per 1M | TTL 0: authorizer $ per 1M | TTL 0 adds $ per 1M "
        "| … of API Gateway + MCP Lambda |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in model.rows():
        lines.append(
            f"| {row.requests_per_window:,} | {row.cached_invocations:,.0f} | {row.cached_usd:.4f} "
            f"| {row.per_tool_usd:.4f} | {row.added_usd:.4f} | {row.added_share:.1%} |"
        )
    lines += [
        "",
        f"Each further billed millisecond of every authorizer run would add "
        f"${model.usd_per_extra_billed_ms():.4f} per million requests under TTL 0 "
        f"({model.usd_per_extra_billed_ms() / model.path_usd:.2%} of API Gateway + MCP Lambda): the request "
        "charge, not the duration, is what TTL 0 adds. A step-up refusal costs less under TTL 0: the gateway "
        "answers it after the authorizer, so no MCP Lambda runs, and API Gateway does not charge requests "
        "that fail authorization (AWS re:Post, https://repost.aws/questions/QU5y4fo-e3RWyU5r4VmyPIzA); "
        "under TTL 300 the MCP Lambda runs to refuse.",
    ]
    return lines


LIMITS: Final = [
    "- The network hop API Gateway → authorizer Lambda on AWS: here the emulator calls the handler "
    "in-process, so TTL 0's added latency above is the authorizer's work only. On AWS every TTL 0 request "
    "adds one Lambda invoke. No AWS document gives a figure for it; the stack's access log records it per "
    "request as `authorizerLatency` (`$context.authorizer.latency`, https://docs.aws.amazon.com/apigateway/"
    "latest/developerguide/api-gateway-variables-for-access-logging.html): compare it with the "
    "authorizer's own `Duration` in its REPORT lines after deploying.",
    "- Lambda's CPU: the authorizer's 512 MB get about 0.29 of a vCPU (1,769 MB = one vCPU, "
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), on arm64; durations here are "
    "this x86 machine's. The billed durations above are a floor for Lambda's: a longer MCP Lambda makes "
    "TTL 0's share smaller, and each further billed authorizer millisecond adds what is said above.",
    "- Cold starts: TTL 0 runs the authorizer more often, so more of its containers are needed at a given "
    "request rate, and each one's INIT is billed (ZIP functions on managed runtimes since 1 August 2025, "
    "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/). Its cold start "
    "is in the Authorizer section of `bench/results.md`.",
]


def authorizer_python(quick: bool, progress: Progress) -> Path:
    """The functions' runtime-only virtualenv; `--quick` falls back to this venv rather than build it."""
    env = ours_env()
    if is_current(env):
        return env.python
    if quick:
        progress("  (--quick: bench/.envs/ours not built; using the project venv)")
        return Path(sys.executable)
    progress(f"building virtualenv bench/.envs/{env.name} …")
    return ensure_env(env, LOGS_DIR / f"env-{env.name}.log")


def main(argv: list[str] | None = None) -> int:
    section = Section(
        module="bench.authorizer_design",
        description=__doc__.splitlines()[0] if __doc__ else "",
        title="the authorizer design, TTL 0 (per-tool) vs TTL 300 (cached)",
        caveat=(
            "a shared, noisy 2-core machine, not Lambda. Absolute times are this machine's; the ratios "
            "(every figure from this one run, series interleaved) are what carries over."
        ),
        results=RESULTS,
        quick_results=QUICK_RESULTS,
    )
    return run_section(section, planned(FULL, QUICK, measure, render), argv)


if __name__ == "__main__":
    sys.exit(main())
