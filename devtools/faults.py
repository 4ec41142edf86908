"""Fault injection for the local stack: which dependency fails, how, and the switch to flip it.

    python -m devtools.faults --state-dir DIR

starts the stack `make dev` runs with `LocalStackOptions(fault_injection=True)` and small caches
(settings 2 s, API key store 1 s, so a fault reaches the functions within seconds), writes
`DIR/faults.json` (the control URL) and then `DIR/credentials.json` (the ready file), and runs
until SIGTERM. The end-to-end fault tests (`tests/e2e/test_faults.py`) and the load run
(`bench/faults.py`) drive it through `FaultControl`.

What can fail (targets), each behind its own `devtools.fault_proxy.FaultProxy`:

- `ssm` and `secretsmanager`: the functions reach them at `AWS_ENDPOINT_URL_SSM` and
  `AWS_ENDPOINT_URL_SECRETS_MANAGER` (botocore's service-specific endpoints), which point at the
  proxies; CloudWatch Logs, DynamoDB and KMS reach moto directly. Faults: `refuse` (connection
  refused), `throttle` (400 ThrottlingException, as SSM and Secrets Manager answer when a
  request rate quota is exceeded: "Common Errors", https://docs.aws.amazon.com/systems-manager/
  latest/APIReference/CommonErrors.html; https://repost.aws/knowledge-center/
  ssm-parameter-store-rate-exceeded), `slow` (held beyond the functions' read timeout);
- `jwks`: the auth settings' `jwks_url` points at the proxy in front of the dev issuer's JWKS.
  Faults: `refuse`, `slow` (beyond `jwks_fetch_timeout_seconds`), `html` (an HTML error page),
  `not_json` (declared JSON, is not), `no_keys` (a JSON object without `keys`),
  `wrong_key_type` (a symmetric key under the issuer's current `kid`, the algorithm-confusion
  shape, and a key type nobody knows).

And the local AWS itself: `stop_moto` closes moto's port (every AWS call is refused, through the
proxies too) and `start_moto` serves the same data on the same port again, as a restarted
endpoint whose data is durable. `rotate_issuer_key` makes the dev issuer sign with a new `kid`,
so the authorizer must fetch the JWKS again for tokens signed with it.

The control endpoint is plain HTTP on 127.0.0.1 without authentication: a test-only switch, in
`devtools/` (never bundled), started only by this option.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import threading
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from devtools.fault_proxy import Fault, FaultProxy

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from devtools.dev_issuer import DevIssuer

FAULTS_FILE: Final = "faults.json"
AWS_TARGETS: Final = ("ssm", "secretsmanager")
TARGETS: Final = (*AWS_TARGETS, "jwks")
# The auth settings of a fault stack: the JWKS behind its proxy, a 1 s fetch timeout (deployed
# default 3 s) and a 2 s refresh interval (default 60 s, which also caps the failure back-off
# at 2 s), so a test sees a JWKS fault and its end within seconds.
JWKS_FETCH_TIMEOUT_SECONDS: Final = 1.0
JWKS_REFRESH_MIN_INTERVAL_SECONDS: Final = 2.0
# `slow` holds a request this long: beyond both the JWKS fetch timeout above and the settings'
# AWS read timeout (app.core.config.AWS_READ_TIMEOUT_SECONDS, 2 s).
SLOW_SECONDS: Final = 2.5
CONFIG_CACHE_SECONDS: Final = 2
API_KEYS_CACHE_SECONDS: Final = 1

_JSON: Final = (("Content-Type", "application/json"),)
_AWS_JSON: Final = (("Content-Type", "application/x-amz-json-1.1"),)
AWS_FAULTS: Final = ("refuse", "throttle", "slow")
JWKS_FAULTS: Final = ("refuse", "slow", "html", "not_json", "no_keys", "wrong_key_type")


def fault_named(name: str, target: str, kid: str) -> Fault:
    """The `Fault` a name stands for at `target`; `kid` is the issuer's current key id."""
    allowed = AWS_FAULTS if target in AWS_TARGETS else JWKS_FAULTS
    if target not in TARGETS or name not in allowed:
        raise ValueError(f"unknown fault {name!r} for {target!r}: {target} takes one of {', '.join(allowed)}")
    if name == "refuse":
        return Fault("refuse")
    if name == "slow":
        return Fault("delay", seconds=SLOW_SECONDS)
    if name == "throttle":
        body = {"__type": "ThrottlingException", "message": "Rate exceeded"}
        headers = (*_AWS_JSON, ("x-amzn-ErrorType", "ThrottlingException"))
        return Fault("respond", status=400, headers=headers, body=json.dumps(body).encode())
    if name == "html":
        page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        return Fault("respond", status=200, headers=(("Content-Type", "text/html"),), body=page)
    if name == "not_json":
        return Fault("respond", status=200, headers=_JSON, body=b"{keys: [")
    if name == "no_keys":
        return Fault("respond", status=200, headers=_JSON, body=b'{"issuer": "somebody else"}')
    # wrong_key_type: made at run time, so no key material lives in the repository.
    symmetric = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    keys = [
        {"kty": "oct", "kid": kid, "alg": "HS256", "use": "sig", "k": symmetric},
        {"kty": "XYZ", "kid": kid, "use": "sig"},
    ]
    return Fault("respond", status=200, headers=_JSON, body=json.dumps({"keys": keys}).encode())


class FaultInjection:
    """The proxies, the local AWS's restart switch and the control endpoint of one local stack."""

    def __init__(self, moto: ThreadedMotoServer, issuer: DevIssuer, state_dir: Path) -> None:
        self._moto, self._original_moto = moto, moto
        self._moto_address = moto.get_host_and_port()
        self._moto_down = False
        self._issuer = issuer
        self._lock = threading.Lock()
        endpoint = "http://{}:{}".format(*self._moto_address)
        self.proxies = {
            "ssm": FaultProxy(endpoint, "ssm").start(),
            "secretsmanager": FaultProxy(endpoint, "secretsmanager").start(),
            "jwks": FaultProxy(issuer.issuer_url, "jwks").start(),
        }
        self._faults: dict[str, str | None] = dict.fromkeys(TARGETS)
        self._control = ThreadingHTTPServer(("127.0.0.1", 0), _ControlHandler)
        self._control.daemon_threads = True
        self._control.faults = self  # type: ignore[attr-defined]
        threading.Thread(target=self._control.serve_forever, name="fault-control", daemon=True).start()
        self.control_url = f"http://127.0.0.1:{self._control.server_address[1]}"
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / FAULTS_FILE).write_text(json.dumps({"control_url": self.control_url}), encoding="utf-8")

    @classmethod
    def start(cls, moto: ThreadedMotoServer, issuer: DevIssuer, state_dir: Path) -> FaultInjection:
        """Start the proxies and the control; point the functions' SSM and Secrets Manager at them."""
        faults = cls(moto, issuer, state_dir)
        os.environ["AWS_ENDPOINT_URL_SSM"] = faults.proxies["ssm"].url
        os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = faults.proxies["secretsmanager"].url
        return faults

    def auth_settings(self) -> dict[str, Any]:
        """What the stack's SSM auth settings get on top of `make dev`'s: the JWKS behind its proxy."""
        jwks_path = urlsplit(self._issuer.jwks_url).path
        return {
            "jwks_url": self.proxies["jwks"].url + jwks_path,
            "jwks_fetch_timeout_seconds": JWKS_FETCH_TIMEOUT_SECONDS,
            "jwks_refresh_min_interval_seconds": JWKS_REFRESH_MIN_INTERVAL_SECONDS,
        }

    def set_fault(self, target: str, name: str | None) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
        fault = None if name is None else fault_named(name, target, self._issuer.kid)
        with self._lock:
            self.proxies[target].set_fault(fault)
            self._faults[target] = name

    def stop_moto(self) -> None:
        """Close the local AWS's port: every AWS call is refused until `start_moto`."""
        with self._lock:
            if self._moto_down:
                return
            server = getattr(self._moto, "_server", None)  # ThreadedMotoServer.stop leaves it bound
            self._moto.stop()
            if server is not None:
                server.server_close()
            self._moto_down = True

    def start_moto(self) -> None:
        """Serve the same data on the same port again (moto's state lives in this process)."""
        from moto.server import ThreadedMotoServer

        with self._lock:
            if not self._moto_down:
                return
            host, port = self._moto_address
            # ThreadedMotoServer.start waits forever if its thread cannot bind: check first.
            probe = socket.socket()
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            finally:
                probe.close()
            moto = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
            moto.start()
            self._moto, self._moto_down = moto, False

    def rotate_issuer_key(self) -> str:
        return self._issuer.rotate_key()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": dict(self._faults),
                "moto": "down" if self._moto_down else "up",
                "counts": {target: proxy.counts().as_json() for target, proxy in self.proxies.items()},
            }

    def stop(self) -> None:
        self._control.shutdown()
        self._control.server_close()
        for proxy in self.proxies.values():
            proxy.stop()
        with self._lock:
            # The stack stops the moto it started; a restarted one is ours to stop.
            if self._moto is not self._original_moto and not self._moto_down:
                self._moto.stop()


class _ControlHandler(BaseHTTPRequestHandler):
    """`GET /state`; `POST /fault {"target", "fault"}`, `/moto/stop`, `/moto/start`, `/issuer/rotate`."""

    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        faults: FaultInjection = self.server.faults  # type: ignore[attr-defined]
        if self.path == "/state":
            self._reply(200, faults.state())
        else:
            self._reply(404, {"error": "no such control route"})

    def do_POST(self) -> None:
        faults: FaultInjection = self.server.faults  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/fault":
                faults.set_fault(str(body["target"]), body.get("fault"))
                self._reply(200, faults.state())
            elif self.path == "/moto/stop":
                faults.stop_moto()
                self._reply(200, faults.state())
            elif self.path == "/moto/start":
                faults.start_moto()
                self._reply(200, faults.state())
            elif self.path == "/issuer/rotate":
                self._reply(200, {"kid": faults.rotate_issuer_key()})
            else:
                self._reply(404, {"error": "no such control route"})
        except (KeyError, ValueError, TypeError) as error:
            self._reply(400, {"error": str(error)})

    def _reply(self, status: int, document: Mapping[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass(frozen=True)
class FaultControl:
    """A client of a fault stack's control endpoint (tests, the load run)."""

    url: str

    @classmethod
    def of(cls, state_dir: Path | str) -> FaultControl:
        return cls(json.loads((Path(state_dir) / FAULTS_FILE).read_text())["control_url"])

    def set(self, target: str, fault: str | None) -> dict[str, Any]:
        return self._post("/fault", {"target": target, "fault": fault})

    def clear(self) -> None:
        for target in TARGETS:
            self.set(target, None)

    @contextmanager
    def injected(self, target: str, fault: str) -> Iterator[None]:
        """`fault` at `target` for the `with` block; cleared on the way out, even on failure."""
        self.set(target, fault)
        try:
            yield
        finally:
            self.set(target, None)

    def stop_moto(self) -> dict[str, Any]:
        return self._post("/moto/stop", {})

    def start_moto(self) -> dict[str, Any]:
        return self._post("/moto/start", {})

    def rotate_issuer_key(self) -> str:
        return str(self._post("/issuer/rotate", {})["kid"])

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/state", timeout=10) as response:  # noqa: S310 - loopback
            document: dict[str, Any] = json.load(response)
            return document

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the loopback control endpoint
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            document: dict[str, Any] = json.load(response)
            return document


def local_client(service: Literal["logs", "secretsmanager"], endpoint: str) -> Any:
    """A boto3 client of the stack's own moto server (its `aws_endpoint`), with local-only credentials.

    What a test or the load run uses to act on the local AWS directly, past the fault proxies:
    corrupt and restore the key store, read the shipped audit events.
    """
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts anything; nothing real is used
    )


def serve(state_dir: Path) -> None:
    """Run a fault stack until SIGTERM (or Ctrl-C)."""
    from devtools.local_stack import LocalStack, LocalStackOptions

    options = LocalStackOptions(
        port=0,
        state_dir=state_dir,
        fault_injection=True,
        config_cache_seconds=CONFIG_CACHE_SECONDS,
        api_keys_cache_seconds=API_KEYS_CACHE_SECONDS,
    )
    stack = LocalStack(options, progress=lambda text: print(text, flush=True))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stack.start()
        print(f"fault stack ready; control endpoint {FaultControl.of(state_dir).url}", flush=True)
        while not stopped.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, type=Path, help="where the stack writes its state")
    serve(parser.parse_args(argv).state_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
