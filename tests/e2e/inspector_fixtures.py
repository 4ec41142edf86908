"""A probe widget for the inspector's browser tests, registered on their stack only.

An MCP Apps tool (`_meta.ui.resourceUri`) whose `ui://` resource is a page that tries to reach
the inspector around it: its DOM, its storage, the exchanges it keeps in memory, its location.
The inspector renders it in the widget sandbox (devtools/inspector/sandbox.html, on another
origin); the page writes what each attempt gave into its own body, where the test reads it. It is
registered through `LocalStackOptions.extra_tool_modules` (tests/e2e/oauth_harness.py), never on
the deployed server nor on the stack the other end-to-end tests use.
"""

from __future__ import annotations

from app.mcp.permissions import ScopedServer
from app.mcp.widgets import Widget

PROBE_TOOL = "sandbox_probe"
PROBE_URI = "ui://inspector-tests/sandbox-probe.html"

# Each attempt names what it reached for; "blocked:<error>" is what isolation looks like.
PROBE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sandbox probe</title></head>
<body><pre id="probe">running</pre>
<script>
const results = {origin: window.origin};
function attempt(name, read) {
  try { results[name] = "READ:" + String(read()); }
  catch (error) { results[name] = "blocked:" + error.name; }
}
attempt("top.document", () => window.top.document.title);
attempt("top.localStorage", () => window.top.localStorage.length);
attempt("top.stores", () => JSON.stringify(window.top.__serverlessMcpStores.exchanges));
attempt("top.location", () => window.top.location.href);
attempt("parent.document", () => window.parent.document.body.innerHTML.length);
fetch("/mcp", {method: "POST"}).then(
  () => { results.fetch = "READ"; done(); },
  (error) => { results.fetch = "blocked:" + error.name; done(); });
function done() { document.getElementById("probe").textContent = JSON.stringify(results); }
</script></body></html>
"""


PROBE_WIDGET = Widget(uri=PROBE_URI, html=PROBE_PAGE, name="sandbox-probe")


def register(server: ScopedServer) -> None:
    @server.tool(name=PROBE_TOOL, widget=PROBE_WIDGET)
    def sandbox_probe() -> str:
        """Render the sandbox probe widget."""
        return "the probe widget reports what it could reach"
