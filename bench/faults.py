"""Faults survived on purpose (issue 13 §3): a bounded loopback load run with faults injected.

    python -m bench.faults            # full run (about 100 s of load) → bench/.envs/faults.md
    python -m bench.faults --quick    # smoke run (about 30 s)        → bench/.envs/faults-quick.md

Also a section of `make bench`, and, in short, an end-to-end test (`tests/e2e/test_faults.py`).
A fault stack (`python -m devtools.faults`: the local stack `make dev` runs, with SSM, Secrets
Manager and the issuer's JWKS behind switchable proxies) serves `WORKERS` client threads that
send `tools/call add` with random operands over keep-alive loopback connections, without pause,
while a driver walks through the plan's steps: each fault for a few seconds, then a recovery
window, with the local AWS restarted near the end.

Every answer is classified: `answered` (200 with the right sum), `refused` (401/403, the
gateway's challenge), the documented 503 (the MCP function could not read its settings,
`Retry-After` set), any other 5xx by status and message, a `wrong answer` (200 whose result is
not the sum: must be 0) and, for the forged requests mixed in (a wrong API key secret, an unknown
key, JWTs signed by a foreign key, tampered, `alg: none`, HS256, no
credential), `forged admitted` (any 200: must be 0). Refusals are joined with the authorizer's
audit events (shipped to the stack's moto CloudWatch Logs) by API Gateway request id, so each
step lists the reasons the audit trail gives. Nothing here asserts a time; the figures are counts.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.layout import ENVS_DIR, LOGS_DIR, REPO_ROOT, worker_env
from bench.machine import machine_line
from devtools.cli import machine_token
from devtools.faults import API_KEYS_CACHE_SECONDS, CONFIG_CACHE_SECONDS, FaultControl, local_client
from devtools.local_stack import StackStartError, stack_subprocess

Progress = Callable[[str], None]

RESULTS: Final = ENVS_DIR / "faults.md"
QUICK_RESULTS: Final = ENVS_DIR / "faults-quick.md"
START_TIMEOUT_S: Final = 120.0
BASE_SCOPE: Final = "mcp/access"
MCP_HEADERS: Final = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}

VALID_KINDS: Final = ("api_key", "jwt_new_kid", "jwt_known_kid")
FORGED_KINDS: Final = (
    "api_key_wrong_secret",
    "api_key_unknown",
    "jwt_foreign_key",
    "jwt_tampered",
    "jwt_alg_none",
    "jwt_hs256",
    "no_credential",
)
# One round of a worker: the valid kinds twice, one forged kind (each in turn).
VALID_ROUND: Final = (*VALID_KINDS, *VALID_KINDS)

ANSWERED, REFUSED, DOCUMENTED_503 = "answered", "refused", "503 (documented)"
WRONG, FORGED_ADMITTED = "wrong answer", "forged admitted"


@dataclass(frozen=True)
class Step:
    """`seconds` of load with `fault` at `target` (both None: no fault)."""

    target: str | None
    fault: str | None
    seconds: float

    @property
    def name(self) -> str:
        if self.target is None:
            return "no fault"
        if self.target == "moto":
            return "local AWS down (moto stopped, then restarted)"
        if self.target == "key_store":
            return f"key store secret corrupted: {self.fault.replace('_', ' ') if self.fault else ''}"
        return f"{self.target} {self.fault}"


@dataclass(frozen=True)
class FaultPlan:
    quick: bool
    workers: int
    steps: tuple[Step, ...]

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)


def _with_recovery(faults: Sequence[tuple[str, str]], fault_s: float, recovery_s: float) -> tuple[Step, ...]:
    steps: list[Step] = []
    for target, fault in faults:
        steps += [Step(target, fault, fault_s), Step(None, None, recovery_s)]
    return tuple(steps)


EVERY_FAULT: Final = (
    ("jwks", "refuse"),
    ("jwks", "slow"),
    ("jwks", "not_json"),
    ("jwks", "wrong_key_type"),
    ("secretsmanager", "refuse"),
    ("secretsmanager", "throttle"),
    ("ssm", "refuse"),
    ("ssm", "throttle"),
    ("key_store", "not_json"),
    ("key_store", "wrong_shape"),
    ("moto", "restart"),
)
FULL: Final = FaultPlan(
    quick=False,
    workers=6,
    steps=(Step(None, None, 6), *_with_recovery(EVERY_FAULT, 5, 4), Step(None, None, 4)),
)
QUICK: Final = FaultPlan(
    quick=True,
    workers=4,
    steps=(
        Step(None, None, 2),
        *_with_recovery(
            (
                ("jwks", "refuse"),
                ("ssm", "throttle"),
                ("secretsmanager", "refuse"),
                ("key_store", "not_json"),
            ),
            2.5,
            3,
        ),
        Step("moto", "restart", 3),
        Step(None, None, 4),
        Step(None, None, 3),
    ),
)


# --- credentials, valid and forged -------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segments(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def forged_jwts(genuine: str) -> dict[str, str]:
    """JWTs built from a genuine token's header and claims that no honest authorizer admits.

    Keys are made here, at run time: a foreign RSA key signing under the issuer's `kid`; the
    genuine signature over a payload whose scope was widened; `alg: none`; and HS256 (a
    symmetric algorithm the authorizer never accepts, whatever key signed it).
    """
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    widened = {**claims, "scope": f"{claims.get('scope', '')} mcp/profile mcp/upstream".strip()}
    header_part, _, rest = genuine.partition(".")
    signature = rest.rpartition(".")[2]
    hs_input = _segments({**header, "alg": "HS256"}, claims)
    hs_signature = _b64(hmac.new(secrets.token_bytes(32), hs_input.encode(), hashlib.sha256).digest())
    return {
        "jwt_foreign_key": jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": header.get("kid")}),
        "jwt_tampered": f"{header_part}.{_b64(json.dumps(widened).encode())}.{signature}",
        "jwt_alg_none": _segments({**header, "alg": "none"}, claims) + ".",
        "jwt_hs256": f"{hs_input}.{hs_signature}",
    }


def forged_api_keys(genuine: str) -> dict[str, str]:
    """`mcpk_<key id>_<secret>` with the right key id and a wrong secret, and an unknown key id."""
    prefix, key_id, _ = genuine.split("_", 2)
    return {
        "api_key_wrong_secret": f"{prefix}_{key_id}_{secrets.token_urlsafe(32)}",
        "api_key_unknown": f"{prefix}_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}",
    }


class Credentials:
    """What each kind of request sends; the new-kid JWT and its forgeries change when the issuer rotates."""

    def __init__(self, stack: Mapping[str, Any], known_jwt: str) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self._values: dict[str, str | None] = {
            "api_key": str(stack["api_key"]),
            "jwt_known_kid": known_jwt,
            "no_credential": None,
            **forged_api_keys(str(stack["api_key"])),
        }
        self._use_new_token(known_jwt)

    def _use_new_token(self, token: str) -> None:
        with self._lock:
            self._values.update({"jwt_new_kid": token, **forged_jwts(token)})

    def rotated(self, control: FaultControl) -> None:
        """The issuer signs with a new key from now on: the new-kid JWTs are signed with it."""
        control.rotate_issuer_key()
        self._use_new_token(machine_token(self._stack, [BASE_SCOPE]))

    def __getitem__(self, kind: str) -> str | None:
        with self._lock:
            return self._values[kind]


# --- one request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    step: int
    kind: str
    outcome: str
    request_id: str | None


def classify(kind: str, response: httpx2.Response | None, expected: float, error: Exception | None) -> str:
    """What became of one request, from the client's side (see the module docstring)."""
    if response is None:
        return f"no answer ({type(error).__name__})"
    status = response.status_code
    if status == 200:
        if kind in FORGED_KINDS:
            return FORGED_ADMITTED
        try:
            result = response.json()["result"]
            right = not result["isError"] and result["structuredContent"]["result"] == expected
        except (ValueError, KeyError, TypeError):
            right = False
        return ANSWERED if right else WRONG
    if status in (401, 403):
        return REFUSED
    if status == 503 and response.headers.get("retry-after"):
        return DOCUMENTED_503
    if status >= 500:
        try:
            message = str(response.json().get("message") or response.json().get("error", {}).get("message"))
        except ValueError:
            message = response.text[:60]
        return f"{status} {message}"
    return f"unexpected {status}"


def _send(client: httpx2.Client, url: str, kind: str, credentials: Credentials) -> tuple[str, str | None]:
    a, b = random.randint(0, 10**6), random.randint(0, 10**6)  # noqa: S311 - operands, not secrets
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": a, "b": b}},
    }
    credential = credentials[kind]
    headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {credential}"} if credential else {})}
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx2.HTTPError as error:
        return classify(kind, None, a + b, error), None
    return classify(kind, response, a + b, None), response.headers.get("x-amzn-RequestId")


# --- the run -----------------------------------------------------------------------------------


@dataclass
class LoadResults:
    plan: FaultPlan
    records: list[Record] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # request id → the authorizer's (or MCP's) reason
    proxy_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None

    def outcomes(self, step: int | None = None, kinds: Sequence[str] | None = None) -> Counter[str]:
        return Counter(
            r.outcome
            for r in self.records
            if (step is None or r.step == step) and (kinds is None or r.kind in kinds)
        )

    def refusal_reasons(self, step: int, kinds: Sequence[str] | None = None) -> Counter[str]:
        return Counter(
            self.reasons.get(r.request_id or "", "no audit event")
            for r in self.records
            if r.step == step
            and r.outcome in (REFUSED, DOCUMENTED_503)
            and (kinds is None or r.kind in kinds)
        )

    def unsafe(self) -> Counter[str]:
        """What must never happen: wrong answers, forged admissions, undocumented 5xx, no answer."""
        return Counter(
            {
                outcome: count
                for outcome, count in self.outcomes().items()
                if outcome not in (ANSWERED, REFUSED, DOCUMENTED_503)
            }
        )


class _Faults:
    """Enters and leaves each step's fault."""

    def __init__(self, stack: Mapping[str, Any], control: FaultControl, credentials: Credentials) -> None:
        self._control, self._credentials = control, credentials
        self._secret_id = str(stack["api_keys_secret_id"])
        self._secrets = local_client("secretsmanager", str(stack["aws_endpoint"]))
        self._good_store = str(self._secrets.get_secret_value(SecretId=self._secret_id)["SecretString"])

    def enter(self, step: Step) -> None:
        if step.target == "moto":
            self._control.stop_moto()
        elif step.target == "key_store":
            corrupted = (
                "{not json" if step.fault == "not_json" else '{"version": 1, "keys": {"everyone": true}}'
            )
            self._secrets.put_secret_value(SecretId=self._secret_id, SecretString=corrupted)
        elif step.target is not None:
            self._control.set(step.target, step.fault)
            if step.target == "jwks":
                # After the fault is on: the authorizer meets the new kid only through the faulty JWKS.
                self._credentials.rotated(self._control)

    def leave(self, step: Step) -> None:
        if step.target == "moto":
            self._control.start_moto()
        elif step.target == "key_store":
            self._secrets.put_secret_value(SecretId=self._secret_id, SecretString=self._good_store)
        elif step.target is not None:
            self._control.set(step.target, None)


def run_load(stack: Mapping[str, Any], state_dir: Path, plan: FaultPlan, progress: Progress) -> LoadResults:
    """Drive `plan` against a running fault stack (`stack`: its credentials.json)."""
    control = FaultControl.of(state_dir)
    control.clear()
    control.start_moto()
    results = LoadResults(plan)
    known = _known_token(stack)
    credentials = Credentials(stack, known)
    faults = _Faults(stack, control, credentials)
    current = [0]
    stop = threading.Event()
    url = str(stack["mcp_url"])

    def worker(offset: int) -> None:
        with httpx2.Client(timeout=30) as client:
            round_ = offset
            while not stop.is_set():
                kinds = (*VALID_ROUND, FORGED_KINDS[round_ % len(FORGED_KINDS)])
                for kind in kinds:
                    step = current[0]
                    outcome, request_id = _send(client, url, kind, credentials)
                    results.records.append(Record(step, kind, outcome, request_id))
                round_ += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(plan.workers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        for index, step in enumerate(plan.steps):
            progress(f"faults: step {index + 1}/{len(plan.steps)}: {step.name} ({step.seconds:g} s)")
            current[0] = index
            faults.enter(step)
            try:
                time.sleep(step.seconds)
                if step.target is not None:
                    _hold_until_felt(results, index)
            finally:
                faults.leave(step)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        control.clear()
        control.start_moto()
    results.seconds = time.monotonic() - started
    results.proxy_counts = control.state()["counts"]
    results.reasons = _audit_reasons(stack, {r.request_id for r in results.records if r.request_id})
    return results


def _hold_until_felt(results: LoadResults, step: int, refusals: int = 3, most_s: float = 30) -> None:
    """Keep a fault on until valid requests have met it (`refusals` refused), for at most `most_s`.

    A fault is felt only once the caches in front of it have aged (settings 2 s, key store 1 s
    here) and a request has arrived since: on a loaded machine that can take longer than the
    step's planned time. Holding the fault until it is felt keeps every run's steps comparable
    instead of letting a slow run pass a fault that nobody met.
    """
    deadline = time.monotonic() + most_s
    while time.monotonic() < deadline:
        felt = sum(
            1
            for record in list(results.records)
            if record.step == step
            and record.kind in VALID_KINDS
            and record.outcome in (REFUSED, DOCUMENTED_503)
        )
        if felt >= refusals:
            return
        time.sleep(0.2)


def _known_token(stack: Mapping[str, Any]) -> str:
    """A token whose key the authorizer holds: it answered one request before any fault."""
    token = machine_token(stack, [BASE_SCOPE])
    deadline = time.monotonic() + 30
    with httpx2.Client(timeout=30) as client:
        credentials_probe = {"Authorization": f"Bearer {token}", **MCP_HEADERS}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        while client.post(str(stack["mcp_url"]), json=body, headers=credentials_probe).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the fault stack does not accept a fresh dev-issuer token")
            time.sleep(0.5)
    return token


def _audit_reasons(stack: Mapping[str, Any], request_ids: set[str], wait_s: float = 15) -> dict[str, str]:
    """Request id → the reason the audit trail gives (the authorizer's, else the MCP function's)."""
    logs = local_client("logs", str(stack["aws_endpoint"]))
    deadline = time.monotonic() + wait_s
    reasons: dict[str, str] = {}
    while True:
        seen: set[str] = set()
        kwargs: dict[str, Any] = {"logGroupName": stack["audit_log_group"]}
        while True:
            page = logs.filter_log_events(**kwargs)
            for event in page["events"]:
                record = json.loads(event["message"])
                request_id = record.get("request_id")
                if request_id not in request_ids:
                    continue
                seen.add(request_id)
                if record.get("reason") and (
                    record.get("source") == "authorizer" or request_id not in reasons
                ):
                    reasons[request_id] = str(record["reason"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        # The stack ships every 0.5 s, and keeps what the restarted AWS refused for later.
        if seen >= request_ids or time.monotonic() > deadline:
            return reasons
        time.sleep(1)


# --- the stack, in its own process ------------------------------------------------------------


@contextmanager
def fault_stack(state_dir: Path) -> Iterator[dict[str, Any]]:
    """`python -m devtools.faults` in its own process until the `with` ends; its credentials."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("credentials.json", "faults.json"):
        (state_dir / stale).unlink(missing_ok=True)
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in worker_env().items() if not key.startswith(("MCP_", "OAUTH_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    command = [sys.executable, "-m", "devtools.faults", "--state-dir", str(state_dir)]
    log_path = LOGS_DIR / "fault-stack.log"
    with stack_subprocess(command, state_dir, "credentials.json", env=env, log_path=log_path):
        yield json.loads((state_dir / "credentials.json").read_text())


def measure(plan: FaultPlan, progress: Progress) -> LoadResults:
    state_dir = ENVS_DIR / "fault-stack"
    try:
        with fault_stack(state_dir) as stack:
            return run_load(stack, state_dir, plan, progress)
    except (StackStartError, RuntimeError, OSError, httpx2.HTTPError) as error:
        return LoadResults(plan, problem=f"{type(error).__name__}: {error}")


# --- the report --------------------------------------------------------------------------------


def _count(counter: Mapping[str, int], *outcomes: str) -> int:
    return sum(counter.get(outcome, 0) for outcome in outcomes)


def _other_5xx(counter: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in counter.items() if k[:1] == "5" and k != DOCUMENTED_503}


def _reasons_text(reasons: Counter[str]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in reasons.most_common()) or "—"


def summary_rows(results: LoadResults) -> list[str]:
    """The totals: one row per credential class, then all requests."""
    lines = [
        "| requests | n | answered right | refused (401/403) | 503 (documented) | other 5xx | wrong answers "
        "| forged admitted | no answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, kinds in (("valid credentials", VALID_KINDS), ("forged or none", FORGED_KINDS), ("all", None)):
        counter = results.outcomes(kinds=kinds)
        other = sum(_other_5xx(counter).values())
        no_answer = sum(v for k, v in counter.items() if k.startswith("no answer"))
        lines.append(
            f"| {label} | {sum(counter.values()):,} | {counter[ANSWERED]:,} | {counter[REFUSED]:,} "
            f"| {counter[DOCUMENTED_503]:,} | {other:,} | {counter[WRONG]:,} | {counter[FORGED_ADMITTED]:,} "
            f"| {no_answer:,} |"
        )
    return lines


def render(results: LoadResults, plan: FaultPlan) -> list[str]:
    lines = [
        "## Faults survived on purpose (issue 13): a loopback load run with faults injected",
        "",
        f"`python -m bench.faults` against a fault stack (`python -m devtools.faults`: the local stack with "
        f"SSM, Secrets Manager and the dev issuer's JWKS behind switchable proxies; settings cached "
        f"{CONFIG_CACHE_SECONDS} s, key store {API_KEYS_CACHE_SECONDS} s, JWKS fetch timeout 1 s, refresh "
        f"interval 2 s), {plan.workers} client threads sending `tools/call add` with random operands without "
        "pause, each round the three valid credentials twice (an API key; a JWT signed with the issuer's "
        "newest key, rotated at the start of each JWKS fault; a JWT whose key the authorizer already holds) "
        "and one forged request in turn (a wrong API key secret, an unknown key, JWTs signed by a foreign "
        "key, tampered, `alg: none`, HS256, no credential). Each fault lasts a "
        "few seconds and is followed by a recovery window; the local AWS is stopped and restarted near "
        "the end. Refusal reasons are the authorizer's audit events, joined by request id.",
        "",
    ]
    if results.problem:
        return [*lines, f"Not measured: {results.problem}", ""]
    unsafe = results.unsafe()
    lines += [
        f"{sum(results.outcomes().values()):,} requests in {results.seconds:.0f} s. Must be 0: wrong answers "
        f"{results.outcomes()[WRONG]}, forged admitted {results.outcomes()[FORGED_ADMITTED]}, 5xx other than "
        f"the documented 503 {sum(_other_5xx(results.outcomes()).values())}, no answer "
        f"{sum(v for k, v in results.outcomes().items() if k.startswith('no answer'))}"
        + (f" (**{', '.join(f'{k}: {v}' for k, v in unsafe.items())}**)." if unsafe else "."),
        "",
        *summary_rows(results),
        "",
        "| step | fault | s | requests | valid answered | valid refused | forged refused | 503 | other 5xx "
        "| refusal reasons (audit) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for index, step in enumerate(plan.steps):
        valid, forged = results.outcomes(index, VALID_KINDS), results.outcomes(index, FORGED_KINDS)
        both = valid + forged
        other = _other_5xx(both)
        lines.append(
            f"| {index + 1} | {step.name} | {step.seconds:g} | {sum(both.values()):,} | {valid[ANSWERED]:,} "
            f"| {valid[REFUSED]:,} | {forged[REFUSED]:,} | {both[DOCUMENTED_503]:,} "
            f"| {', '.join(f'{k}: {v}' for k, v in other.items()) or 0} "
            f"| {_reasons_text(results.refusal_reasons(index))} |"
        )
    counts = results.proxy_counts
    lines += [
        "",
        "Requests the proxies saw (passed to the upstream / answered or held by a fault / upstream "
        "unreachable): "
        + "; ".join(
            f"{target} {c['passed']:,} / {c['faulted']:,} / {c['upstream_failures']:,}"
            for target, c in counts.items()
        )
        + ". A refused connection never reaches a proxy, so `refuse` steps add nothing to the middle figure.",
        "",
        "How to read it: during a JWKS fault only the JWT signed with the new key is refused "
        "(`jwks_unavailable`); API keys and the JWT whose key is cached keep working. Secrets Manager "
        "down or throttled refuses API keys (`key_store_unavailable`) and nothing else; SSM down or "
        "throttled refuses every credential (`settings_unavailable`) once the 2 s settings cache has "
        "aged; a corrupted key store refuses API keys (`key_store_invalid`). Valid requests answered "
        "during a fault step were served from caches that had not aged yet, which is what a cache is "
        "for; a forged credential is refused whatever is cached. The documented 503 is the MCP "
        "function's when its own settings cache aged during an SSM outage after the authorizer let the "
        "request through (docs/resilience.md).",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="short plan (about 30 s), writes under bench/.envs/"
    )
    parser.add_argument("--output", type=Path, help=f"where to write the results (default: {RESULTS})")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    output: Path = args.output or (QUICK_RESULTS if args.quick else RESULTS)
    started, load_before = time.monotonic(), os.getloadavg()
    results = measure(plan, lambda text: print(text, file=sys.stderr, flush=True))
    mode = "QUICK SMOKE RUN: do not quote" if args.quick else "full run"
    text = "\n".join(
        [
            "# Benchmark: faults survived on purpose",
            "",
            f"Generated by `python -m bench.faults` ({mode}) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"in {time.monotonic() - started:,.0f} s.",
            machine_line(load_before),
            "",
            *render(results, plan),
        ]
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {output}", file=sys.stderr)
    return 0 if results.complete and not results.unsafe() else 1


if __name__ == "__main__":
    sys.exit(main())
