/* serverless-mcp: runs before the @mcp-use/inspector bundle, on every page under /inspector.

   What the inspector's own server would write into its HTML (we serve static files instead), and
   three things that server never did:
   - storage in page memory only: localStorage and sessionStorage are replaced by in-memory stores
     before the bundle runs, so a pasted API key, an OAuth token or a connection never reaches the
     disk and is gone with the tab. The OAuth sign-in window, opened by this page on the same
     origin, uses this page's stores, so the token it obtains lands here and nowhere else. When the
     sign-in went through a page that cuts the window off from its opener (Cognito's managed login
     sends Cross-Origin-Opener-Policy: same-origin), the window's callback page asks the page that
     started the sign-in (the one holding its `state`) for the sign-in's own entries over a
     same-origin BroadcastChannel, and sends back what it writes (the token) the same way;
   - telemetry off: every switch the bundle reads (a window global and two storage flags);
   - this stack's own MCP endpoint listed, direct (no proxy), signing in through the stack's
     authorization front in a sign-in window, with the inspector's client ID (the URL of its client
     ID metadata document, which the front knows).
   It also keeps, in memory, the HTTP side of every exchange with /mcp (status and headers, the
   Authorization header masked) for the "HTTP exchanges" panel. */
"use strict";
(function () {
  var meta = document.querySelector('meta[name="serverless-mcp-inspector"]');
  var config = JSON.parse((meta && meta.getAttribute("content")) || "{}");
  var path = location.pathname;
  var base = path.slice(0, Math.max(0, path.indexOf("/inspector")));
  var mcpUrl = location.origin + base + "/mcp";
  var clientId = location.origin + base + "/inspector/oauth/client-metadata.json";

  function MemoryStorage() {
    this._items = new Map();
  }
  MemoryStorage.prototype = {
    get length() {
      return this._items.size;
    },
    key: function (index) {
      var keys = Array.from(this._items.keys());
      return index >= 0 && index < keys.length ? keys[index] : null;
    },
    getItem: function (name) {
      var value = this._items.get(String(name));
      return value === undefined ? null : value;
    },
    setItem: function (name, value) {
      this._items.set(String(name), String(value));
      if (this.mirror) this.mirror("set", String(name), String(value));
    },
    removeItem: function (name) {
      this._items.delete(String(name));
      if (this.mirror) this.mirror("remove", String(name), null);
    },
    clear: function () {
      this._items.clear();
    }
  };

  // The sign-in window shares its opener's stores (same origin only); any other page starts empty.
  var stores = null;
  try {
    if (window.opener && window.opener.location.origin === location.origin) {
      stores = window.opener.__serverlessMcpStores || null;
    }
  } catch (error) {
    stores = null; // a cross-origin opener: not ours
  }
  var callbackPage = /\/inspector\/oauth\/callback\/?$/.test(path);
  var handoff = callbackPage && !stores; // a sign-in window cut off from the page that opened it
  if (!stores) {
    stores = { local: new MemoryStorage(), session: new MemoryStorage(), exchanges: [] };
  }
  Object.defineProperty(window, "__serverlessMcpStores", { value: stores });
  ["localStorage", "sessionStorage"].forEach(function (name) {
    var store = name === "localStorage" ? stores.local : stores.session;
    Object.defineProperty(window, name, { configurable: true, enumerable: true, get: function () {
      return store;
    } });
  });

  // Telemetry: the bundle's two telemetry clients both honour these (and never send when they say no).
  window.__MCP_USE_ANONYMIZED_TELEMETRY__ = false;
  stores.local.setItem("MCP_USE_ANONYMIZED_TELEMETRY", "false");
  stores.local.setItem("mcp_inspector_telemetry_disabled", "true");

  // What the inspector's server would set: no proxy (the browser talks to /mcp itself), the path
  // it is served under, the widget sandbox's origin.
  window.__MCP_PROXY_URL__ = null;
  window.__MCP_BASE_PATH__ = base;
  window.__MCP_INSPECTOR_MODE__ = "standalone";
  if (config.sandboxOrigin) window.__MCP_SANDBOX_ORIGIN__ = config.sandboxOrigin;
  if (typeof window.process === "undefined") {
    window.process = { env: {}, platform: "browser", browser: true, version: "v18.0.0",
      versions: { node: "18.0.0" }, cwd: function () { return "/"; },
      nextTick: function (callback) {
        var rest = Array.prototype.slice.call(arguments, 1);
        queueMicrotask(function () { callback.apply(null, rest); });
      } };
  }

  var connections = "mcp-inspector-connections";
  if (stores.local.getItem(connections) === null) {
    var servers = {};
    servers[mcpUrl] = {
      url: mcpUrl,
      displayName: "serverless-mcp",
      connectionMode: "direct",
      preventAutoAuth: true,
      useRedirectFlow: false,
      // A pasted API key is this server's other sign-in, not a misconfiguration to warn about.
      detectMixedAuth: false,
      oauth: { clientId: clientId }
    };
    stores.local.setItem(connections, JSON.stringify(servers));
    stores.local.setItem(connections + "-version", "3");
    // The raw JSON-RPC log open from the start: seeing the exchange is what the page is for.
    stores.local.setItem("inspector-rpc-logger-open", "true");
  }

  // The HTTP side of each exchange with /mcp, kept in memory for the exchanges panel.
  var originalFetch = window.fetch.bind(window);
  var MASKED = ["authorization", "cookie", "set-cookie"];
  function headerList(headers) {
    var list = [];
    new Headers(headers || {}).forEach(function (value, name) {
      list.push([name, MASKED.indexOf(name) >= 0 ? mask(value) : value]);
    });
    return list;
  }
  function mask(value) {
    var space = value.indexOf(" ");
    return (space > 0 ? value.slice(0, space + 1) : "") + "••••••";
  }
  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    var target = new URL(url, location.href);
    if (target.origin + target.pathname !== mcpUrl) return originalFetch(input, init);
    var request = new Request(input, init);
    var entry = { at: new Date().toISOString(), method: request.method, url: target.href,
      requestHeaders: headerList(request.headers), status: null, responseHeaders: [],
      requestBody: init && typeof init.body === "string" ? init.body : null, responseBody: null };
    stores.exchanges.push(entry);
    if (stores.exchanges.length > 200) stores.exchanges.shift();
    notify();
    return originalFetch(input, init).then(function (response) {
      entry.status = response.status;
      entry.responseHeaders = headerList(response.headers);
      response.clone().text().then(function (text) {
        entry.responseBody = text;
        notify();
      }, notify);
      return response;
    }, function (error) {
      entry.status = 0;
      entry.error = String(error);
      notify();
      throw error;
    });
  };
  function notify() {
    window.dispatchEvent(new CustomEvent("serverless-mcp:exchange"));
  }

  // The sign-in handoff (see the top): only the OAuth client's own entries travel, only between
  // the window whose callback carries a `state` and the page that holds that `state`.
  var CHANNEL = "serverless-mcp-inspector-sign-in";
  var OAUTH_PREFIX = "mcp:auth";
  function oauthEntries() {
    var entries = [];
    for (var i = 0; i < stores.local.length; i++) {
      var name = stores.local.key(i);
      if (name.indexOf(OAUTH_PREFIX) === 0) entries.push([name, stores.local.getItem(name)]);
    }
    return entries;
  }
  function holdsState(state) {
    return oauthEntries().some(function (entry) {
      return entry[0].slice(-("_state_" + state).length) === "_state_" + state;
    });
  }
  var channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  if (channel && !handoff) {
    var sessions = {};
    channel.onmessage = function (event) {
      var message = event.data || {};
      if (message.type === "request" && typeof message.state === "string" && holdsState(message.state)) {
        sessions[message.session] = true;
        channel.postMessage({ type: "entries", session: message.session, entries: oauthEntries() });
      } else if (sessions[message.session] && typeof message.name === "string" &&
          message.name.indexOf(OAUTH_PREFIX) === 0) {
        if (message.type === "set") stores.local.setItem(message.name, String(message.value));
        if (message.type === "remove") stores.local.removeItem(message.name);
      }
    };
  }

  // The bundle itself, once the page is parsed (it mounts on #root) and, in a sign-in window cut
  // off from its opener, once the sign-in's entries arrived (or after 5 s: it then says the sign-in
  // expired, and the person starts again).
  var started = false;
  function start() {
    if (started) return;
    started = true;
    var script = document.createElement("script");
    script.type = "module";
    script.src = base + "/inspector/assets/inspector.js";
    document.head.appendChild(script);
  }
  function whenParsed(callback) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", callback);
    else callback();
  }
  if (handoff && channel) {
    var session = String(Math.random()).slice(2) + Date.now();
    channel.onmessage = function (event) {
      var message = event.data || {};
      if (message.type !== "entries" || message.session !== session || started) return;
      message.entries.forEach(function (entry) {
        stores.local.setItem(entry[0], entry[1]);
      });
      stores.local.mirror = function (type, name, value) {
        if (name.indexOf(OAUTH_PREFIX) === 0) {
          channel.postMessage({ type: type, session: session, name: name, value: value });
        }
      };
      whenParsed(start);
    };
    channel.postMessage({ type: "request", session: session,
      state: new URLSearchParams(location.search).get("state") || "" });
    setTimeout(function () { whenParsed(start); }, 5000);
  } else {
    whenParsed(start);
  }
})();
