"""The official MCP conformance suite against the local stack, once per spec revision.

`@modelcontextprotocol/conformance` drives the real request path (gateway emulator, authorizer,
MCP handler) over HTTP on 127.0.0.1, with its reference tools registered for this run only
(`tests/e2e/conformance_harness.py` says how). What each scenario must do here is decided in
`docs/conformance.md`: the scenarios under "Must pass" fail this test when they fail; the others
are run and printed. The first test keeps that page in step with the suite's own scenario list.

The AWS behaviour behind the "not applicable" verdicts (one buffered JSON body per request, no
stream): a Lambda proxy integration in the default transfer mode sends the response only once it
is complete (https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html),
and Lambda streams responses only from Node.js managed runtimes, a custom runtime or the Lambda
Web Adapter (https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.local_stack import LocalStack, LocalStackOptions
from tests.e2e.conformance_harness import (
    DOC,
    REVISIONS,
    STATE_FILE,
    AuthorizingProxy,
    Classification,
    ClassificationError,
    listed_scenarios,
    read_results,
    report,
    required_scenarios,
    suite,
)
from tests.e2e.conftest import stack_process

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("conformance")]


@pytest.fixture(scope="module")
def classification() -> Classification:
    return Classification.from_markdown(DOC.read_text())


@pytest.fixture(scope="module")
def conformance_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The proxy's URL in front of a local stack with the fixtures, in its own process.

    Its own stack, not the session one of `conftest.py`: the other end-to-end tests assert the
    template's own tool list, which the fixtures would change.
    """
    state_dir = tmp_path_factory.mktemp("conformance-stack")
    command = [sys.executable, "-m", "tests.e2e.conformance_harness", "--state-dir", str(state_dir)]
    with stack_process(command, state_dir, STATE_FILE):
        yield str(json.loads((state_dir / STATE_FILE).read_text())["url"])


def test_docs_classify_every_scenario_the_suite_has(classification: Classification) -> None:
    """A scenario added by a suite update fails here until docs/conformance.md classifies it."""
    listing = suite("list", "--server")
    assert listing.returncode == 0, listing.stderr
    listed = set(listed_scenarios(listing.stdout))
    assert listed, f"could not read the suite's scenario list:\n{listing.stdout}"
    assert listed - classification.scenarios == set(), "scenarios docs/conformance.md does not classify"
    assert classification.scenarios - listed == set(), "docs/conformance.md names scenarios the suite lacks"
    for revision in REVISIONS:
        requirements = suite("list", "--server", "--requirements", revision)
        assert requirements.returncode == 0, requirements.stderr
        runs = required_scenarios(requirements.stdout)
        assert runs, f"could not read the {revision} requirement set:\n{requirements.stdout}"
        unclassified = sorted(s for s in runs if classification.verdict(s, revision) is None)
        assert unclassified == [], f"run at {revision} but not classified for it in docs/conformance.md"
        # A must-pass row for a revision whose set never runs it would never be checked.
        never_run = sorted(classification.must_pass(revision) - runs)
        assert never_run == [], f"must pass at {revision}, but its requirement set does not run them"


@pytest.mark.parametrize("revision", REVISIONS)
def test_conformance_suite(
    revision: str,
    conformance_url: str,
    classification: Classification,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Every scenario docs/conformance.md lists as must pass at `revision` passes."""
    started = time.monotonic()
    run = suite("server", "--url", conformance_url, "--requirements", revision, "-o", str(tmp_path))
    elapsed = time.monotonic() - started
    results = read_results(tmp_path)
    text = f"{report(revision, results, classification)}\n  (suite run: {elapsed:.1f} s)"
    # Shown in the run's summary even when passing (see tests/conftest.py).
    request.node.user_properties.append(("conformance", text))
    assert run.returncode in (0, 1), f"the suite did not run (exit {run.returncode}):\n{run.stderr[-3000:]}"
    must_pass = classification.must_pass(revision)
    unclassified = sorted(s for s in results if classification.verdict(s, revision) is None)
    not_run = sorted(must_pass - results.keys())
    failed = sorted(s for s in must_pass & results.keys() if not results[s].passed)
    problems = [f"{s}: {p}" for s in failed for p in results[s].problems() if p.startswith("FAILURE")]
    assert (unclassified, not_run, failed) == ([], [], []), "\n".join(
        [
            f"at {revision}: unclassified {unclassified}; must pass but not run {not_run}; "
            f"must pass but failed {failed} (every result is in the run's summary)",
            *problems,
        ]
    )


# --- the harness's own contract ------------------------------------------------------------

DOC_HEAD = "## Must pass\n\n| scenario | revisions | what |\n|---|---|---|\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("| `ping` | 2025-11-25 | x |\n| `ping` | 2025-11-25 | y |\n", "already classified"),
        ("| `ping` | 2025-11-26 | x |\n", "revisions must be"),
        ("| `ping` | 2025-11-25 |  |\n", "no explanation"),
    ],
)
def test_a_malformed_classification_is_refused(rows: str, message: str) -> None:
    with pytest.raises(ClassificationError, match=message):
        Classification.from_markdown(DOC_HEAD + rows)


def test_classification_reads_verdicts_per_revision() -> None:
    text = (
        DOC_HEAD
        + "| `server-sse-multiple-streams` | 2026-07-28 | JSON |\n"
        + "\n## Not applicable to a stateless JSON server\n\n| scenario | revisions | why |\n|---|---|---|\n"
        + "| `server-sse-multiple-streams` | 2025-11-25 | needs a session |\n"
    )
    parsed = Classification.from_markdown(text)
    assert parsed.must_pass("2026-07-28") == {"server-sse-multiple-streams"}
    assert parsed.must_pass("2025-11-25") == frozenset()
    entry = parsed.verdict("server-sse-multiple-streams", "2025-11-25")
    assert entry is not None
    assert (entry.verdict, entry.why) == ("not applicable", "needs a session")


def test_proxy_adds_the_credential_and_passes_host_and_origin_through() -> None:
    """The suite sends no credential; the proxy must add one and change nothing the server judges."""
    seen: dict[str, Any] = {}

    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            seen.update(headers=self.headers, body=self.rfile.read(int(self.headers["Content-Length"])))
            body = b'{"ok": true}'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent."""

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proxy = AuthorizingProxy("Bearer proxy-credential")
    proxy.start(f"http://127.0.0.1:{upstream.server_address[1]}/mcp")
    try:
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(proxy.origin).netloc)
        connection.request(
            "POST",
            "/mcp",
            body=b'{"jsonrpc": "2.0"}',
            headers={"Host": "evil.example.com", "Origin": "http://evil.example.com", "Authorization": "x"},
        )
        response = connection.getresponse()
        assert (response.status, response.read()) == (201, b'{"ok": true}')
        assert len(response.headers.get_all("Date") or []) == 1  # the upstream's, not a second one
    finally:
        proxy.stop()
        upstream.shutdown()
        upstream.server_close()
    headers = seen["headers"]
    assert headers.get_all("Authorization") == ["Bearer proxy-credential"]
    assert (headers["Host"], headers["Origin"]) == ("evil.example.com", "http://evil.example.com")
    assert seen["body"] == b'{"jsonrpc": "2.0"}'


def test_an_extra_tool_module_without_register_stops_the_stack() -> None:
    stack = LocalStack(LocalStackOptions(extra_tool_modules=("json",)), progress=lambda _: None)
    with pytest.raises(ValueError, match="'json' has no register"):
        stack._register_extra_tool_modules()
