/* serverless-mcp: the "HTTP exchanges" panel, beside the inspector's own JSON-RPC log.

   The inspector shows JSON-RPC messages; this panel shows what carried them: each POST to /mcp
   with its HTTP status and headers (the Authorization header masked: its scheme, then dots),
   including the gateway's 401 and 403 challenges (WWW-Authenticate) that the inspector turns
   into a sign-in or an error. boot.js records the exchanges in page memory; nothing here is sent
   anywhere. Everything is written with textContent: a server's answer is never parsed as HTML. */
"use strict";
(function () {
  var stores = window.__serverlessMcpStores;
  if (!stores) return;
  var panel = document.createElement("section");
  panel.id = "serverless-mcp-exchanges";
  panel.setAttribute("aria-label", "HTTP exchanges with /mcp");
  var toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "smcp-toggle";
  var list = document.createElement("ol");
  list.className = "smcp-list";
  list.hidden = true;
  panel.append(toggle, list);

  function render() {
    var exchanges = stores.exchanges;
    toggle.textContent = "HTTP exchanges (" + exchanges.length + ")";
    toggle.setAttribute("aria-expanded", String(!list.hidden));
    if (list.hidden) return;
    list.replaceChildren();
    exchanges.slice().reverse().forEach(function (exchange) {
      var item = document.createElement("li");
      item.className = "smcp-exchange";
      item.dataset.status = String(exchange.status);
      var summary = document.createElement("details");
      var title = document.createElement("summary");
      var method = "";
      try {
        method = exchange.requestBody ? JSON.parse(exchange.requestBody).method || "" : "";
      } catch (error) {
        method = "";
      }
      title.textContent = (exchange.status === null ? "…" : String(exchange.status)) + " " +
        exchange.method + " " + new URL(exchange.url).pathname + (method ? "  " + method : "");
      summary.append(title, block("Request headers", lines(exchange.requestHeaders)),
        block("Request body", exchange.requestBody || ""),
        block("Response headers", lines(exchange.responseHeaders)),
        block("Response body", exchange.error || exchange.responseBody || ""));
      item.append(summary);
      list.append(item);
    });
  }
  function lines(headers) {
    return headers.map(function (pair) { return pair[0] + ": " + pair[1]; }).join("\n");
  }
  function block(label, text) {
    var wrap = document.createElement("div");
    var heading = document.createElement("strong");
    heading.textContent = label;
    var pre = document.createElement("pre");
    pre.textContent = text;
    wrap.append(heading, pre);
    return wrap;
  }
  toggle.addEventListener("click", function () {
    list.hidden = !list.hidden;
    render();
  });
  window.addEventListener("serverless-mcp:exchange", render);
  function mount() {
    document.body.append(panel);
    render();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
