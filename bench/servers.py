"""Side by side: the authorizer's decision with several servers and tenants vs one server, no tenant.

    python -m bench.servers [--rounds N] [--batch M] [--write]

Issue 14 asks that the authorizer decide with several MCP servers and tenants "no slower than
today's within noise". Two configurations of the real handler (`app.authorizer.handler.handler`:
event → decision → policy document → audit line), in one process, on the same kind of event (a
2026-07-28 `tools/call` REQUEST-authorizer event, routing headers present, TTL 0 so decisions are
per tool), with real RS256 tokens from an in-process issuer (JWKS cached after the warm-up):

- today: the single-server tool-scopes document (version 1), `MULTI_TENANT` off, a token whose
  `aud` is the MCP URL, `whoami` at `/mcp`;
- several: the registry's version-2 document (every server), `MULTI_TENANT=true` (tenant from
  the `tenant` claim), a token for every server (`aud` a list) with a tenant, `define` at
  `/research/mcp`: the decision checks the tenant, maps the audiences to servers, decides the tool
  at each server the token may call and lists each one's resources in the policy.

The two series alternate in batches (the order swapped every round), so a burst of load from the
shared machine lands on both. Also timed: `Gatekeeper.decide` alone, without the policy and audit
line. Audit lines go to a null stream. `--write` replaces this section of bench/results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.report import TIMES

RESULTS: Final = Path(__file__).with_name("results.md")
# (rounds, batch) for `make bench` and `make bench --quick`; `python -m bench.servers` takes its own.
FULL: Final = (40, 50)
QUICK: Final = (3, 10)
SECTION: Final = "## Several servers and tenants (issue 14): the authorizer's decision side by side"
MCP_URL: Final = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/mcp"
RESEARCH_URL: Final = MCP_URL.removesuffix("/mcp") + "/research/mcp"
ISSUER: Final = "https://issuer.bench.example"


@dataclass(frozen=True)
class Series:
    name: str
    run: Callable[[], Any]


def _null_audit() -> None:
    from app.core import audit

    audit.trail.stream = io.StringIO()  # replaced each batch (below) so it never grows large


def _setup() -> list[Series]:
    # The handler module builds its own gatekeeper at import (a cold start): give it a valid URL.
    os.environ.setdefault("MCP_URL", MCP_URL)
    from app.authorizer import handler as authorizer
    from app.authorizer.gatekeeper import Gatekeeper
    from app.core.config import SettingsSource
    from app.mcp.server import build_server
    from app.mcp.tool_scopes_export import server_table
    from devtools.dev_issuer import DevIssuer
    from devtools.events import request_authorizer_event

    issuer = DevIssuer(ISSUER)
    folder = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    single_doc = folder / "single.json"
    single_doc.write_text(json.dumps({"version": 1, **build_server().requirements.tool_scopes().to_json()}))
    multi_doc = folder / "multi.json"
    multi_doc.write_text(json.dumps(server_table().to_json()))
    base = {
        **os.environ,
        "MCP_URL": MCP_URL,
        "OAUTH_ISSUER": ISSUER,
        "AUTHORIZER_CACHE_TTL_SECONDS": "0",
    }
    for name in ("MCP_URL_PARAMETER", "AUTH_SETTINGS_PARAMETER", "API_KEYS_SECRET_ID", "USAGE_KEY_IDS"):
        base.pop(name, None)
    today_env = {**base, "TOOL_SCOPES_FILE": str(single_doc), "MULTI_TENANT": "false"}
    several_env = {**base, "TOOL_SCOPES_FILE": str(multi_doc), "MULTI_TENANT": "true"}
    keepers = {
        "today": Gatekeeper(SettingsSource(env=today_env), fetch_json=issuer.fetch_json),
        "several": Gatekeeper(SettingsSource(env=several_env), fetch_json=issuer.fetch_json),
    }
    every_scope = sorted({"mcp/access", *server_table().all_scopes()})
    # One token for both configurations, so the comparison is the authorizer's work alone: it
    # names both servers and a tenant (today's configuration accepts it: its aud list holds the
    # MCP URL, and the tenant claim is only read with MULTI_TENANT on). Today's usual token
    # (one audience, no tenant) is timed beside it, to show what the longer token costs.
    long_token = issuer.mint(
        audience=[MCP_URL, RESEARCH_URL], scopes=every_scope, expires_in=3600, extra_claims={"tenant": "acme"}
    )
    short_token = issuer.mint(audience=MCP_URL, scopes=every_scope, expires_in=3600)

    def event(token: str, path: str, tool: str) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Mcp-Method": "tools/call",
            "Mcp-Name": tool,
            "MCP-Protocol-Version": "2026-07-28",
        }
        return request_authorizer_event("POST", path, headers=headers)

    events = {
        "today": event(long_token, "/mcp", "whoami"),
        "several": event(long_token, "/research/mcp", "define"),
        "today-short": event(short_token, "/mcp", "whoami"),
    }
    keepers["today-short"] = keepers["today"]

    def handler_series(name: str) -> Callable[[], Any]:
        keeper, event = keepers[name], events[name]

        def run() -> Any:
            authorizer.gatekeeper = keeper
            return authorizer.handler(event, None)

        return run

    def decide_series(name: str) -> Callable[[], Any]:
        keeper, event = keepers[name], events[name]

        def run() -> Any:
            request = authorizer.AuthorizerRequest.from_event(event, per_tool=True)
            return keeper.decide(request.authorization, request.target, request.path)

        return run

    # Checked before timing: all are allowed, the several-servers one lists both servers.
    for name in ("today", "several"):
        keepers[name].check_configuration()
    for name in events:
        response = handler_series(name)()
        assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow", response
        assert decide_series(name)().allowed
    several = handler_series("several")()
    assert several["context"]["servers"] == "main research"
    assert several["context"]["tenant"] == "acme"
    series = [
        Series("handler, today (1 server, no tenant)", handler_series("today")),
        Series("handler, several servers + tenant", handler_series("several")),
        Series("decide, today (1 server, no tenant)", decide_series("today")),
        Series("decide, several servers + tenant", decide_series("several")),
        Series("decide, today, today's shorter token", decide_series("today-short")),
    ]
    return series


def measure(rounds: int, batch: int) -> dict[str, list[float]]:
    # The audit trail's EMF metrics go to stdout whatever its stream: to /dev/null while timing.
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        return _measure(rounds, batch)


def _measure(rounds: int, batch: int) -> dict[str, list[float]]:
    _null_audit()
    series = _setup()
    samples: dict[str, list[float]] = {s.name: [] for s in series}
    for s in series:  # warm-up: JWKS fetched, settings parsed, code paths warm
        for _ in range(50):
            s.run()
    for round_index in range(rounds):
        order = series if round_index % 2 == 0 else list(reversed(series))
        for s in order:
            _null_audit()
            for _ in range(batch):
                started = time.perf_counter_ns()
                s.run()
                samples[s.name].append((time.perf_counter_ns() - started) / 1000)
    return samples


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def render(samples: dict[str, list[float]], rounds: int, batch: int) -> list[str]:
    names = list(samples)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = {
        names[0]: names[0],
        names[1]: names[0],
        names[2]: names[2],
        names[3]: names[2],
        names[4]: names[2],
    }
    lines = [
        SECTION,
        "",
        "`make bench` (or `python -m bench.servers` alone): the authorizer handler "
        "(`app.authorizer.handler.handler`: event → decision → policy → audit line) and "
        "`Gatekeeper.decide` alone, in one warm process, TTL 0 (per-tool decisions), RS256, JWKS cached. "
        "*today*: the single-server tool-scopes document (version 1), `MULTI_TENANT` off, `tools/call` "
        "of `whoami` at `/mcp`. *several*: the registry's version-2 document (main and research), "
        "`MULTI_TENANT=true`, `tools/call` of `define` at `/research/mcp`: the tenant checked, the "
        "token's audiences mapped to servers, the tool decided at each server the token may call, a "
        "policy listing both servers' resources (3 verbs each). Both use the same token (every scope, "
        "`aud` = both servers' URLs, a `tenant` claim); today's usual shorter token (one `aud`, no "
        "tenant) is timed too. "
        f"{rounds} rounds of {batch} per series, the series alternating (order reversed every other round).",
        "",
        f"| series | median | p99 | n | {TIMES} today |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        lines.append(
            f"| {name} | {medians[name]:.1f} µs | {_p99(samples[name]):.1f} µs | {len(samples[name])} "
            f"| {medians[name] / medians[baseline[name]]:.2f}{TIMES} |"
        )
    handler_ratio = medians[names[1]] / medians[names[0]]
    decide_ratio = medians[names[3]] / medians[names[2]]
    token_ratio = medians[names[2]] / medians[names[4]]
    lines += [
        "",
        f"With the same token, several servers and a tenant cost the whole handler "
        f"{handler_ratio:.2f}{TIMES} today's and the decision {decide_ratio:.2f}{TIMES}. "
        "The token itself is what a client of "
        f"several servers pays for: two audiences and a tenant claim make the decision "
        f"{token_ratio:.2f}{TIMES} the shorter token's, PyJWT's per-character base64 check growing with "
        "the token's length (bench/PROFILE.md); a token for one server (what the front issues) is as "
        "short as today's plus its tenant claim.",
        "",
    ]
    return lines


def write(lines: list[str]) -> None:
    text = RESULTS.read_text(encoding="utf-8")
    start = text.find(SECTION)
    if start < 0:
        notes = text.find("\n## Notes")
        insert_at = notes + 1 if notes >= 0 else len(text)
        text = text[:insert_at] + "\n".join(lines) + "\n" + text[insert_at:]
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + "\n".join(lines) + (text[end:] if end >= 0 else "\n")
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="replace this section of bench/results.md")
    args = parser.parse_args(argv)
    samples = measure(args.rounds, args.batch)
    lines = render(samples, args.rounds, args.batch)
    print("\n".join(lines))
    if args.write:
        write(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
