"""The official MCP conformance suite against the local stack: the stack side and the suite side.

The suite's server mode (`conformance server --url URL`) takes only a URL and sends no
credentials, while every MCP request to this stack must carry one (the gateway answers 401
otherwise, as API Gateway does). So the stack side, run in its own process by
`python -m tests.e2e.conformance_harness --state-dir DIR`, is:

- the local stack (moto, dev issuer, gateway, both real handlers) with the suite's reference
  tools from `tests/e2e/conformance_fixtures.py` registered through
  `LocalStackOptions.extra_tool_modules`, and
- `AuthorizingProxy` on 127.0.0.1: a reverse proxy that adds `Authorization: Bearer <the dev
  API key>` to each request and forwards everything else, Host and Origin included, unchanged.

Its origin is the stack's one allowed Origin, as an operator lists the origins their server is
used from: the suite's DNS-rebinding scenario sends the server's own origin and expects it
accepted, and a foreign one and expects a 4xx.

The suite side (`suite`, `read_results`, `Classification`, `report`) runs the pinned suite under the
pinned Node 22 from `node_modules` and reads its per-scenario `checks.json` files.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[2]
FIXTURES_MODULE: Final = "tests.e2e.conformance_fixtures"
STATE_FILE: Final = "conformance.json"
NODE: Final = ROOT / "node_modules" / ".bin" / "node"
SUITE: Final = ROOT / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
DOC: Final = ROOT / "docs" / "conformance.md"

# RFC 9110 §7.6.1: connection-specific fields are not forwarded by a proxy. Content-Length is
# recomputed from the body actually forwarded; Authorization is replaced, never passed on.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class AuthorizingProxy:
    """A reverse proxy on 127.0.0.1 that adds one Authorization header to every request.

    Bound at construction (port 0: the OS picks), so its origin is known before the stack it
    fronts starts; `start(upstream)` then serves. Bodies are read whole and answered with a
    Content-Length: the MCP endpoint answers JSON, never a stream (GET on it is a 405).
    """

    def __init__(self, authorization: str = "") -> None:
        self.authorization = authorization
        self.upstream: tuple[str, int] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the suite's undici client expects

            def do_request(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = do_request

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: request lines are noise in the test output."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, upstream_url: str) -> None:
        if not self.authorization:
            raise ValueError("the proxy needs the Authorization value to add before it starts")
        parsed = urllib.parse.urlsplit(upstream_url)
        if parsed.scheme != "http" or parsed.hostname != "127.0.0.1" or parsed.port is None:
            raise ValueError("the proxy only fronts the local stack on http://127.0.0.1:<port>")
        self.upstream = (parsed.hostname, parsed.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="conformance-proxy")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve loop, so only if one runs
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        assert self.upstream is not None
        body = _read_body(request)
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            # skip_host: the client's own Host goes upstream (the DNS-rebinding scenario sets it).
            connection.putrequest(request.command, request.path, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.items():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "authorization":
                    connection.putheader(name, value)
            connection.putheader("Authorization", self.authorization)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            status, reason, headers, answer = (
                response.status,
                response.reason,
                response.getheaders(),
                response.read(),
            )
        except OSError as exc:
            status, reason = 502, "Bad Gateway"
            answer = f"proxy: upstream failed ({type(exc).__name__})".encode()
            headers = [("Content-Type", "text/plain")]
        finally:
            connection.close()
        # send_response_only: the upstream's own Date and Server pass through, not a second pair.
        request.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(answer)


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(request.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
        while request.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)
    return request.rfile.read(int(request.headers.get("Content-Length") or 0))


# --- the suite side -------------------------------------------------------------------------

REVISIONS: Final = ("2025-11-25", "2026-07-28")
MUST_PASS: Final = "must pass"
SECTIONS: Final = {
    "Must pass": MUST_PASS,
    "Not applicable to a stateless JSON server": "not applicable",
    "Not claimed by this server": "not claimed",
}
NOT_RUN: Final = "none"  # the revisions cell of a scenario that is in no requirement set
_ROW: Final = re.compile(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|(.*)\|\s*$")
_LISTED: Final = re.compile(r"^\s+- (\S+)(?: \[([^\]]*)\])?\s*$")
_RESULT_DIR: Final = re.compile(r"^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


class ClassificationError(ValueError):
    """docs/conformance.md is malformed; the message names the line."""


@dataclass(frozen=True)
class Entry:
    scenario: str
    verdict: str  # a value of SECTIONS
    revisions: frozenset[str]
    why: str


@dataclass(frozen=True, repr=False)
class Classification:
    """docs/conformance.md's tables: each scenario's verdict per revision, and why."""

    entries: tuple[Entry, ...]

    def __repr__(self) -> str:  # a test's failure report shows it: the whole table is noise there
        return f"Classification({len(self.entries)} entries)"

    @classmethod
    def from_markdown(cls, text: str) -> Classification:
        entries: list[Entry] = []
        seen: dict[tuple[str, str], int] = {}
        verdict: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if line.startswith("## "):
                verdict = SECTIONS.get(line[3:].strip())
                continue
            match = _ROW.match(line)
            if verdict is None or match is None:
                continue
            scenario, cell, why = match.group(1), match.group(2).strip(), match.group(3).strip()
            revisions = frozenset(r.strip() for r in cell.split(",")) if cell != NOT_RUN else frozenset()
            unknown = revisions - set(REVISIONS)
            if unknown or (not revisions and cell != NOT_RUN):
                raise ClassificationError(
                    f"line {number}: revisions must be {', '.join(REVISIONS)} or {NOT_RUN!r}, got {cell!r}"
                )
            if not why:
                raise ClassificationError(f"line {number}: {scenario} has no explanation")
            for revision in revisions or {NOT_RUN}:
                if (scenario, revision) in seen:
                    raise ClassificationError(
                        f"line {number}: {scenario} at {revision} is already classified on line "
                        f"{seen[(scenario, revision)]}"
                    )
                seen[(scenario, revision)] = number
            entries.append(Entry(scenario, verdict, revisions, why))
        if not entries:
            raise ClassificationError("no classified scenario found (tables under the known headings)")
        return cls(tuple(entries))

    @property
    def scenarios(self) -> frozenset[str]:
        return frozenset(entry.scenario for entry in self.entries)

    def verdict(self, scenario: str, revision: str) -> Entry | None:
        return next((e for e in self.entries if e.scenario == scenario and revision in e.revisions), None)

    def must_pass(self, revision: str) -> frozenset[str]:
        return frozenset(
            e.scenario for e in self.entries if e.verdict == MUST_PASS and revision in e.revisions
        )


def suite(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the pinned suite under the pinned Node 22 (`node_modules`, installed by `npm ci`)."""
    if not NODE.exists() or not SUITE.exists():
        raise FileNotFoundError(
            f"the conformance suite or Node 22 is not installed ({NODE.relative_to(ROOT)}, "
            f"{SUITE.relative_to(ROOT)}): run `npm ci` (make test does)"
        )
    # NO_COLOR: the suite's output is read and printed here, not shown on a terminal.
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    return subprocess.run(
        [str(NODE), str(SUITE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def listed_scenarios(output: str) -> dict[str, str]:
    """`conformance list --server`: scenario name -> its bracketed versions (or tag)."""
    return {m.group(1): m.group(2) or "" for line in output.splitlines() if (m := _LISTED.match(line))}


def required_scenarios(output: str) -> frozenset[str]:
    """`conformance list --requirements REV`: the server scenarios a run of that set runs.

    Those under "Server scenarios", and the not-scored ones tagged `[server]` (run and reported
    too).
    """
    names: set[str] = set()
    section = ""
    for line in output.splitlines():
        if line and not line.startswith(" "):
            section = line
            continue
        match = _LISTED.match(line)
        if match is None:
            continue
        tag = match.group(2)
        if (section.startswith("Server scenarios") and tag is None) or tag == "server":
            names.add(match.group(1))
    return frozenset(names)


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    checks: tuple[Mapping[str, Any], ...]

    def count(self, status: str) -> int:
        return sum(1 for check in self.checks if check.get("status") == status)

    @property
    def passed(self) -> bool:
        """No check failed and at least one succeeded: a run that proves nothing is no pass."""
        return self.count("FAILURE") == 0 and self.count("SUCCESS") > 0

    def problems(self) -> list[str]:
        """The failing and warning checks, with the suite's own message."""
        return [
            f"{check.get('status')} {check.get('id')}: {check.get('errorMessage') or _detail(check)}"
            for check in self.checks
            if check.get("status") in ("FAILURE", "WARNING")
        ]


def _detail(check: Mapping[str, Any]) -> str:
    details = check.get("details")
    message = details.get("message") if isinstance(details, dict) else None
    return str(message or check.get("description") or "")


def read_results(output_dir: Path) -> dict[str, ScenarioResult]:
    """Each `server-<scenario>-<timestamp>/checks.json` the suite wrote under `output_dir`."""
    results: dict[str, ScenarioResult] = {}
    for directory in sorted(output_dir.iterdir()):
        match = _RESULT_DIR.match(directory.name)
        if match is None or not (directory / "checks.json").is_file():
            continue
        scenario = match.group(1)
        if scenario in results:
            raise ValueError(f"{output_dir} holds two results for {scenario}; use a fresh directory")
        checks = json.loads((directory / "checks.json").read_text())
        results[scenario] = ScenarioResult(scenario, tuple(checks))
    return results


def report(revision: str, results: Mapping[str, ScenarioResult], classification: Classification) -> str:
    """One line per scenario, the failing and warning checks under it: what the test prints."""
    lines = [f"MCP conformance at {revision} ({len(results)} scenarios run)"]
    for scenario in sorted(results, key=lambda name: _report_order(name, revision, classification)):
        result = results[scenario]
        entry = classification.verdict(scenario, revision)
        verdict = entry.verdict if entry else "UNCLASSIFIED"
        mark = "ok  " if result.passed else "FAIL" if verdict == MUST_PASS else "--  "
        counts = f"{result.count('SUCCESS')} passed, {result.count('FAILURE')} failed"
        lines.append(f"  {mark} {scenario} [{verdict}] {counts}")
        if verdict in (MUST_PASS, "UNCLASSIFIED"):
            lines.extend(f"         {problem}" for problem in result.problems())
    return "\n".join(lines)


def _report_order(scenario: str, revision: str, classification: Classification) -> tuple[int, str]:
    entry = classification.verdict(scenario, revision)
    rank = list(SECTIONS.values()).index(entry.verdict) if entry else -1
    return rank, scenario


def serve(state_dir: Path) -> None:
    """Start the stack with the fixtures and the proxy; write the URL to use; run until SIGTERM."""
    from devtools.local_stack import LocalStack, LocalStackOptions

    proxy = AuthorizingProxy()
    options = LocalStackOptions(
        port=0,
        state_dir=state_dir,
        allowed_origins=(proxy.origin,),
        extra_tool_modules=(FIXTURES_MODULE,),
    )
    stack = LocalStack(options, progress=lambda text: print(text, flush=True))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        credentials = stack.start()
        proxy.authorization = f"Bearer {credentials.api_key}"
        proxy.start(credentials.mcp_url)
        state = {"url": f"{proxy.origin}/mcp", "mcp_url": credentials.mcp_url}
        temp = state_dir / f"{STATE_FILE}.tmp"
        temp.write_text(json.dumps(state))
        temp.replace(state_dir / STATE_FILE)  # a reader never sees a partial file
        print(f"conformance proxy on {state['url']}", flush=True)
        stopped.wait()
    finally:
        proxy.stop()
        stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", required=True, type=Path, help="where the stack writes its state")
    args = parser.parse_args(argv)
    serve(args.state_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
