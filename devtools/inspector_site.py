"""The inspector at /inspector: which files are served, under which keys, with which headers.

The page is `@mcp-use/inspector`'s prebuilt single-page app (MIT, pinned in package.json): its
`dist/app/inspector.js.gz` and `inspector.css.gz`, served unzipped, around our own small
`index.html` and `boot.js` (devtools/inspector/) instead of the HTML its Node server would
generate. It is static code: it holds nothing about this server. Everything it shows it fetches
from `/mcp` in the browser, with the credential the person types in or signs in for, through the
same authorizer as any other client. So the page itself is public, and the server's tools,
schemas, resources and results stay behind the authorizer.

One table drives both places it is served from:

- deployed (INSPECTOR=true), API Gateway reads the objects from a private S3 bucket (an AWS
  integration, no function: infra/constructs/inspector.py), keyed exactly as `site_objects`
  names them, with the headers of `site_headers` as integration-response literals;
- locally, the gateway emulator serves the same keys from memory with the same headers
  (devtools/gateway.py, integration "site").

MCP Apps widgets render in a sandbox proxy page on ANOTHER origin (SEP-1865: "The Host and the
Sandbox MUST have different origins"), so a widget cannot reach the inspector's page, memory or
token: deployed, a second small REST API whose MOCK integration answers every path with
`sandbox_page()`; locally, a second loopback port (`SandboxApp`).
"""

from __future__ import annotations

import gzip
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.types import Receive, Scope, Send

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
PACKAGE_APP_DIR: Final = REPO_ROOT / "node_modules" / "@mcp-use" / "inspector" / "dist" / "app"
SOURCES: Final = Path(__file__).resolve().parent / "inspector"

INSPECTOR_PATH: Final = "/inspector"
# Object keys (the bucket's keys deployed). `/inspector` is the index; `/inspector/{proxy+}`
# reads `inspector/{proxy}`, so the OAuth callback page is a copy of the index under its path.
KEY_PREFIX: Final = "inspector/"
INDEX_KEY: Final = "inspector/index.html"
CALLBACK_KEY: Final = "inspector/oauth/callback"
CLIENT_METADATA_KEY: Final = "inspector/oauth/client-metadata.json"
# The bundle asks for it at start (its own server answers with a server to connect to); ours
# names none: the page lists this stack's server itself (boot.js).
CONFIG_KEY: Final = "inspector/config.json"
CLIENT_NAME: Final = "serverless-mcp Inspector"

HTML_TYPE: Final = "text/html; charset=utf-8"
JSON_TYPE: Final = "application/json"
# The files that are the same in every deployment: source name, object key, content type.
_PACKAGE_FILES: Final = (
    ("inspector.js.gz", "inspector/assets/inspector.js", "text/javascript; charset=utf-8"),
    ("inspector.css.gz", "inspector/assets/inspector.css", "text/css; charset=utf-8"),
    ("favicon.svg", "inspector/assets/favicon.svg", "image/svg+xml"),
)
_OWN_FILES: Final = (
    ("boot.js", "inspector/assets/boot.js", "text/javascript; charset=utf-8"),
    ("exchanges.js", "inspector/assets/exchanges.js", "text/javascript; charset=utf-8"),
    ("exchanges.css", "inspector/assets/exchanges.css", "text/css; charset=utf-8"),
    ("config.json", CONFIG_KEY, "application/json"),
)
NOT_FOUND_BODY: Final = '{"message":"Not Found"}'
# Re-read at most this often by a browser: the page and the assets change only with a deploy.
CACHE_CONTROL: Final = "no-cache"


class InspectorUnavailable(RuntimeError):
    """The pinned inspector package is not installed (say how to install it)."""


@dataclass(frozen=True)
class SiteObject:
    body: bytes
    content_type: str


def package_installed() -> bool:
    return (PACKAGE_APP_DIR / "inspector.js.gz").is_file()


def static_objects() -> dict[str, SiteObject]:
    """The objects that do not depend on where the stack runs (unzipped bundle, our scripts)."""
    if not package_installed():
        raise InspectorUnavailable(
            "the inspector package (@mcp-use/inspector, pinned in package.json) is not installed: "
            "run `make node_modules/.installed` (npm ci)"
        )
    objects: dict[str, SiteObject] = {}
    for name, key, content_type in _PACKAGE_FILES:
        data = (PACKAGE_APP_DIR / name).read_bytes()
        objects[key] = SiteObject(gzip.decompress(data) if name.endswith(".gz") else data, content_type)
    for name, key, content_type in _OWN_FILES:
        objects[key] = SiteObject((SOURCES / name).read_bytes(), content_type)
    return objects


def index_html(base_path: str, sandbox_origin: str) -> str:
    """Our index page: the bundle, its styles and boot.js, and the sandbox origin for boot.js.

    `base_path` is what precedes /inspector in the URL (the stage, e.g. "/prod", or "" at a
    custom domain's root); `sandbox_origin` may be a CDK token (a deploy-time value).
    """
    config = json.dumps({"sandboxOrigin": sandbox_origin}, separators=(",", ":"))
    template = (SOURCES / "index.html").read_text(encoding="utf-8")
    return template.replace("{config}", html.escape(config, quote=True)).replace("{base}", base_path)


def client_metadata(base_url: str) -> dict[str, object]:
    """The inspector's client ID metadata document; its `client_id` is the URL it is served at.

    `base_url` is the API's public base (origin and stage, or the custom domain), maybe a token.
    The front knows this client without fetching the document (a preregistered client with the
    same id and redirect URI: `inspector_client`), so it works on loopback http too.
    """
    return {
        "client_id": f"{base_url}{INSPECTOR_PATH}/oauth/client-metadata.json",
        "client_name": CLIENT_NAME,
        "client_uri": f"{base_url}{INSPECTOR_PATH}",
        "redirect_uris": [f"{base_url}{INSPECTOR_PATH}/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


def inspector_client(base_url: str) -> dict[str, object]:
    """The front settings' `preregistered_clients` entry for the inspector (same id, same redirect)."""
    document = client_metadata(base_url)
    return {key: document[key] for key in ("client_id", "client_name", "redirect_uris")}


def content_security_policy(sandbox_origin: str) -> str:
    """The inspector page's policy: its own scripts and styles only, fetches to its own origin
    (/mcp and the front), frames only from the widget sandbox's origin, never framed itself.

    `style-src 'unsafe-inline'`: the bundle's components set style attributes and insert
    <style> elements at run time; no script runs from them. No 'unsafe-inline' or 'unsafe-eval'
    for scripts: an injected inline script is refused (a browser test shows it).
    """
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            f"frame-src {sandbox_origin}",
            "worker-src 'none'",
            "manifest-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def site_headers(sandbox_origin: str) -> dict[str, str]:
    """The headers every inspector object is served with (besides its Content-Type)."""
    return {
        "Content-Security-Policy": content_security_policy(sandbox_origin),
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def site_objects(base_url: str, base_path: str, sandbox_origin: str) -> dict[str, SiteObject]:
    """Every object of the site, for an API whose public base is `base_url` (ends in `base_path`)."""
    objects = static_objects()
    page = SiteObject(index_html(base_path, sandbox_origin).encode(), HTML_TYPE)
    objects[INDEX_KEY] = page
    objects[CALLBACK_KEY] = page
    metadata = json.dumps(client_metadata(base_url), indent=2).encode()
    objects[CLIENT_METADATA_KEY] = SiteObject(metadata, JSON_TYPE)
    return objects


def object_key(proxy: str | None) -> str:
    """The key a route reads: `/inspector` the index, `/inspector/{proxy+}` `inspector/{proxy}`."""
    return INDEX_KEY if proxy is None else f"{KEY_PREFIX}{proxy}"


def sandbox_page() -> str:
    """The widget sandbox proxy page (devtools/inspector/sandbox.html)."""
    return (SOURCES / "sandbox.html").read_text(encoding="utf-8")


def sandbox_headers(inspector_origin: str) -> dict[str, str]:
    """The sandbox page's headers: framed by the inspector only. Its policy stays this short
    because a widget's frame inherits it; each widget gets its own strict policy from the page."""
    return {
        "Content-Type": HTML_TYPE,
        "Content-Security-Policy": f"frame-ancestors {inspector_origin}; object-src 'none'; base-uri 'none'",
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class SandboxApp:
    """ASGI: the sandbox API as deployed (a MOCK answering GET on every path with the page).

    Any other method gets API Gateway's 403 "Missing Authentication Token" for an undeclared
    method, as on the deployed API.
    """

    def __init__(self, inspector_origin: str) -> None:
        self._body = sandbox_page().encode()
        self._headers = sandbox_headers(inspector_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.responses import Response

        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            response = Response(self._body, headers=self._headers)
        else:
            response = Response(
                b'{"message":"Missing Authentication Token"}',
                status_code=403,
                headers={"Content-Type": JSON_TYPE},
            )
        await response(scope, receive, send)
