"""Worker: the authorization front's sign-in, step by step, in-process and warm, every answer checked.

    python -m bench.front_flow --flows N --warmup W     (started by `bench.oauth_front`)

Runs in its own process with the environment the local stack gives its functions (the moto
endpoint, parameter and table names, KMS key ids; `bench.stack_runner` prints it), imports
`app.oauth.handler` as Lambda would, and calls its `handler` on REST v1 proxy events shaped as
the gateway emulator (and API Gateway) sends them. Why a process of its own: the handler reads
its settings from the environment, and this keeps `make bench`'s process clean of it.

Setup (untimed): the metadata document, one dynamic registration (a public client with a
loopback redirect, as Claude Code registers), then `--warmup` whole sign-ins. Then `--flows`
sign-ins, each five timed handler calls in the order a client makes them:

1. `GET /oauth/authorize` (PKCE S256, state, resource, every offered scope) → the consent page;
2. `POST /oauth/consent` (approve, with the page's cookie and CSRF value) → 302 to the upstream;
   the browser's visit to the upstream (the dev issuer, auto-approving) is not the front's work
   and is outside the timing;
3. `GET /oauth/callback` (the upstream's code) → the upstream code exchange (HTTP to the dev
   issuer, ID token verified) → 302 to the client with our code, `state` and `iss`;
4. `POST /oauth/token` (authorization_code, PKCE verifier) → access and refresh tokens;
5. `POST /oauth/token` (refresh_token) → rotated tokens (the upstream refresh included).

Per call it also records the AWS calls the handler made (a botocore `before-call`/`after-call`
event hook on every client: service, operation, time inside botocore) and the time spent in the
upstream's token endpoint (the front's `UpstreamClient` built with a timing `post_form`, through
the front's own factory seam). Prints one JSON line on a private copy of stdout: samples by step,
and the last access token (for the authorizer's side of the benchmark). Handlers' log lines go to
/dev/null, as in `bench/worker.py`.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import http.client
import json
import os
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.worker import LambdaContext, lambda_root_logger

STEPS: Final = ("authorize", "consent", "callback", "token_code", "token_refresh")
REDIRECT_URI: Final = "http://127.0.0.1:53682/callback"  # a loopback redirect (RFC 8252 §7.3)
HOOK_ID: Final = "bench-front-flow-aws-calls"
_HIDDEN: Final = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]+)">')


class FlowError(RuntimeError):
    """An answer that is not the step's success: the run stops rather than time a refusal."""


@dataclass
class Meter:
    """What the handler did during the current call: AWS operations and time, upstream time."""

    calls: list[str] = field(default_factory=list)
    aws_ns: int = 0
    upstream_ns: int = 0
    upstream_calls: int = 0

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_started_ns"] = time.perf_counter_ns()

    def after_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("bench_started_ns", None)
        if isinstance(started, int):
            self.aws_ns += time.perf_counter_ns() - started
        self.calls.append(f"{model.service_model.service_name}:{model.name}")

    def reset(self) -> None:
        self.calls, self.aws_ns, self.upstream_ns, self.upstream_calls = [], 0, 0, 0


@dataclass
class StepSamples:
    ns: list[int] = field(default_factory=list)
    aws_ns: list[int] = field(default_factory=list)
    upstream_ns: list[int] = field(default_factory=list)
    upstream_calls: int = 0
    aws_calls: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "ns": self.ns,
            "aws_ns": self.aws_ns,
            "upstream_ns": self.upstream_ns,
            "upstream_calls": self.upstream_calls,
            "aws_calls": dict(self.aws_calls),
        }


def hook_clients(meter: Meter) -> int:
    """Register the meter on every botocore client alive now; how many there are.

    Called after the warm-up, when the handler has made all its clients (DynamoDB and KMS, and
    Powertools' SSM and Secrets Manager); `unique_id` keeps a client from being hooked twice.
    """
    from botocore.client import BaseClient

    clients = [obj for obj in gc.get_objects() if isinstance(obj, BaseClient)]
    for client in clients:
        client.meta.events.register("before-call", meter.before_call, unique_id=HOOK_ID + "-before")
        client.meta.events.register("after-call", meter.after_call, unique_id=HOOK_ID + "-after")
    return len(clients)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def location_query(response: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    location = str((response.get("headers") or {}).get("Location", ""))
    return location, {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


@dataclass
class Front:
    """The front's handler as API Gateway invokes it, for one browser (its cookies) and one client."""

    handler: Callable[[dict[str, Any], Any], Any]
    mcp_url: str
    host: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.mcp_url)
        return f"{parts.scheme}://{parts.netloc}"

    def event(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        from app.auth.front import AUTHORIZATION_SERVER_METADATA_PATHS, FRONT_PATH
        from devtools.events import rest_v1_event

        all_headers = {"Host": self.host, "User-Agent": "bench/1", **(headers or {})}
        body: str | None = None
        if form is not None:
            body, all_headers["Content-Type"] = urlencode(form), "application/x-www-form-urlencoded"
        elif json_body is not None:
            body, all_headers["Content-Type"] = json.dumps(json_body), "application/json"
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        # The route API Gateway matches (infra and devtools/gateway.py declare the same ones).
        greedy = path not in AUTHORIZATION_SERVER_METADATA_PATHS
        event = rest_v1_event(
            method,
            path,
            headers=all_headers,
            body=body,
            resource=FRONT_PATH + "/{proxy+}" if greedy else path,
            query=query,
        )
        event["pathParameters"] = {"proxy": path.removeprefix(FRONT_PATH + "/")} if greedy else None
        return event

    def call(self, event: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """One invocation; its response and duration (only the handler call is timed)."""
        context = LambdaContext()
        started = time.perf_counter_ns()
        response: dict[str, Any] = self.handler(event, context)
        elapsed = time.perf_counter_ns() - started
        for set_cookie in (response.get("multiValueHeaders") or {}).get("Set-Cookie", []):
            name, _, rest = str(set_cookie).partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response, elapsed


def expect(condition: bool, step: str, response: Mapping[str, Any]) -> None:
    if not condition:
        raise FlowError(f"{step}: unexpected answer {response.get('statusCode')}: {str(response)[:300]}")


def follow_upstream(location: str) -> tuple[str, dict[str, str]]:
    """The browser at the upstream's sign-in (auto-approving): its redirect back to the front."""
    parts = urlsplit(location)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise FlowError(f"the upstream sign-in is not the local dev issuer: {parts.scheme}://{parts.netloc}")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        answer = connection.getresponse()
        answer.read()
        back = answer.getheader("Location") or ""
    finally:
        connection.close()
    if answer.status not in (302, 303):
        raise FlowError(f"the dev issuer did not approve the sign-in at once ({answer.status})")
    return back, {name: values[0] for name, values in parse_qs(urlsplit(back).query).items()}


@dataclass
class Client:
    client_id: str
    scopes: str


def setup(front: Front) -> Client:
    """Untimed: the metadata (scopes offered) and one dynamic registration."""
    from app.auth.front import AUTHORIZATION_SERVER_METADATA_PATHS, REGISTER_PATH, front_issuer

    response, _ = front.call(front.event("GET", AUTHORIZATION_SERVER_METADATA_PATHS[0]))
    expect(response.get("statusCode") == 200, "metadata", response)
    metadata = json.loads(response["body"])
    expect(metadata.get("issuer") == front_issuer(front.mcp_url), "metadata", response)
    registration = {
        "client_name": "bench client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    response, _ = front.call(front.event("POST", REGISTER_PATH, json_body=registration))
    expect(response.get("statusCode") == 201, "register", response)
    return Client(str(json.loads(response["body"])["client_id"]), " ".join(metadata["scopes_supported"]))


def sign_in(front: Front, client: Client, meter: Meter, samples: dict[str, StepSamples] | None) -> str:
    """One whole sign-in and one refresh; the last access token. Records into `samples` if given."""
    from app.auth.front import (
        AUTHORIZE_PATH,
        CALLBACK_PATH,
        CONSENT_PATH,
        FRONT_PATH,
        TOKEN_PATH,
        front_issuer,
    )

    issuer = front_issuer(front.mcp_url)
    front.cookies.clear()  # a new browser each time: the cookie is set by /authorize

    def timed(step: str, event: dict[str, Any]) -> dict[str, Any]:
        meter.reset()
        response, elapsed = front.call(event)
        if samples is not None:
            record = samples[step]
            record.ns.append(elapsed)
            record.aws_ns.append(meter.aws_ns)
            record.upstream_ns.append(meter.upstream_ns)
            record.upstream_calls += meter.upstream_calls
            record.aws_calls.update(meter.calls)
        return response

    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": client.scopes,
        "resource": front.mcp_url,
    }
    page = timed("authorize", front.event("GET", AUTHORIZE_PATH, query=query))
    hidden = dict(_HIDDEN.findall(str(page.get("body", ""))))
    expect(page.get("statusCode") == 200 and {"login", "csrf"} <= hidden.keys(), "authorize", page)

    form = {"login": hidden["login"], "csrf": hidden["csrf"], "decision": "approve"}
    consent = front.event("POST", CONSENT_PATH, form=form, headers={"Origin": front.origin})
    approved = timed("consent", consent)
    location, _ = location_query(approved)
    upstream_login = location.startswith("http://127.0.0.1:")
    expect(approved.get("statusCode") == 302 and upstream_login, "consent", approved)

    back, upstream = follow_upstream(location)
    if not back.startswith(issuer + CALLBACK_PATH.removeprefix(FRONT_PATH)) or "code" not in upstream:
        raise FlowError("the dev issuer did not send the browser back to the front's callback with a code")

    called = timed("callback", front.event("GET", CALLBACK_PATH, query=upstream))
    location, ours = location_query(called)
    expect(
        called.get("statusCode") == 302
        and location.startswith(REDIRECT_URI + "?")
        and ours.get("state") == state
        and ours.get("iss") == issuer
        and bool(ours.get("code")),
        "callback",
        called,
    )

    token_form = {
        "grant_type": "authorization_code",
        "code": ours["code"],
        "redirect_uri": REDIRECT_URI,
        "client_id": client.client_id,
        "code_verifier": verifier,
        "resource": front.mcp_url,
    }
    issued = timed("token_code", front.event("POST", TOKEN_PATH, form=token_form))
    tokens = json.loads(str(issued.get("body") or "{}"))
    expect(
        issued.get("statusCode") == 200
        and str(tokens.get("token_type", "")).lower() == "bearer"
        and bool(tokens.get("access_token"))
        and bool(tokens.get("refresh_token"))
        and set(client.scopes.split()) <= set(str(tokens.get("scope", "")).split()),
        "token_code",
        issued,
    )

    refresh_form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": client.client_id,
        "resource": front.mcp_url,
    }
    refreshed = timed("token_refresh", front.event("POST", TOKEN_PATH, form=refresh_form))
    rotated = json.loads(str(refreshed.get("body") or "{}"))
    expect(
        refreshed.get("statusCode") == 200
        and bool(rotated.get("access_token"))
        and rotated.get("refresh_token") not in (None, tokens["refresh_token"]),
        "token_refresh",
        refreshed,
    )
    return str(rotated["access_token"])


def instrument_upstream(handler_module: Any, meter: Meter) -> None:
    """The front's upstream client, built as in production but with a `post_form` that is timed."""
    from app.oauth.upstream import UpstreamClient, UpstreamConfig, post_form

    def timed_post_form(
        url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> tuple[int, dict[str, Any]]:
        started = time.perf_counter_ns()
        try:
            return post_form(url, form, headers, timeout)
        finally:
            meter.upstream_ns += time.perf_counter_ns() - started
            meter.upstream_calls += 1

    def factory(config: UpstreamConfig) -> UpstreamClient:
        return UpstreamClient(config, post_form=timed_post_form)

    # The front's own seam for how its upstream client is made (tests use it too).
    handler_module._front.upstream_factory = factory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.front_flow")
    parser.add_argument("--flows", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--mcp-url", required=True)
    args = parser.parse_args(argv)

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    lambda_root_logger()

    from app.oauth import handler as handler_module

    meter = Meter()
    instrument_upstream(handler_module, meter)
    front = Front(handler_module.handler, args.mcp_url, urlsplit(args.mcp_url).netloc)
    try:
        client = setup(front)
        for _ in range(max(1, args.warmup)):
            sign_in(front, client, meter, None)
        clients = hook_clients(meter)
        samples = {step: StepSamples() for step in STEPS}
        token = ""
        for _ in range(args.flows):
            token = sign_in(front, client, meter, samples)
    except FlowError as error:
        channel.write(json.dumps({"error": str(error)}) + "\n")
        channel.close()
        return 1
    channel.write(
        json.dumps(
            {
                "flows": args.flows,
                "clients_hooked": clients,
                "client_id": client.client_id,
                "steps": {step: record.to_json() for step, record in samples.items()},
                "access_token": token,
            }
        )
        + "\n"
    )
    channel.close()
    sys.stderr.flush()
    os._exit(0)  # as bench/worker.py: leave without waiting on threads a library left behind


if __name__ == "__main__":
    sys.exit(main())
