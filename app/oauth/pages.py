"""The front's two HTML pages: consent, and the error page shown when redirecting would be unsafe.

Every value from a client (its name, its redirect host) is HTML-escaped. The headers forbid
framing (clickjacking of the Approve button), scripts of any origin, and sending the page's URL
elsewhere. The consent page sets no `form-action`: browsers apply it to every redirect after the
form's POST (w3c/webappsec-csp#8, w3c/webappsec#482), and an approval travels consent → upstream
login (and any identity provider the upstream federates to) → the front's callback → the client's
redirect URI, a chain no origin list can name in advance. With no script allowed and every value
escaped, no other form can appear on the page for `form-action` to stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final
from urllib.parse import urlsplit

from app.oauth.http import Response

_PAGE_HEADERS: Final = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "h1{font-size:1.3rem}code{background:#f3f3f3;padding:0 .2rem}li{margin:.3rem 0}"
    "button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}"
)


def _headers(form_action: str | None, referrer_policy: str = "no-referrer") -> dict[str, str]:
    """The page headers; `form_action` None leaves the directive out (see the module docstring)."""
    directives = ["default-src 'none'", "style-src 'unsafe-inline'"]
    if form_action is not None:
        directives.append(f"form-action {form_action}")
    directives += ["frame-ancestors 'none'", "base-uri 'none'"]
    csp = "; ".join(directives)
    return {**_PAGE_HEADERS, "Content-Security-Policy": csp, "Referrer-Policy": referrer_policy}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def scope_meaning(scope: str, base_scope: str) -> str:
    if scope == base_scope:
        return "connect to this MCP server and use the tools that need no other permission"
    return f"use the tools, resources and prompts that require the {scope} permission"


def consent_page(
    *,
    client_name: str,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    base_scope: str,
    consent_url: str,
    hidden: Mapping[str, str],
    cookie: str | None,
) -> Response:
    redirect_host = urlsplit(redirect_uri).hostname or redirect_uri.split(":", 1)[0]
    items = "".join(
        f"<li><code>{escape(scope)}</code>: {escape(scope_meaning(scope, base_scope))}</li>"
        for scope in scopes
    )
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden.items()
    )
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Allow access?</title><style>{_STYLE}</style></head><body>"
        f"<h1>Allow <strong>{escape(client_name)}</strong> to use this MCP server as you?</h1>"
        f"<p>Client ID: <code>{escape(client_id)}</code></p>"
        f"<p>After you sign in, you will be sent back to <strong>{escape(redirect_host)}</strong>.</p>"
        f"<p>It asks to:</p><ul>{items}</ul>"
        "<p>Only continue if you started this sign-in from that application.</p>"
        f'<form method="post" action="{escape(consent_url)}">{fields}'
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button></form></body></html>'
    )
    # `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with the
    # form's POST (Fetch standard, "append a request `Origin` header"), which the consent check
    # must refuse. `same-origin` still sends nothing to another origin (the upstream included).
    headers = _headers(None, referrer_policy="same-origin")
    return Response(200, headers, body, cookies=(cookie,) if cookie else ())


def error_page(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error the user sees because sending them back to the client could be an open redirect."""
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Sign-in error</title><style>{_STYLE}</style></head><body>"
        f"<h1>This sign-in cannot continue</h1><p>{escape(description)}</p>"
        f"<p>Error: <code>{escape(error)}</code></p>"
        "<p>Go back to the application and start the sign-in again.</p></body></html>"
    )
    return Response(status, {**_headers("'none'"), **(headers or {})}, body)
