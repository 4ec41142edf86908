"""The requests every contender answers, and the services the authorizer talks to.

One API Gateway REST (v1) proxy event carrying a `tools/call` of `add` with an authorizer
context, identical for every MCP contender (built once with the project's own event builders,
so it has the shape `sam local generate-event` and API Gateway produce). For the authorizer:
REQUEST-authorizer events with an RS256 JWT, an ES256 JWT and an API key, verified by the
handler's real code against a loopback issuer (JWKS) and a moto Secrets Manager server (key
store), with no patching inside the worker.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.issuer import BenchIssuer
from bench.layout import AUTHORIZER_CONTEXT, ENVS_DIR, MCP_URL
from devtools.events import request_authorizer_event, rest_v1_event
from devtools.mcp_messages import HANDSHAKE_VERSION, Generation, mcp_request, tool_call_params

# The name of a moto secret, not a secret. Suffixed per scenario: moto servers started in one
# process share their backend, so a second scenario (`make bench` runs two) finds the first's.
KEYS_SECRET_PREFIX = "bench/api-keys-"  # noqa: S105
SCRATCH = ENVS_DIR / "scratch"


def tools_call_event(
    tool: str = "add",
    arguments: Mapping[str, Any] | None = None,
    generation: Generation = HANDSHAKE_VERSION,
) -> dict[str, Any]:
    """The REST v1 tools/call every MCP contender answers (by default `add` of 2 and 3)."""
    params = tool_call_params(tool, dict(arguments) if arguments is not None else {"a": 2, "b": 3})
    headers, body = mcp_request("tools/call", params, generation=generation)
    return rest_v1_event(
        "POST",
        "/mcp",
        headers={**headers, "User-Agent": "bench/1"},
        body=body,
        authorizer=AUTHORIZER_CONTEXT,
        request_id="00000000-0000-4000-8000-000000000001",
    )


def authorizer_event(credential: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A REQUEST-authorizer event for POST /mcp with this bearer credential and other `headers`."""
    return request_authorizer_event(
        "POST",
        "/mcp",
        headers={**(headers or {}), "Authorization": f"Bearer {credential}", "User-Agent": "bench/1"},
        request_id="00000000-0000-4000-8000-000000000002",
    )


def write_events(name: str, events: dict[str, dict[str, Any]]) -> Path:
    """Events for one worker, by name (the first is the one its cold start answers)."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / f"{name}-events.json"
    path.write_text(json.dumps(events), encoding="utf-8")
    return path


@dataclass(frozen=True)
class AuthScenario:
    """Everything the authorizer workers need: their events and their environment.

    `issuer` and `api_key` (it holds mcp/access and mcp/profile) are there for benchmarks that
    build events of their own against the same issuer and key store.
    """

    handler_events: Path
    floor_events: Path
    handler_env: dict[str, str]
    floor_env: dict[str, str]
    issuer: BenchIssuer
    api_key: str


@contextmanager
def auth_scenario() -> Iterator[AuthScenario]:
    """Start the loopback issuer and key store; yield the authorizer workers' inputs."""
    from moto.server import ThreadedMotoServer

    from app.auth.api_keys import generate_api_key

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    issuer = BenchIssuer().start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        endpoint = f"http://127.0.0.1:{moto.get_host_and_port()[1]}"
        plaintext, record = generate_api_key("bench-bot", ("mcp/access", "mcp/profile"), None, time.time())
        secret_id = KEYS_SECRET_PREFIX + uuid.uuid4().hex[:12]
        _create_secret(endpoint, secret_id, {"version": 1, "keys": [record.to_json()]})
        rs256, es256 = issuer.mint("RS256", MCP_URL), issuer.mint("ES256", MCP_URL)
        handler_events = write_events(
            "authorizer",
            {
                "jwt_rs256": authorizer_event(rs256),
                "jwt_es256": authorizer_event(es256),
                "api_key": authorizer_event(plaintext),
            },
        )
        floor_events = write_events(
            "jwt-floor",
            {"jwt_rs256": {"token": rs256, "alg": "RS256"}, "jwt_es256": {"token": es256, "alg": "ES256"}},
        )
        yield AuthScenario(
            handler_events=handler_events,
            floor_events=floor_events,
            handler_env={
                "OAUTH_ISSUER": issuer.url,
                "API_KEYS_SECRET_ID": secret_id,
                "AWS_ENDPOINT_URL": endpoint,
            },
            floor_env={
                "BENCH_ISSUER": issuer.url,
                "BENCH_AUDIENCE": MCP_URL,
                "BENCH_JWKS": json.dumps(issuer.jwks()),
            },
            issuer=issuer,
            api_key=plaintext,
        )
    finally:
        moto.stop()
        issuer.stop()


def _create_secret(endpoint: str, name: str, document: dict[str, Any]) -> None:
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto accepts anything
    )
    client.create_secret(Name=name, SecretString=json.dumps(document))
