"""What the OAuth end-to-end tests share: a test PKI, an https document server, a headless browser,
the stack process, and the audit trail as the stack ships it.

Nothing here is a secret kept anywhere: the CA and the server key are generated per test module
into its temporary folder, and the stack trusts the CA only because the test tells it to
(`LocalStackOptions.cimd_trusted_ca`).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from tests.e2e.conftest import local_logs_client, stack_process

# ---------------------------------------------------------------------------------------------
# A CA and a server certificate for "localhost" and 127.0.0.1, made at test time.


@dataclass(frozen=True)
class TestPki:
    ca_path: Path
    cert_path: Path
    key_path: Path


def make_pki(folder: Path) -> TestPki:
    """A CA and a leaf for localhost/127.0.0.1 signed by it (EC P-256, valid for one day)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "serverless-mcp e2e test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pki = TestPki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    fd = os.open(pki.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return pki


# ---------------------------------------------------------------------------------------------
# Client ID metadata documents over https on 127.0.0.1.


@dataclass(frozen=True)
class Served:
    """One answer of the document server: status, headers, body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    # Send the body one byte per this many seconds (a slow-drip server).
    drip_seconds: float = 0.0

    @classmethod
    def json(cls, document: Mapping[str, Any], **headers: str) -> Served:
        return cls(200, json.dumps(document).encode(), {"Content-Type": "application/json", **headers})


class DocumentServer:
    """An https server on 127.0.0.1 answering each path with what the test put there."""

    def __init__(self, pki: TestPki) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                served = routes.get(self.path, Served(404, b"{}", {"Content-Type": "application/json"}))
                self.send_response(served.status)
                for name, value in served.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                if not served.drip_seconds:
                    self.wfile.write(served.body)
                    return
                for index in range(len(served.body)):
                    try:
                        self.wfile.write(served.body[index : index + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up, as it should
                        return
                    time.sleep(served.drip_seconds)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.cert_path, pki.key_path)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="cimd-server", daemon=True)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def __enter__(self) -> DocumentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------------------------------------
# The stack, in its own process.


@contextmanager
def oauth_stack(
    state_dir: Path,
    *,
    cimd_ca: Path | None,
    auto_approve: bool = True,
    sso: Mapping[str, str] | None = None,
    tool_modules: Sequence[str] = (),
    authorizer_ttl: float = 0,
) -> Iterator[dict[str, Any]]:
    """A local stack with the test options (see tests/e2e/oauth_harness.py); its credentials."""
    command = [sys.executable, "-m", "tests.e2e.oauth_harness", "--state-dir", str(state_dir)]
    for module in tool_modules:
        command += ["--tool-module", module]
    if cimd_ca is not None:
        command += ["--cimd-ca", str(cimd_ca)]
    if auto_approve:
        command.append("--auto-approve")
    for name, value in (sso or {}).items():
        command += ["--sso", f"{name}={value}"]
    if authorizer_ttl:
        command += ["--authorizer-ttl", str(authorizer_ttl)]
    with stack_process(command, state_dir, "credentials.json") as process:
        state: dict[str, Any] = json.loads((state_dir / "credentials.json").read_text())
        state["state_dir"] = str(state_dir)
        state["log_path"] = str(state_dir / "stack.log")
        state["pid"] = process.pid
        yield state


def set_dev_user(stack: Mapping[str, Any], *, enabled: bool) -> None:
    """Disable or enable the dev user at the dev issuer (the harness's signals), and wait for it."""
    marker = Path(stack["state_dir"]) / ("user-enabled" if enabled else "user-disabled")
    os.kill(int(stack["pid"]), signal.SIGUSR2 if enabled else signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not marker.exists():
        if time.monotonic() > deadline:
            raise AssertionError("the stack did not acknowledge the dev user change")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# A headless browser: follows the sign-in, approves (or denies) the consent page.


class _Forms(HTMLParser):
    """The forms of a page: action, method, hidden fields, and the submit buttons' name/value."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": values.get("action", ""),
                    "method": values.get("method", "get"),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif self.forms and tag == "input" and values.get("type", "text") == "hidden":
            self.forms[-1]["fields"][values.get("name", "")] = values.get("value", "")
        elif (
            self.forms
            and tag in ("button", "input")
            and values.get("type", "submit") == "submit"
            and "name" in values
        ):
            self.forms[-1]["buttons"].append((values["name"], values.get("value", "")))


def page_form(html: str) -> dict[str, Any]:
    parser = _Forms()
    parser.feed(html)
    if len(parser.forms) != 1:
        raise AssertionError(f"expected one form on the page, found {len(parser.forms)}")
    return parser.forms[0]


@dataclass
class Browser:
    """One user agent (its own cookie jar) that signs in and stops at the client's redirect URI."""

    http: httpx2.AsyncClient
    decision: str = "approve"
    pages: list[httpx2.Response] = field(default_factory=list)
    # Change the consent form before it is posted (a test tampering with the CSRF value, …).
    tamper: Callable[[dict[str, str]], None] | None = None

    async def sign_in(self, url: str, redirect_prefix: str) -> str:
        """Follow `url` through consent and the upstream login until a redirect to `redirect_prefix`."""
        response = await self.http.get(url)
        for _ in range(10):
            self.pages.append(response)
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_prefix):
                    return location
                response = await self.http.get(location)
            elif response.status_code == 200 and "<form" in response.text:
                response = await self._submit(response)
            else:
                raise SignInStopped(response)
        raise AssertionError("the sign-in did not end within 10 steps")

    async def _submit(self, page: httpx2.Response) -> httpx2.Response:
        form = page_form(page.text)
        fields = dict(form["fields"])
        buttons = dict(form["buttons"])
        button_name = next((name for name, value in form["buttons"] if value == self.decision), None)
        if button_name is None:
            raise AssertionError(f"no {self.decision!r} button on the page: {sorted(buttons)}")
        fields[button_name] = self.decision
        if self.tamper is not None:
            self.tamper(fields)
        action = urljoin(str(page.url), form["action"] or str(page.url))
        return await self.http.post(action, data=fields)


class SignInStopped(Exception):
    """The sign-in ended on a page that is neither a redirect nor a form (an error page)."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(f"sign-in stopped with {response.status_code}")
        self.response = response


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a redirect (each once)."""
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


# ---------------------------------------------------------------------------------------------
# The audit trail as the stack ships it to its (moto) CloudWatch Logs group.


def audit_records(stack: Mapping[str, Any]) -> list[dict[str, Any]]:
    logs = local_logs_client(dict(stack))
    records: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": stack["audit_log_group"]}
    while True:
        page = logs.filter_log_events(**kwargs)
        records.extend(json.loads(event["message"]) for event in page["events"])
        if not page.get("nextToken"):
            return records
        kwargs["nextToken"] = page["nextToken"]


def wait_for_audit(
    stack: Mapping[str, Any], match: Callable[[dict[str, Any]], bool], *, after: int = 0, seconds: float = 10
) -> dict[str, Any]:
    """The newest shipped audit record `match` accepts once more than `after` of them were shipped
    (the stack ships every 0.5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        found = [record for record in audit_records(stack) if match(record)]
        if len(found) > after:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError("no matching audit event was shipped")
        time.sleep(0.25)


# ---------------------------------------------------------------------------------------------
# The SDK's own OAuth client, signing in headlessly through `Browser`.


class MemoryStorage:
    """The SDK's `TokenStorage`, in memory, recording every token it was given."""

    def __init__(self) -> None:
        self.tokens: list[OAuthToken] = []
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens[-1] if self.tokens else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


# A loopback redirect URI (RFC 8252 §7.3): nothing listens there; the browser stops at it.
REDIRECT_URI = "http://127.0.0.1:33418/callback"


@dataclass
class SignedInClient:
    client: Client
    provider: OAuthClientProvider
    storage: MemoryStorage
    browser: Browser
    exchanges: list[tuple[str, str, int]]


@asynccontextmanager
async def signed_in_client(
    stack: Mapping[str, Any],
    *,
    client_metadata_url: str | None = None,
    mode: str = "2026-07-28",
    client_name: str = "serverless-mcp e2e",
    server_url: str | None = None,
) -> AsyncIterator[SignedInClient]:
    """The SDK client with its `OAuthClientProvider`, the browser approving every consent page.

    `server_url`: the MCP server to sign in for and connect to (default: the primary, `mcp_url`).
    """
    url = server_url or stack["mcp_url"]
    codes: asyncio.Queue[str] = asyncio.Queue()
    exchanges: list[tuple[str, str, int]] = []

    async def record(response: httpx2.Response) -> None:
        exchanges.append((response.request.method, str(response.request.url), response.status_code))

    async with httpx2.AsyncClient(timeout=30) as browser_http:
        browser = Browser(browser_http)

        async def redirect_handler(url: str) -> None:
            codes.put_nowait(await browser.sign_in(url, REDIRECT_URI))

        async def callback_handler() -> AuthorizationCodeResult:
            query = query_of(await codes.get())
            return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

        storage = MemoryStorage()
        provider = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name=client_name,
                redirect_uris=[AnyUrl(REDIRECT_URI)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
            client_metadata_url=client_metadata_url,
        )
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [record]}) as http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            yield SignedInClient(client, provider, storage, browser, exchanges)
