"""A loopback HTTP proxy in front of one upstream that fails on purpose: the fault matrix's switch.

The local stack's functions reach SSM, Secrets Manager and the issuer's JWKS through one of
these when fault injection is on (`devtools.faults`), so a test can make exactly one
dependency misbehave while everything else stays real: botocore's own retries, timeouts and
connection pool, urllib's JWKS fetch, the authorizer's caches and back-offs. A `Fault` says how:

- `refuse`: the listening socket is closed and open connections are shut, so a new connection
  is refused (ECONNREFUSED) as when the service is down; when the fault ends the proxy listens
  again on the same port;
- `delay`: every request is held `seconds` before it is passed on (a slow dependency, beyond a
  caller's timeout);
- `respond`: every request gets the same canned answer instead of the upstream's (a throttling
  error, or a JWKS that is not one).

With no fault, requests and answers pass through unchanged (one upstream request per request).
When the upstream itself cannot be reached (the local AWS is restarting), the client's
connection is closed without an answer, as a server that went away closes it.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal
from urllib.parse import urlsplit

FaultKind = Literal["refuse", "delay", "respond"]

# Hop-by-hop headers (RFC 9110 §7.6.1) and framing: the proxy frames its own answer.
_NOT_FORWARDED: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)
_UPSTREAM_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Fault:
    """How the proxy misbehaves; see the module docstring for each kind."""

    kind: FaultKind
    seconds: float = 0.0
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if self.kind == "delay" and self.seconds <= 0:
            raise ValueError("a delay fault needs seconds > 0")


@dataclass
class ProxyCounts:
    """What the proxy saw: requests passed to the upstream, and requests answered by a fault."""

    passed: int = 0
    faulted: int = 0
    upstream_failures: int = 0

    def as_json(self) -> dict[str, int]:
        return {"passed": self.passed, "faulted": self.faulted, "upstream_failures": self.upstream_failures}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Rebinding the same port after a `refuse` must not wait for TIME_WAIT sockets to expire.
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._closed(self.connection)

    def do_GET(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        proxy = self.server.proxy
        fault = proxy.fault
        if fault is not None:
            proxy._count("faulted")  # on arrival: a delayed request counts before its caller gives up
        if fault is not None and fault.kind == "refuse":
            # A connection opened before the fault: the service went away under it.
            self.close_connection = True
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "respond":
            self._answer(fault.status, fault.headers, fault.body)
            return
        try:
            status, headers, answer = proxy._forward(self.command, self.path, self.headers.items(), body)
        except OSError:
            proxy._count("upstream_failures")
            self.close_connection = True
            return
        if fault is None:
            proxy._count("passed")
        self._answer(status, headers, answer)

    def _answer(self, status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
        try:
            self.send_response_only(status)
            for name, value in headers:
                if name.lower() not in _NOT_FORWARDED and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the caller gave up (its timeout) before a delayed answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return  # request lines are noise in the stack's log


@dataclass
class FaultProxy:
    """The proxy for one upstream (`http://host:port`), on 127.0.0.1 at a port fixed for its life."""

    upstream: str
    name: str = "proxy"
    _fault: Fault | None = field(default=None, init=False)
    _counts: ProxyCounts = field(default_factory=ProxyCounts, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _connections: set[socket.socket] = field(default_factory=set, init=False)
    _server: _Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    port: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError("FaultProxy.upstream must be http://host:port (loopback services only)")
        self._upstream_host, self._upstream_port = parts.hostname, parts.port or 80

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fault(self) -> Fault | None:
        return self._fault

    def counts(self) -> ProxyCounts:
        with self._lock:
            return ProxyCounts(**self._counts.as_json())

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def set_fault(self, fault: Fault | None) -> None:
        """Switch to `fault` (None: pass everything through); takes effect for the next request."""
        with self._lock:
            previous, self._fault = self._fault, fault
        refusing = fault is not None and fault.kind == "refuse"
        was_refusing = previous is not None and previous.kind == "refuse"
        if refusing and not was_refusing:
            self._stop_listening()
        elif was_refusing and not refusing:
            self._listen()

    def stop(self) -> None:
        self._stop_listening()

    def _listen(self) -> None:
        server = _Server(("127.0.0.1", self.port), self)
        self.port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fault-proxy-{self.name}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()  # the port stops accepting: new connections are refused
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by its peer
                connection.shutdown(socket.SHUT_RDWR)

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        connection = http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=_UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _NOT_FORWARDED:
                    connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            return response.status, tuple(response.getheaders()), response.read()
        finally:
            connection.close()

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self._counts, what, getattr(self._counts, what) + 1)

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
