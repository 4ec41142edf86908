"""Fetching Client ID Metadata Documents over real TLS on 127.0.0.1.

A certificate authority and a server certificate for ``client.example.test`` are made at test time;
only the fetcher under test is told to trust that CA. A fake resolver maps the test hostnames to
127.0.0.1 (with ``allow_loopback=True``, the local-stack setting), so the connection, SNI, ``Host``
header and certificate check are the real ones.

Sources: draft-ietf-oauth-client-id-metadata-document-03, "Client Information Discovery" (the
authorization server fetches the document at the ``client_id`` URL, does not follow redirects, wants
a 200 JSON response whose ``client_id`` equals that URL, and caches per HTTP cache headers) and its
security considerations (SSRF; a maximum response size, 5 kilobytes suggested); RFC 9111 §5.2.2
(``max-age``, ``no-store``, ``no-cache``); the MCP 2025-11-25 authorization specification's CIMD
section (SSRF protections when fetching client metadata).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.oauth.cimd import CimdError, CimdFetcher

HOST = "client.example.test"
NAMES_IN_CERTIFICATE = (HOST, "localhost")


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a leaf certificate for the test hostnames (keys never leave tmp)."""
    folder = tmp_path_factory.mktemp("cimd-pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("cimd test CA"))
        .issuer_name(_name("cimd test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in NAMES_IN_CERTIFICATE]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pki


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    drip_seconds: float = 0.0  # pause between single bytes of the body
    drip_head: bool = False  # drip the status line and headers too
    chunked: bool = False


@dataclass
class DocServer:
    """An HTTPS server on 127.0.0.1 that serves `routes` and records what reached it."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    connections: int = 0
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, host: str = HOST) -> str:
        return f"https://{host}:{self.port}{path}"

    def serve_document(self, path: str, host: str = HOST, **fields: Any) -> str:
        """Serve a valid CIMD document at `path`; returns its client_id."""
        client_id = self.url(path, host)
        document = {
            "client_id": client_id,
            "client_name": "Test MCP Client",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }
        document.update(fields)
        self.routes[path] = Route(body=json.dumps(document).encode())
        return client_id


class _Handler(BaseHTTPRequestHandler):
    server: _TlsServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append((self.path, self.headers.get("Host")))
        route = state.routes.get(self.path, Route(status=404, body=b"{}"))
        try:
            if route.drip_head:
                head = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"p" * 4000 + b"\r\n\r\n"
                for index in range(len(head)):
                    self.wfile.write(head[index : index + 1])
                    self.wfile.flush()
                    time.sleep(route.drip_seconds)
                return
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.chunked:
                for start in range(0, len(route.body), 1000):
                    piece = route.body[start : start + 1000]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif route.drip_seconds:
                for index in range(len(route.body)):
                    self.wfile.write(route.body[index : index + 1])
                    self.wfile.flush()
                    time.sleep(route.drip_seconds)
            else:
                self.wfile.write(route.body)
        except OSError:
            pass  # the client gave up (deadline, size limit): expected in those tests


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext, state_factory: Callable[[int], DocServer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.state = state_factory(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.state.lock:
            self.state.connections += 1
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate: part of some tests
        super().finish_request(tls, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def server(pki: Pki) -> Iterator[DocServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    sni: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    httpd = _TlsServer(context, lambda port: DocServer(port=port, sni=sni))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Resolver:
    """Maps every test hostname to `answers` (call by call, the last repeating) and counts calls."""

    answers: list[list[str]] = field(default_factory=lambda: [["127.0.0.1"]])
    calls: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return list(self.answers[min(len(self.calls), len(self.answers)) - 1])


@pytest.fixture
def trust(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_file))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _fetcher(trust: ssl.SSLContext, resolver: Resolver | None = None, **kwargs: Any) -> CimdFetcher:
    return CimdFetcher(resolver=resolver or Resolver(), ssl_context=trust, allow_loopback=True, **kwargs)


def test_a_valid_document_is_fetched_with_the_hostname_in_sni_and_host(
    server: DocServer, trust: ssl.SSLContext
) -> None:
    client_id = server.serve_document("/oauth/client.json")
    fetched = _fetcher(trust).fetch(client_id)
    assert fetched.metadata.client_id == client_id
    assert fetched.metadata.redirect_uris == ("http://127.0.0.1/callback",)
    assert fetched.metadata.display_name == "Test MCP Client"
    assert server.requests == [("/oauth/client.json", f"{HOST}:{server.port}")]
    assert server.sni == [HOST]


def test_the_query_of_the_client_id_is_sent(server: DocServer, trust: ssl.SSLContext) -> None:
    client_id = server.serve_document("/m?v=2")
    assert _fetcher(trust).fetch(client_id).metadata.client_id == client_id
    assert server.requests[0][0] == "/m?v=2"


def test_the_host_is_resolved_once_and_a_rebinding_answer_is_never_used(
    server: DocServer, trust: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first answer is checked and dialled; the attacker's second (metadata IP) is never asked for."""
    client_id = server.serve_document("/rebind.json")
    resolver = Resolver(answers=[["127.0.0.1"], ["169.254.169.254"]])
    real_getaddrinfo = socket.getaddrinfo

    def no_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        ipaddress.ip_address(host)  # only IP literals: a second DNS lookup of the name would fail here
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    fetched = _fetcher(trust, resolver).fetch(client_id)
    assert fetched.metadata.client_id == client_id
    assert resolver.calls == [HOST]
    assert server.connections == 1


def test_a_certificate_for_another_name_is_refused(server: DocServer, trust: ssl.SSLContext) -> None:
    client_id = server.serve_document("/m.json", host="impostor.example.test")
    with pytest.raises(CimdError, match="certificate"):
        _fetcher(trust).fetch(client_id)
    assert server.requests == []


def test_a_certificate_from_an_untrusted_ca_is_refused(server: DocServer) -> None:
    client_id = server.serve_document("/m.json")
    fetcher = CimdFetcher(resolver=Resolver(), allow_loopback=True)  # system trust only
    with pytest.raises(CimdError, match="certificate"):
        fetcher.fetch(client_id)
    assert server.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_refused_not_followed(server: DocServer, trust: ssl.SSLContext, status: int) -> None:
    target = server.serve_document("/real.json")
    server.routes["/moved.json"] = Route(status=status, headers={"Location": target})
    with pytest.raises(CimdError, match="redirect"):
        _fetcher(trust).fetch(server.url("/moved.json"))
    assert [path for path, _ in server.requests] == ["/moved.json"]


def test_a_document_whose_client_id_differs_from_its_url_is_refused(
    server: DocServer, trust: ssl.SSLContext
) -> None:
    server.serve_document("/m.json", client_id=server.url("/other.json"))
    with pytest.raises(CimdError, match="client_id must equal"):
        _fetcher(trust).fetch(server.url("/m.json"))


@pytest.mark.parametrize("chunked", [False, True])
def test_a_6_kb_document_is_refused(server: DocServer, trust: ssl.SSLContext, chunked: bool) -> None:
    client_id = server.serve_document("/big.json", padding="x" * 6 * 1024)
    server.routes["/big.json"].chunked = chunked
    with pytest.raises(CimdError, match="larger than 5120 bytes"):
        _fetcher(trust).fetch(client_id)


def test_a_document_dripped_slower_than_the_deadline_is_refused(
    server: DocServer, trust: ssl.SSLContext
) -> None:
    client_id = server.serve_document("/slow.json")
    server.routes["/slow.json"].drip_seconds = 0.05  # each byte on time, the whole far too late
    with pytest.raises(CimdError, match="too long"):
        _fetcher(trust, timeout_seconds=0.5).fetch(client_id)


def test_response_headers_dripped_slower_than_the_deadline_are_refused(
    server: DocServer, trust: ssl.SSLContext
) -> None:
    server.routes["/slow-head.json"] = Route(drip_seconds=0.05, drip_head=True)
    with pytest.raises(CimdError, match="too long"):
        _fetcher(trust, timeout_seconds=0.5).fetch(server.url("/slow-head.json"))


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(status=404, body=b"{}"), "HTTP 404"),
        (Route(status=500, body=b"{}"), "HTTP 500"),
        (Route(body=b"{}", headers={"Content-Type": "text/html"}), "application/json"),
        (Route(body=b"{}", headers={}), "application/json"),
        (Route(body=b"not json"), "not valid JSON"),
        (Route(body=b"[1, 2]"), "not a JSON object"),
        (Route(body=b'{"client_id": "a", "client_id": "b"}'), "not valid JSON"),
        (
            Route(body=b"{}", headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}),
            "content-encoded",
        ),
    ],
)
def test_unusable_responses_are_refused(
    server: DocServer, trust: ssl.SSLContext, route: Route, message: str
) -> None:
    server.routes["/m.json"] = route
    with pytest.raises(CimdError, match=message) as caught:
        _fetcher(trust).fetch(server.url("/m.json"))
    assert "not json" not in caught.value.description


def test_a_charset_parameter_on_the_content_type_is_fine(server: DocServer, trust: ssl.SSLContext) -> None:
    client_id = server.serve_document("/m.json")
    server.routes["/m.json"].headers["Content-Type"] = "application/json; charset=utf-8"
    assert _fetcher(trust).fetch(client_id).metadata.client_id == client_id


def test_a_document_with_an_open_redirect_uri_is_refused(server: DocServer, trust: ssl.SSLContext) -> None:
    client_id = server.serve_document("/m.json", redirect_uris=["http://evil.example/cb"])
    with pytest.raises(CimdError) as caught:
        _fetcher(trust).fetch(client_id)
    assert caught.value.error == "invalid_redirect_uri"


def _hits(server: DocServer) -> int:
    return len(server.requests)


@pytest.mark.parametrize(
    ("cache_control", "fresh_for", "stale_at"),
    [
        ("public, max-age=60", 59.0, 60.0),
        ("max-age=999999", 3599.0, 3600.0),  # capped by max_cache_seconds
        (None, 299.0, 300.0),  # default_cache_seconds
    ],
)
def test_documents_are_cached_per_cache_control(
    server: DocServer, trust: ssl.SSLContext, cache_control: str | None, fresh_for: float, stale_at: float
) -> None:
    client_id = server.serve_document("/m.json")
    if cache_control is not None:
        server.routes["/m.json"].headers["Cache-Control"] = cache_control
    clock = Clock()
    fetcher = _fetcher(trust, clock=clock, max_cache_seconds=3600)
    first = fetcher.fetch(client_id)
    assert first.fresh_until == clock.now + stale_at
    clock.now += fresh_for
    assert fetcher.fetch(client_id) is first
    assert _hits(server) == 1
    clock.now = first.fetched_at + stale_at
    assert fetcher.fetch(client_id) is not first
    assert _hits(server) == 2


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache", "max-age=0", "private, no-store"])
def test_documents_marked_uncacheable_are_fetched_every_time(
    server: DocServer, trust: ssl.SSLContext, cache_control: str
) -> None:
    client_id = server.serve_document("/m.json")
    server.routes["/m.json"].headers["Cache-Control"] = cache_control
    fetcher = _fetcher(trust, clock=Clock())
    fetcher.fetch(client_id)
    fetcher.fetch(client_id)
    assert _hits(server) == 2


def test_the_cache_is_bounded_least_recently_used_first(server: DocServer, trust: ssl.SSLContext) -> None:
    first, second = server.serve_document("/a.json"), server.serve_document("/b.json")
    fetcher = _fetcher(trust, clock=Clock(), cache_size=1)
    fetcher.fetch(first)
    fetcher.fetch(second)  # evicts first
    fetcher.fetch(second)  # cached
    fetcher.fetch(first)  # fetched again
    assert [path for path, _ in server.requests] == ["/a.json", "/b.json", "/a.json"]


def test_a_refused_document_is_not_cached(server: DocServer, trust: ssl.SSLContext) -> None:
    server.serve_document("/m.json", client_id="https://elsewhere.example.test/m.json")
    fetcher = _fetcher(trust, clock=Clock())
    for _ in range(2):
        with pytest.raises(CimdError):
            fetcher.fetch(server.url("/m.json"))
    assert _hits(server) == 2


def test_concurrent_fetches_are_safe(server: DocServer, trust: ssl.SSLContext) -> None:
    client_ids = [server.serve_document(f"/c{i}.json") for i in range(4)]
    fetcher = _fetcher(trust, clock=Clock(), cache_size=2)
    errors: list[BaseException] = []

    def work(client_id: str) -> None:
        try:
            for _ in range(3):
                assert fetcher.fetch(client_id).metadata.client_id == client_id
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(client_ids[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
