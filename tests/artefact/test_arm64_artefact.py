"""The deployable artefact on the deployed interpreter: the two arm64 assets `cdk synth` builds,
run by an arm64 CPython 3.13 (Debian trixie's, under qemu), answer every authorizer and MCP case.

What the other tests cannot show: the assets hold wheels for `manylinux*_aarch64` and bytecode
compiled for 3.13 (by Pyodide when this machine has no python3.13), and nothing on this x86-64
machine ever loaded them. Here the stack is synthesized with bundling on, exactly as for
`cdk deploy`; each function's asset is laid out at `/var/task` with the handler, runtime and
environment variables of its synthesized `AWS::Lambda::Function`, and the Lambda runtime's own
part (boto3, `snapshot_restore_py`) at `/var/runtime`. One emulated process per asset is one
warm container: it imports the handler once (the cold start, about a minute under emulation)
and then serves every case. AWS is moto on 127.0.0.1 (SSM, Secrets Manager), reached through
`AWS_ENDPOINT_URL`; the JWT issuer is the dev issuer over real HTTP on 127.0.0.1.

AWS documents followed:
- the runtime's environment variables ("Defined runtime environment variables"):
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
- a REQUEST authorizer's answers: "Unauthorized" is a 401, a Deny policy a 403:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
- SnapStart runtime hooks (`snapshot_restore_py`, after-restore hooks run on resume):
  https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html

Locally, a missing qemu or an unreachable Debian mirror skips with the reason; in CI it fails.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
import pytest

from app.auth.api_keys import KeyStore, generate_api_key
from devtools.dev_issuer import DevIssuer, DevIssuerServer
from devtools.events import proxy_event, request_authorizer_event
from devtools.gateway import Policy
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from infra.constructs.bundling import LAMBDA_PYTHON
from infra.constructs.functions import AUTHORIZER_HANDLER, MCP_HANDLER
from tests.artefact.emulated import GuestFunction, build_runtime_dir
from tests.artefact.sysroot import Arm64Python, SysrootUnavailable, ensure_sysroot
from tests.conftest import BUNDLING_GROUP, EVENTS_DIR, TEST_MCP_URL, TEST_PRM_URL, load_event, missing
from tests.infra.conftest import Synth

# In the bundling group: the assets come from the same synthesis as tests/infra/test_bundling.py.
pytestmark = [pytest.mark.artefact, pytest.mark.xdist_group(BUNDLING_GROUP)]

REGION: Final = "us-east-1"
BASE_SCOPE: Final = "mcp/access"
PROFILE_SCOPE: Final = "mcp/profile"
# The restore case changes the MCP URL to this one (same API, another stage).
RESTORED_MCP_URL: Final = TEST_MCP_URL.replace("/prod/", "/next/")
# The settings caches hold across the cases: the restore cases show that the hook, not an
# expired cache, is what makes a function read a changed value again (the stack's defaults are
# 300 s and 60 s; an emulated run must not depend on being faster than those).
CACHE_OVERRIDES: Final = {"CONFIG_CACHE_SECONDS": "3600", "API_KEYS_CACHE_SECONDS": "3600"}
UNAUTHORIZED_EVENTS: Final = sorted(path.stem for path in EVENTS_DIR.glob("authorizer-*-401.json"))


def say(message: str) -> None:
    print(f"[arm64] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class DeployedFunction:
    """One function as the synthesized template defines it."""

    handler: str
    runtime: str
    architectures: tuple[str, ...]
    memory_mb: int
    snapstart: bool
    variables: dict[str, Any]
    asset: Path


@dataclass
class Seeded:
    """What the local AWS and issuer hold, and the credentials the cases use."""

    endpoint: str
    issuer: DevIssuer
    secret_arns: dict[str, str]
    mcp_url_parameter: str
    api_keys_secret: str
    full_key: str
    narrow_key: str
    revocable_key: str
    revocable_key_id: str
    # Variables the template computes (Fn::Join of Refs), as seeded here: USAGE_KEY_IDS.
    computed: dict[str, str]


@dataclass
class Run:
    """Both emulated functions, started from the same seeded state, with what they reported."""

    seeded: Seeded
    authorizer: GuestFunction
    mcp: GuestFunction
    ready: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def arm64() -> Arm64Python:
    started = time.perf_counter()
    try:
        python = ensure_sysroot(say)
    except SysrootUnavailable as exc:
        missing(f"arm64 CPython {LAMBDA_PYTHON} unavailable: {exc}")
    say(f"sysroot ready in {time.perf_counter() - started:.1f} s: {python.sysroot}")
    return python


@pytest.fixture(scope="module")
def deployed(bundled_synth: Synth) -> dict[str, DeployedFunction]:
    synth = bundled_synth
    primary = synth.stack.functions.servers[0].name
    found: dict[str, DeployedFunction] = {}
    for resource in synth.of_type("AWS::Lambda::Function").values():
        props = resource["Properties"]
        if props["Handler"] not in (AUTHORIZER_HANDLER, MCP_HANDLER):
            continue
        variables = props.get("Environment", {}).get("Variables", {})
        # Several servers share the MCP handler: the primary's function answers the /mcp events.
        if variables.get("MCP_SERVER", primary) != primary:
            continue
        found[props["Handler"]] = DeployedFunction(
            handler=props["Handler"],
            runtime=props["Runtime"],
            architectures=tuple(props.get("Architectures", ["x86_64"])),
            memory_mb=int(props.get("MemorySize", 128)),
            snapstart=props.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions",
            variables=dict(variables),
            asset=synth.outdir / resource["Metadata"]["aws:asset:path"],
        )
    assert set(found) == {AUTHORIZER_HANDLER, MCP_HANDLER}
    return found


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.perf_counter()
    built = build_runtime_dir(tmp_path_factory.mktemp("var-runtime"))
    say(f"runtime folder (boto3, snapshot_restore_py) built in {time.perf_counter() - started:.1f} s")
    return built


def seed(endpoint: str, issuer: DevIssuer, authorizer: DeployedFunction, mcp: DeployedFunction) -> Seeded:
    """SSM and Secrets Manager as the stack leaves them once deployed and a key was issued."""
    names = {**authorizer.variables, **mcp.variables}
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=REGION)
    ssm.put_parameter(Name=names["MCP_URL_PARAMETER"], Value=TEST_MCP_URL, Type="String")
    auth_settings = {
        "issuer": issuer.issuer_url,
        "audiences": [],
        "allowed_client_ids": [],
        "base_scope": BASE_SCOPE,
        "allowed_origins": [],
    }
    ssm.put_parameter(Name=names["AUTH_SETTINGS_PARAMETER"], Value=json.dumps(auth_settings), Type="String")
    now = time.time()
    full_key, full = generate_api_key("full", (BASE_SCOPE, PROFILE_SCOPE), None, now=now)
    narrow_key, narrow = generate_api_key("narrow", (PROFILE_SCOPE,), None, now=now)
    revocable_key, revocable = generate_api_key("revocable", (BASE_SCOPE,), None, now=now)
    store = KeyStore.from_json({}).add(full).add(narrow).add(revocable)
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    keys_arn = client.create_secret(Name="artefact/api-keys", SecretString=json.dumps(store.to_json()))["ARN"]
    computed = {}
    if "USAGE_KEY_IDS" in names and not isinstance(names["USAGE_KEY_IDS"], str):
        computed["USAGE_KEY_IDS"] = json.dumps(seed_usage_keys(endpoint, names["USAGE_KEY_IDS"]))
    upstream = {"description": "artefact upstream credential", "api_key": secrets.token_urlsafe(24)}
    upstream_arn = client.create_secret(Name="artefact/upstream", SecretString=json.dumps(upstream))["ARN"]
    return Seeded(
        endpoint=endpoint,
        issuer=issuer,
        secret_arns={"API_KEYS_SECRET_ID": keys_arn, "UPSTREAM_SECRET_ID": upstream_arn},
        mcp_url_parameter=names["MCP_URL_PARAMETER"],
        api_keys_secret=keys_arn,
        full_key=full_key,
        narrow_key=narrow_key,
        revocable_key=revocable_key,
        revocable_key_id=revocable.key_id,
        computed=computed,
    )


def seed_usage_keys(endpoint: str, template_value: object) -> dict[str, str]:
    """One API Gateway key per usage tier the template names (its USAGE_KEY_IDS is a Fn::Join of
    `"<tier>":"` literals and the shared keys' Refs), made in moto as the stack makes them."""
    parts = json.loads(json.dumps(template_value))["Fn::Join"][1]
    literals = "".join(part for part in parts if isinstance(part, str))
    tiers = re.findall(r'"([a-z][a-z0-9-]*)":"', literals)
    assert tiers, f"no usage tier in USAGE_KEY_IDS: {template_value}"
    apigateway = boto3.client("apigateway", endpoint_url=endpoint, region_name=REGION)
    return {
        tier: apigateway.create_api_key(
            name=f"artefact-{tier}", enabled=True, value=secrets.token_urlsafe(24)
        )["id"]
        for tier in tiers
    }


def lambda_environment(function: DeployedFunction, seeded: Seeded, name: str) -> dict[str, str]:
    """The template's variables (secret ARNs resolved to moto's), then what the Lambda runtime
    defines for every function, then the one addition: boto3's endpoint, moto on 127.0.0.1."""
    env: dict[str, str] = {}
    for variable, value in function.variables.items():
        if isinstance(value, str):
            env[variable] = value
        elif variable in seeded.secret_arns:
            env[variable] = seeded.secret_arns[variable]
        elif variable in seeded.computed:
            env[variable] = seeded.computed[variable]
        else:
            raise AssertionError(f"{variable} is not a literal in the template ({value}): resolve it here")
    env.update(CACHE_OVERRIDES)
    env.update(
        {
            "_HANDLER": function.handler,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{LAMBDA_PYTHON}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if function.snapstart else "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "artefact",
            "AWS_ACCESS_KEY_ID": "artefact",
            "AWS_SECRET_ACCESS_KEY": "artefact",  # moto accepts anything; nothing real is used
            "AWS_SESSION_TOKEN": "artefact",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "AWS_ENDPOINT_URL": seeded.endpoint,
        }
    )
    return env


@pytest.fixture(scope="module")
def run(
    arm64: Arm64Python,
    deployed: dict[str, DeployedFunction],
    runtime_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    from moto.server import ThreadedMotoServer

    authorizer, mcp = deployed[AUTHORIZER_HANDLER], deployed[MCP_HANDLER]
    for function in (authorizer, mcp):
        assert function.runtime == f"python{LAMBDA_PYTHON}", "the stack's runtime moved: emulate that one"
        assert function.architectures == ("arm64",), "the stack's architecture moved: emulate that one"
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    issuer_server = DevIssuerServer(audience=TEST_MCP_URL)
    issuer = issuer_server.start()
    guests: list[GuestFunction] = []
    try:
        host, port = moto.get_host_and_port()
        seeded = seed(f"http://{host}:{port}", issuer, authorizer, mcp)
        started = time.perf_counter()
        for function, name in ((authorizer, "serverless-mcp-authorizer"), (mcp, "serverless-mcp-server")):
            guests.append(
                GuestFunction(
                    arm64,
                    asset=function.asset,
                    runtime_dir=runtime_dir,
                    handler=function.handler,
                    environment=lambda_environment(function, seeded, name),
                    workdir=tmp_path_factory.mktemp(name),
                )
            )
        ready = {guest.handler: guest.ready() for guest in guests}
        say(
            f"both handlers imported in {time.perf_counter() - started:.1f} s (in-guest import: "
            + ", ".join(f"{h.split('.')[1]} {r['import_seconds']:.1f} s" for h, r in ready.items())
            + ")"
        )
        yield Run(seeded, guests[0], guests[1], ready)
    finally:
        for guest in guests:
            guest.close()
        issuer_server.stop()
        moto.stop()


# --- helpers -------------------------------------------------------------------------------------


def authorize(
    run: Run, credential: str | None, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    headers = {"User-Agent": "artefact-test", **(extra_headers or {})}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    return checked(
        run.authorizer.invoke(request_authorizer_event("POST", "/mcp", headers=headers)), credential
    )


def checked(outcome: dict[str, Any], *credentials: str | None) -> dict[str, Any]:
    """The outcome, after checking that no credential reached the function's output."""
    printed = "\n".join(outcome["stdout"])
    for credential in credentials:
        if credential:
            assert credential not in printed, "a credential was written to the log"
    return outcome


STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod"


def effect(outcome: dict[str, Any]) -> str:
    """Allow, Deny, or Unauthorized (what API Gateway turns into 200, 403 and 401)."""
    if not outcome["ok"]:
        assert outcome["error_type"] == "Unauthorized", outcome.get("traceback")
        assert outcome["error_message"] == "Unauthorized"  # the exact message API Gateway needs
        return "Unauthorized"
    result: dict[str, Any] = outcome["result"]
    for statement in result["policyDocument"]["Statement"]:
        assert statement["Action"] == "execute-api:Invoke"
        resources = statement["Resource"]
        # With several servers the policy names each permitted server's resources, never beyond
        # this API's stage (app/authorizer/handler.py server_arns).
        for resource in [resources] if isinstance(resources, str) else resources:
            assert resource.startswith(f"{STAGE_ARN}/"), resource
    # What API Gateway does with it at POST /mcp: an explicit Deny wins, else an Allow must match.
    return "Allow" if Policy.from_response(result).allows(f"{STAGE_ARN}/POST/mcp") else "Deny"


def audits(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in outcome["stdout"] if '"event_type":"audit"' in line]


def http(outcome: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    assert outcome["ok"], outcome.get("traceback")
    status, headers, body = response_from_lambda(outcome["result"])
    return status, {k.lower(): v for k, v in headers}, json.loads(body) if body else None


def mcp_event(request: tuple[dict[str, str], str], scopes: str | None) -> dict[str, Any]:
    context = None
    if scopes is not None:
        context = {"principalId": "user-123", "principal": "user-123", "auth_method": "jwt", "scopes": scopes}
    headers, body = request
    return proxy_event("v1", "POST", "/mcp", headers=headers, body=body, authorizer=context)


# --- the authorizer ------------------------------------------------------------------------------


def test_authorizer_allows_an_api_key(run: Run) -> None:
    outcome = authorize(run, run.seeded.full_key)
    assert effect(outcome) == "Allow"
    context = outcome["result"]["context"]
    assert context["auth_method"] == "api_key"
    assert context["scopes"] == f"{BASE_SCOPE} {PROFILE_SCOPE}"
    assert [a["outcome"] for a in audits(outcome)] == ["allowed"]


def test_authorizer_allows_a_jwt_checked_against_the_issuers_jwks(run: Run) -> None:
    token = run.seeded.issuer.mint(audience=TEST_MCP_URL, scopes=[BASE_SCOPE, PROFILE_SCOPE])
    outcome = authorize(run, token)
    assert effect(outcome) == "Allow"
    assert outcome["result"]["context"]["auth_method"] == "jwt"
    assert outcome["result"]["principalId"] == outcome["result"]["context"]["principal"]


@pytest.mark.parametrize("kind", ["api_key", "jwt"])
def test_authorizer_denies_a_valid_credential_without_the_base_scope(run: Run, kind: str) -> None:
    credential = (
        run.seeded.narrow_key
        if kind == "api_key"
        else run.seeded.issuer.mint(audience=TEST_MCP_URL, scopes=[PROFILE_SCOPE])
    )
    outcome = authorize(run, credential)
    assert effect(outcome) == "Deny"
    assert outcome["result"]["context"] == {"reason": "missing_scope"}
    assert [a["status"] for a in audits(outcome)] == [403]


def test_authorizer_denies_a_tool_call_without_the_tools_scope(run: Run) -> None:
    token = run.seeded.issuer.mint(audience=TEST_MCP_URL, scopes=[BASE_SCOPE])
    routing = {"Mcp-Method": "tools/call", "Mcp-Name": "whoami"}
    outcome = authorize(run, token, routing)
    assert effect(outcome) == "Deny"  # per-tool decisions: the stack's default cache TTL is 0
    assert outcome["result"]["context"] == {
        "reason": "insufficient_scope",
        "scope": f"{BASE_SCOPE} {PROFILE_SCOPE}",
    }


@pytest.mark.parametrize("name", UNAUTHORIZED_EVENTS)
def test_authorizer_answers_the_sam_events_unauthorized(run: Run, name: str) -> None:
    outcome = checked(run.authorizer.invoke(load_event(name)))
    assert effect(outcome) == "Unauthorized"
    assert [a["status"] for a in audits(outcome)] == [401]


@pytest.mark.parametrize("claims", ["wrong-audience", "expired"])
def test_authorizer_refuses_a_bad_jwt_as_unauthorized(run: Run, claims: str) -> None:
    issuer = run.seeded.issuer
    if claims == "wrong-audience":
        token = issuer.mint(audience="https://elsewhere.example.com/mcp")
    else:
        token = issuer.mint(audience=TEST_MCP_URL, now=time.time() - 7200, expires_in=300)
    assert effect(authorize(run, token)) == "Unauthorized"


def test_authorizer_restore_hook_drops_the_cached_key_store(run: Run) -> None:
    seeded = run.seeded
    assert effect(authorize(run, seeded.revocable_key)) == "Allow"
    client = boto3.client("secretsmanager", endpoint_url=seeded.endpoint, region_name=REGION)
    store = KeyStore.from_json(
        json.loads(client.get_secret_value(SecretId=seeded.api_keys_secret)["SecretString"])
    )
    client.put_secret_value(
        SecretId=seeded.api_keys_secret,
        SecretString=json.dumps(store.revoke(seeded.revocable_key_id).to_json()),
    )
    # Still cached in this container (the cache outlives these cases on purpose) ...
    assert effect(authorize(run, seeded.revocable_key)) == "Allow"
    # ... until a SnapStart restore, which must not resume with the snapshot's key store.
    restored = run.authorizer.request("restore")
    assert restored["ok"], restored.get("traceback")
    assert "app.authorizer.handler.after_restore" in restored["result"]
    assert effect(authorize(run, seeded.revocable_key)) == "Unauthorized"
    assert effect(authorize(run, seeded.full_key)) == "Allow"


# --- the MCP function ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_mcp_initialize(run: Run, fmt: str) -> None:
    status, headers, body = http(run.mcp.invoke(load_event(f"{fmt}-initialize")))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body["result"]["protocolVersion"] == "2025-11-25"
    assert body["result"]["serverInfo"]["name"] == "serverless-mcp"


@pytest.mark.parametrize("name", ["v1-tools-list", "v2-tools-list", "v1-modern-tools-list"])
def test_mcp_tools_list(run: Run, name: str) -> None:
    status, _, body = http(run.mcp.invoke(load_event(name)))
    assert status == 200
    assert {tool["name"] for tool in body["result"]["tools"]} >= {"add", "whoami", "days_between"}


@pytest.mark.parametrize("name", ["v1-tools-call-add", "v2-tools-call-add", "v2-modern-tools-call-add"])
def test_mcp_tools_call(run: Run, name: str) -> None:
    outcome = run.mcp.invoke(load_event(name))
    status, _, body = http(outcome)
    assert status == 200
    assert body["result"]["isError"] is False
    assert body["result"]["structuredContent"] == {"result": 5.0}
    assert any(a.get("target") == "add" for a in audits(outcome))


def test_mcp_tool_call_without_its_scope_is_a_403_step_up(run: Run) -> None:
    request = mcp_request("tools/call", tool_call_params("whoami", {}), request_id=7)
    status, headers, body = http(run.mcp.invoke(mcp_event(request, scopes=BASE_SCOPE)))
    assert status == 403
    assert headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{BASE_SCOPE} {PROFILE_SCOPE}", '
        f'resource_metadata="{TEST_PRM_URL}"'
    )
    assert body["id"] == 7


def test_mcp_without_authorizer_context_is_401(run: Run) -> None:
    event = copy.deepcopy(load_event("v1-tools-list"))
    del event["requestContext"]["authorizer"]
    status, headers, body = http(run.mcp.invoke(event))
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer resource_metadata="{TEST_PRM_URL}", scope="{BASE_SCOPE}"'
    assert body["error"]["code"] == -32600


@pytest.mark.parametrize("name", ["v1-get-405", "v1-delete-405", "v2-get-405"])
def test_mcp_get_and_delete_are_405(run: Run, name: str) -> None:
    status, headers, _ = http(run.mcp.invoke(load_event(name)))
    assert status == 405
    assert headers["allow"] == "POST"


def test_mcp_restore_hook_drops_the_cached_settings(run: Run) -> None:
    """Last MCP case: it moves the MCP URL."""
    no_context = copy.deepcopy(load_event("v1-tools-list"))
    del no_context["requestContext"]["authorizer"]
    ssm = boto3.client("ssm", endpoint_url=run.seeded.endpoint, region_name=REGION)
    ssm.put_parameter(
        Name=run.seeded.mcp_url_parameter, Value=RESTORED_MCP_URL, Type="String", Overwrite=True
    )
    _, before, _ = http(run.mcp.invoke(no_context))
    assert TEST_PRM_URL in before["www-authenticate"]  # cached settings, as a warm container keeps them
    restored = run.mcp.request("restore")
    assert restored["ok"], restored.get("traceback")
    assert "app.mcp.handler.after_restore" in restored["result"]
    _, after, _ = http(run.mcp.invoke(no_context))
    assert "/next/.well-known/oauth-protected-resource/mcp" in after["www-authenticate"]


# --- the interpreter and the bytecode (last: after every case ran) ------------------------------


@pytest.mark.parametrize("handler", [AUTHORIZER_HANDLER, MCP_HANDLER])
def test_each_asset_imports_on_arm64_cpython_313(run: Run, handler: str) -> None:
    ready = run.ready[handler]
    assert ready["machine"] == "aarch64"
    assert ready["python"].startswith(f"{LAMBDA_PYTHON}.")
    assert ready["implementation"] == f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
    # The code objects carry the path Lambda shows in tracebacks: compiled for /var/task.
    assert ready["handler_file"] == f"/var/task/{handler.rsplit('.', 1)[0].replace('.', '/')}.py"


# Native code from the wheels pip chose for manylinux aarch64, which each function must load.
EXTENSIONS: Final = {
    AUTHORIZER_HANDLER: {"cryptography.hazmat.bindings._rust"},
    MCP_HANDLER: {"cryptography.hazmat.bindings._rust", "pydantic_core._pydantic_core"},
}


@pytest.mark.parametrize("handler", [AUTHORIZER_HANDLER, MCP_HANDLER])
def test_shipped_bytecode_and_aarch64_wheels_are_what_runs(
    run: Run, handler: str, request: pytest.FixtureRequest
) -> None:
    guest = run.authorizer if handler == AUTHORIZER_HANDLER else run.mcp
    outcome = guest.request("report")
    assert outcome["ok"], outcome.get("traceback")
    report = outcome["result"]
    ready = run.ready[handler]
    # In make test's closing summary: what the asset ran on and how long its cold start took.
    request.node.user_properties.append(
        (
            "artefact",
            f"[arm64 artefact] {handler}: CPython {ready['python'].split()[0]} {ready['machine']} "
            f"under qemu, import {ready['import_seconds']:.1f} s, {report['python_modules']} modules "
            f"from the shipped .pyc, native {', '.join(report['extension_modules'])}",
        )
    )
    assert report["python_modules"] > 50
    # Every one has its shipped .pyc, with this interpreter's magic number, unchecked-hash ...
    assert report["problems"] == []
    # ... and that .pyc is what ran: nothing was compiled from source, nothing written.
    assert report["compiled_from_source"] == []
    assert report["bytecode_written"] == []
    assert set(report["extension_modules"]) >= EXTENSIONS[handler]


def test_the_bytecode_check_sees_a_pyc_this_interpreter_rejects(
    arm64: Arm64Python, deployed: dict[str, DeployedFunction], runtime_dir: Path, tmp_path: Path
) -> None:
    """The check above can fail: one shipped .pyc with another magic number (as a bundle compiled
    for another Python would have) is compiled from source, and reported."""
    asset = tmp_path / "asset"
    shutil.copytree(deployed[AUTHORIZER_HANDLER].asset / "jwt", asset / "jwt")
    stale = asset / "jwt" / "__pycache__" / f"exceptions.cpython-{LAMBDA_PYTHON.replace('.', '')}.pyc"
    data = bytearray(stale.read_bytes())
    data[0:2] = (int.from_bytes(data[0:2], "little") - 1).to_bytes(2, "little")
    stale.write_bytes(bytes(data))
    guest = GuestFunction(
        arm64,
        asset=asset,
        runtime_dir=runtime_dir,
        handler="jwt.decode",
        environment={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        workdir=tmp_path / "guest",
    )
    try:
        guest.ready()
        report = guest.request("report")["result"]
    finally:
        guest.close()
    assert report["compiled_from_source"] == ["/var/task/jwt/exceptions.py"]
    # The loader tried to write a fresh .pyc (which goes nowhere: on Lambda /var/task is read-only,
    # here qemu finds no such new file under the guest root), so every cold start would recompile.
    assert report["bytecode_written"] == [f"/var/task/jwt/__pycache__/{stale.name}"]
