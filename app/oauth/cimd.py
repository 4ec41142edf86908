"""Client ID Metadata Documents: fetch the client's own description from its https client_id, safely.

With CIMD (draft-ietf-oauth-client-id-metadata-document; the MCP 2025-11-25 authorization spec's
preferred registration) a client's ``client_id`` is an https URL, and the front GETs it to learn the
client's name and redirect URIs. That makes the front fetch URLs chosen by anyone on the internet:
server-side request forgery unless every step is pinned down. Here:

* only ``https`` URLs of the shape the draft allows (:func:`is_cimd_client_id`);
* the host is resolved ONCE; if ANY answer is a non-public address (private, loopback, link-local,
  CGNAT, multicast, reserved, the cloud metadata addresses, or an IPv6 form that embeds one of
  those), nothing is fetched; then the connection goes to that checked address, with the hostname
  only in SNI, certificate verification and ``Host``: a DNS answer that changes between check and
  connect (rebinding) is never asked for;
* no redirects, status 200 only, ``application/json`` only, at most ``max_bytes`` (the draft
  suggests 5 KB), one overall deadline for connect + TLS + request + every read, so a server that
  drips bytes cannot hold the Lambda; no proxy from the environment (``http.client`` reads none);
* the document goes through :func:`~app.oauth.client_metadata.parse_client_metadata` (its
  ``client_id`` must equal the URL) and is cached in memory per its ``Cache-Control``, bounded;
* a refusal is remembered too (``negative_cache_seconds``, bounded): a URL that failed is not
  fetched again on every request that names it, so the front cannot be made to hammer a host
  (or to spend its time on a slow one) by repeating one request. Different URLs are the caller's
  to bound: ``fetch`` runs its ``before_download`` hook (a per-address rate limit) only when a
  download is really about to happen.

Error descriptions are fixed sentences: never the body, never a header value.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from app.oauth.client_metadata import ClientMetadata, ClientMetadataError, parse_client_metadata

__all__ = ["CimdError", "CimdFetcher", "FetchedClient", "Resolver", "is_cimd_client_id", "is_public_address"]

Resolver = Callable[[str, int], list[str]]
"""``resolver(host, port) -> IP address strings``, all of them, in connection order."""

MAX_CLIENT_ID_LENGTH: Final = 2000
CIMD_REFUSAL_SECONDS: Final = 60.0
"""How long the front refuses a client_id whose document was refused, without fetching it again."""
_USER_AGENT: Final = "serverless-mcp-oauth-front (client-id-metadata-document)"
# Printable ASCII except space and the characters a browser or parser would repair differently.
_URL_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")
_DOT_SEGMENT: Final = re.compile(r"(?:\.|%2e){1,2}", re.IGNORECASE)
_MAX_AGE: Final = re.compile(r"max-age\s*=\s*\"?(\d{1,10})\"?", re.IGNORECASE)
_READ_CHUNK: Final = 1024

# Never a client's web server: cloud metadata, local and special-purpose ranges (IANA special
# registries), listed explicitly so the answer doesn't depend on the Python version's
# `is_global` table. Embedded IPv4 forms (mapped, 6to4, NAT64) are unwrapped before this check.
_FORBIDDEN_NETWORKS: Final = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT (RFC 6598)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 (EC2/ECS/Lambda metadata)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/8",  # unspecified, loopback, IPv4-compatible
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "100::/64",
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32
        "2001:db8::/32",
        "fc00::/7",  # unique local, incl. fd00:ec2::254 (EC2 IPv6 metadata)
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class CimdError(Exception):
    """The client's metadata document could not be used.

    Attributes:
        description: why, in one fixed sentence safe to show and log (no body, no header values).
        error: the OAuth error code for the front to return (``invalid_client``).
    """

    def __init__(self, description: str, *, error: str = "invalid_client") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


@dataclass(frozen=True)
class FetchedClient:
    """A validated document and how long it may be used without fetching it again."""

    metadata: ClientMetadata
    fetched_at: float
    fresh_until: float


def is_cimd_client_id(client_id: str) -> bool:
    """True when ``client_id`` is a URL the draft allows as a client identifier.

    https, a host, a path other than ``/``, no fragment, no userinfo, no ``.``/``..`` segments (also
    percent-encoded), printable ASCII only, at most :data:`MAX_CLIENT_ID_LENGTH` characters. A query
    is allowed (discouraged by the draft, not forbidden).
    """
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        return False
    if _URL_CHARACTERS.fullmatch(client_id) is None or not client_id.startswith("https://"):
        return False
    try:
        parts = urlsplit(client_id)
        port = parts.port
    except ValueError:
        return False
    if not parts.hostname or "@" in parts.netloc or parts.netloc.endswith(":") or port == 0:
        return False
    if "%" in parts.netloc or parts.path in ("", "/"):
        return False
    return not any(_DOT_SEGMENT.fullmatch(segment) for segment in parts.path.split("/"))


def is_public_address(address: str, *, allow_loopback: bool = False) -> bool:
    """True when ``address`` (an IP string) is one a client's public web server could have.

    IPv6 forms embedding an IPv4 address (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64
    ``64:ff9b::/96``) are judged by that IPv4 address. With ``allow_loopback`` (tests and the local
    stack only) loopback addresses are allowed; private and link-local ones never are.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # also refuses IPv6 zone ids such as fe80::1%eth0
        return False
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public_address(str(embedded), allow_loopback=allow_loopback)
    if allow_loopback and ip.is_loopback:
        return True
    if any(ip.version == network.version and ip in network for network in _FORBIDDEN_NETWORKS):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_private)


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (TCP), without duplicates, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CimdFetcher:
    """Fetch, validate and cache Client ID Metadata Documents. Thread-safe; one per container.

    Args:
        timeout_seconds: the whole fetch (connect, TLS, request, headers, body) must finish in this.
        max_bytes: largest document accepted (the draft suggests 5 KB).
        resolver: ``(host, port) -> [ip, ...]``; injected by tests. Called once per fetch.
        ssl_context: trust for the document's certificate; default the system's. It must verify
            certificates and hostnames.
        allow_loopback: accept loopback addresses (tests, the local stack); never private ones.
        clock: epoch seconds for cache freshness; injected by tests.
        default_cache_seconds: freshness of a document served without ``Cache-Control``.
        max_cache_seconds: cap on ``max-age``.
        cache_size: documents kept (least recently used dropped first).
        negative_cache_seconds: how long a refused client_id is refused without a new fetch
            (0, the default, remembers nothing; the front sets ``CIMD_REFUSAL_SECONDS``).
        negative_cache_size: refusals kept (least recently used dropped first).
    """

    def __init__(
        self,
        *,
        timeout_seconds: float = 3.0,
        max_bytes: int = 5120,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        allow_loopback: bool = False,
        clock: Callable[[], float] = time.time,
        default_cache_seconds: int = 300,
        max_cache_seconds: int = 86400,
        cache_size: int = 256,
        negative_cache_seconds: float = 0.0,
        negative_cache_size: int = 1024,
    ) -> None:
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
        if ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname:
            raise ValueError("the CIMD fetcher's TLS context must verify certificates and hostnames")
        if timeout_seconds <= 0 or max_bytes <= 0 or cache_size < 1 or negative_cache_size < 1:
            raise ValueError("timeout_seconds, max_bytes and the cache sizes must be positive")
        self._timeout = float(timeout_seconds)
        self._max_bytes = int(max_bytes)
        self._resolver = resolver or system_resolver
        self._context = ssl_context
        self._allow_loopback = allow_loopback
        self._clock = clock
        self._default_cache = max(0, int(default_cache_seconds))
        self._max_cache = max(0, int(max_cache_seconds))
        self._cache_size = int(cache_size)
        self._cache: OrderedDict[str, FetchedClient] = OrderedDict()
        self._negative_seconds = max(0.0, float(negative_cache_seconds))
        self._negative_size = int(negative_cache_size)
        self._refused: OrderedDict[str, tuple[float, CimdError]] = OrderedDict()
        self._lock = threading.Lock()

    def fetch(self, client_id: str, *, before_download: Callable[[], None] | None = None) -> FetchedClient:
        """The validated metadata of ``client_id``, from the cache while fresh; else fetched now.

        A client_id refused within the last ``negative_cache_seconds`` is refused again with the
        same error, without a fetch. ``before_download`` runs only when a download is about to
        start (nothing cached either way); whatever it raises propagates and nothing is fetched.
        """
        if not is_cimd_client_id(client_id):
            raise CimdError("client_id is not a valid client ID metadata document URL")
        with self._lock:
            cached = self._cache.get(client_id)
            now = self._clock()
            if cached is not None and now < cached.fresh_until:
                self._cache.move_to_end(client_id)
                return cached
            refused = self._refused.get(client_id)
            if refused is not None:
                if now < refused[0]:
                    self._refused.move_to_end(client_id)
                    raise CimdError(refused[1].description, error=refused[1].error)
                del self._refused[client_id]
        if before_download is not None:
            before_download()
        try:
            fetched = self._fetch_and_parse(client_id)
        except CimdError as error:
            self._remember_refusal(client_id, error)
            raise
        with self._lock:
            self._refused.pop(client_id, None)
            if fetched.fresh_until > fetched.fetched_at:
                self._cache[client_id] = fetched
                self._cache.move_to_end(client_id)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.pop(client_id, None)
        return fetched

    def _remember_refusal(self, client_id: str, error: CimdError) -> None:
        if self._negative_seconds <= 0:
            return
        with self._lock:
            self._cache.pop(client_id, None)  # a document that stopped validating is not served
            self._refused[client_id] = (self._clock() + self._negative_seconds, error)
            self._refused.move_to_end(client_id)
            while len(self._refused) > self._negative_size:
                self._refused.popitem(last=False)

    def _fetch_and_parse(self, client_id: str) -> FetchedClient:
        document, cache_control = self._download(client_id)
        try:
            metadata = parse_client_metadata(document, client_id=client_id, source="cimd")
        except ClientMetadataError as exc:
            raise CimdError(f"client metadata document: {exc.description}", error=exc.error) from None
        fetched_at = self._clock()
        return FetchedClient(metadata, fetched_at, fetched_at + self._freshness(cache_control))

    def clear(self) -> None:
        """Forget every cached document and refusal."""
        with self._lock:
            self._cache.clear()
            self._refused.clear()

    def _freshness(self, cache_control: str | None) -> float:
        """Seconds the document stays fresh (RFC 9111 §5.2.2: no-store/no-cache, max-age)."""
        if cache_control is None:
            return float(min(self._default_cache, self._max_cache))
        directives = {part.strip().split("=", 1)[0].strip().lower() for part in cache_control.split(",")}
        if directives & {"no-store", "no-cache"}:
            return 0.0
        match = _MAX_AGE.search(cache_control)
        if match is None:
            return float(min(self._default_cache, self._max_cache)) if "max-age" not in directives else 0.0
        return float(min(int(match.group(1)), self._max_cache))

    def _download(self, client_id: str) -> tuple[dict[str, Any], str | None]:
        deadline = time.monotonic() + self._timeout
        parts = urlsplit(client_id)
        host = parts.hostname or ""
        port = parts.port or 443
        addresses = self._resolve(host, port)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = _PinnedHTTPSConnection(host, port, addresses, self._context, deadline)
        response: http.client.HTTPResponse | None = None
        try:
            connection.request(
                "GET",
                target,
                headers={
                    "Accept": "application/json",
                    "Accept-Encoding": "identity",
                    "User-Agent": _USER_AGENT,
                },
            )
            response = connection.getresponse()
            if 300 <= response.status < 400:
                raise CimdError("the client_id URL answered with a redirect; redirects are not followed")
            if response.status != 200:
                raise CimdError(f"the client_id URL answered HTTP {response.status}, not 200")
            if response.headers.get_content_type() != "application/json":
                raise CimdError("the client metadata document is not served as application/json")
            if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
                raise CimdError("the client metadata document must not be content-encoded")
            body = self._read_body(response)
            cache_control = response.headers.get("Cache-Control")
        except CimdError:
            raise
        except ssl.SSLCertVerificationError:
            raise CimdError("the client_id host's TLS certificate could not be verified") from None
        except TimeoutError:
            raise CimdError("fetching the client metadata document took too long") from None
        except (OSError, http.client.HTTPException, ValueError):
            raise CimdError("the client metadata document could not be fetched") from None
        finally:
            if response is not None:
                response.close()
            connection.close()
        return _parse_json_object(body), cache_control

    def _resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, resolved once; all must be public or nothing is fetched."""
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            try:
                addresses = list(self._resolver(host, port))
            except (OSError, UnicodeError, ValueError):
                raise CimdError("the client_id host could not be resolved") from None
        if not addresses:
            raise CimdError("the client_id host could not be resolved")
        if not all(
            isinstance(address, str) and is_public_address(address, allow_loopback=self._allow_loopback)
            for address in addresses
        ):
            raise CimdError("the client_id host resolves to a non-public address; refusing to fetch it")
        return addresses

    def _read_body(self, response: http.client.HTTPResponse) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self._max_bytes:
            raise CimdError(f"the client metadata document is larger than {self._max_bytes} bytes")
        body = bytearray()
        while chunk := response.read(_READ_CHUNK):
            body += chunk
            if len(body) > self._max_bytes:
                raise CimdError(f"the client metadata document is larger than {self._max_bytes} bytes")
        return bytes(body)


def _parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CimdError("the client metadata document is not valid JSON") from None
    if not isinstance(document, dict):
        raise CimdError("the client metadata document is not a JSON object")
    return document


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "client_id" or "redirect_uris" members could be read differently by another parser.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


class _DeadlineReader(io.RawIOBase):
    """A socket reader in which every read gets only the time left before the fetch's deadline."""

    def __init__(self, owner: _DeadlineSocket) -> None:
        super().__init__()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock = self._owner.tls
        sock.settimeout(self._owner.remaining())
        return sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.release()


class _DeadlineSocket:
    """What ``http.client`` needs of a socket, with the fetch's one deadline on every step.

    Like ``socket.makefile``, an open reader keeps the socket open after the connection object
    "closes" it (``http.client`` does that as soon as it has a response that ends the connection).
    """

    def __init__(self, tls: ssl.SSLSocket, deadline: float) -> None:
        self.tls = tls
        self._deadline = deadline
        self._readers = 0
        self._closing = False

    def remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        return remaining

    def sendall(self, data: bytes) -> None:
        self.tls.settimeout(self.remaining())
        self.tls.sendall(data)  # since 3.5 the timeout bounds the whole sendall

    def makefile(self, mode: str, *args: object, **kwargs: object) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def release(self) -> None:
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self.tls.close()

    def close(self) -> None:
        self._closing = True
        if self._readers <= 0:
            self.tls.close()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a pre-checked IP address, with the hostname used for SNI, certificate and Host.

    Trying the checked addresses in order (none of them looked up again) covers hosts with an
    IPv6 answer on a network without IPv6 egress.
    """

    def __init__(
        self, host: str, port: int, addresses: list[str], context: ssl.SSLContext, deadline: float
    ) -> None:
        super().__init__(host, port, context=context)
        self._addresses = addresses
        self._tls_context = context
        self._deadline = deadline

    def connect(self) -> None:
        last_error: OSError | None = None
        for address in self._addresses:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed")
            try:
                raw = socket.create_connection((address, self.port), timeout=remaining)
            except OSError as exc:
                last_error = exc
                continue
            try:
                raw.settimeout(max(self._deadline - time.monotonic(), 0.001))
                # The handshake's timeout bounds the whole handshake (Python >= 3.5).
                tls = self._tls_context.wrap_socket(raw, server_hostname=self.host)
            except BaseException:
                raw.close()
                raise
            self.sock = _DeadlineSocket(tls, self._deadline)
            return
        raise last_error or OSError("no address to connect to")
