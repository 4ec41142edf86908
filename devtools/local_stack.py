"""The Docker-free local stack behind `make dev`: moto, a dev OIDC issuer, the gateway, three handlers.

Start order matters, because the handlers read their settings at import like a Lambda cold
start: the moto server comes up and is seeded first (SSM: the MCP URL, the auth settings and
the authorization front's settings; Secrets Manager: the API key store with one dev key, an
upstream credential and the front's upstream client secret; CloudWatch Logs: the audit log
group; DynamoDB: the front's table and the tenant table; IAM: the tenant-data role; KMS: the
front's signing and sealing keys), then the process
environment is pointed at it (names only, as on Lambda), and only then are the handlers
imported. The stack owns its process: run one per process (the CLI and the end-to-end tests
start it in a subprocess).

The authorization front (`app.oauth.handler`) runs as deployed, with the dev issuer as its
upstream identity provider: the front is a confidential client there (`FRONT_UPSTREAM_CLIENT_ID`,
its secret made at start and kept in a moto secret), and the authorizer trusts the front's
tokens (`"oauth_front": true`), so an MCP client signs in with no client ID configured anywhere.

With SSO_PROVIDER (`LocalStackOptions.sso`) the dev issuer federates to a stand-in corporate
provider started beside it (`devtools/sso.py`), with the SSO_ATTRIBUTES mapping, as the deployed
Cognito pool federates to the company's provider.

Tenants: the tenant table and the tenant-data role (moto IAM, with the very documents the stack
deploys, `infra/tenant_policies.py`) always exist, so the notes tools work locally; the dev API key
and the dev user act for tenant `local-dev`. `MULTI_TENANT=true make dev` (or in `.env`) turns on
the authorizer's tenant requirement as deployed. moto accepts the role's session but does not
evaluate its `dynamodb:LeadingKeys` condition: the isolation itself is tested offline
(tests/iam_evaluation.py).

Several MCP servers (`app/servers/__init__.py`, docs/servers.md): each one is served at its
path by its own in-process function (`app.mcp.handler.server_function`, as MCP_SERVER=<name>
would on Lambda), with its metadata at its path-inserted well-known URL; the authorizer gets the
servers document whatever its cache TTL, the front `MCP_SERVER_PATHS`, and the dev key and dev
user may call every server.

With usage plans (`LocalStackOptions.usage`, from USAGE_PLANS and the USAGE_* settings, as the
stack reads them) moto's API Gateway gets what the stack creates: a usage plan and a shared key
per tier; the dev API key gets its own key in the default tier's plan; the authorizer gets the
same USAGE_* environment as deployed, and the gateway meters by those plans
(`devtools/usage_plans.py`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from app.auth.front import CALLBACK_PATH, FRONT_PATH, front_issuer

if TYPE_CHECKING:
    from app.auth.tool_scopes import ServerTable
    from app.core.usage import UsageKey
    from devtools.dev_issuer import DevIssuer, DevIssuerServer
    from devtools.faults import FaultInjection
    from devtools.gateway import InspectorSite
    from infra.config import UsagePlanSettings
    from infra.sso_settings import SsoSettings

AUDIT_LOG_GROUP: Final = "/serverless-mcp/local/audit"
MCP_URL_PARAMETER: Final = "/serverless-mcp/local/mcp-url"
AUTH_SETTINGS_PARAMETER: Final = "/serverless-mcp/local/auth-settings"
API_KEY_STORE_NAME: Final = "serverless-mcp/local/api-keys"
UPSTREAM_CREDENTIAL_NAME: Final = "serverless-mcp/local/upstream-credential"
OAUTH_FRONT_SETTINGS_PARAMETER: Final = "/serverless-mcp/local/oauth-front-settings"
OAUTH_UPSTREAM_SECRET_NAME: Final = "serverless-mcp/local/oauth-upstream-client"  # noqa: S105 - a name
OAUTH_TABLE_NAME: Final = "serverless-mcp-local-oauth"
# The front's own client at the upstream provider (the dev issuer here, Cognito deployed).
FRONT_UPSTREAM_CLIENT_ID: Final = "serverless-mcp-front"
FRONT_UPSTREAM_SCOPES: Final = ("openid", "email")
TENANT_TABLE_NAME: Final = "serverless-mcp-local-tenant-data"
TENANT_DATA_ROLE_NAME: Final = "serverless-mcp-local-tenant-data"
MCP_ROLE_NAME: Final = "serverless-mcp-local-mcp"  # stands for the MCP function's role in the trust policy
LOCAL_TENANT: Final = "local-dev"  # the dev API key's and the dev user's tenant
REGION: Final = "us-east-1"
# The gateway's stage (GatewayConfig's default), which the local usage plans are for.
LOCAL_STAGE: Final = "local"
# What the stack gives the authorizer when usage plans are on (app/core/usage.py).
USAGE_ENV_NAMES: Final = ("USAGE_KEY_IDS", "USAGE_DEFAULT_TIER", "USAGE_JWT_TIER", "USAGE_CLIENT_TIERS")

Progress = Callable[[str], None]
_MAX_PENDING_EVENTS: Final = 10_000
_EVENTS_PER_PUT: Final = 1_000  # PutLogEvents takes at most 10,000 events and 1 MB per call


@dataclass(frozen=True)
class LocalCredentials:
    """What `make dev` prints and writes to `.local/credentials.json` (git-ignored)."""

    mcp_url: str
    api_key: str
    access_token: str
    issuer: str
    aws_endpoint: str
    api_keys_secret_id: str
    audit_log_group: str
    # The dev machine client (client credentials at the dev issuer, Basic auth), as an agent or
    # CI job deployed against Cognito would use its app client: `mcp-lambda token` uses it.
    dev_client_id: str = ""
    dev_client_secret: str = ""
    # The authorization front's issuer: what the protected-resource metadata names.
    oauth_issuer: str = ""
    # The inspector page, and the origin its MCP Apps widgets render on; "" when it is off.
    inspector_url: str = ""
    inspector_sandbox_origin: str = ""
    # SSO (SSO_PROVIDER): the federated provider's name and the stand-in corporate issuer.
    sso_provider: str = ""
    corporate_issuer: str = ""
    # Usage plans: the plan id of each tier in moto's API Gateway, and the default tier
    # (what `mcp-lambda keys create --local --tier` reads; the stack's UsagePlanIds output).
    usage_plans: dict[str, str] | None = None
    usage_default_tier: str = ""
    # Every MCP server's URL by registry name (the primary one is `mcp_url`).
    servers: dict[str, str] | None = None


@dataclass(frozen=True)
class LocalStackOptions:
    port: int = 8787
    state_dir: Path = Path(".local")
    # 0 (as deployed by default): the authorizer runs on every request and decides per tool.
    authorizer_ttl_seconds: float = 0
    api_keys_cache_seconds: int = 60
    config_cache_seconds: int = 300
    allowed_origins: tuple[str, ...] = ()
    # Dotted module names, each with a `register(server)` like `app/tools/examples.py`, added to
    # `app.tools.TOOL_MODULES` before the handlers are imported: test fixtures (the conformance
    # suite's reference tools) served by this stack only. An option, not an environment variable,
    # so that no deployed Lambda can be talked into loading extra code.
    extra_tool_modules: tuple[str, ...] = ()
    # Tests only, and options for the same reason: a CA certificate (PEM) the front trusts when it
    # fetches a client ID metadata document, which may then be served from a loopback address
    # (`app.oauth.handler.configure_development`). Never an environment variable: no deployed
    # front can be told to trust another CA or fetch from loopback.
    cimd_trusted_ca: Path | None = None
    # The dev issuer's sign-in page approves at once (302 back) instead of waiting for a click.
    auto_approve_login: bool = False
    # The inspector at /inspector (on by default locally; off by default deployed: INSPECTOR).
    inspector: bool = True
    # SSO_PROVIDER, SSO_ATTRIBUTES, SSO_ONLY (devtools/sso.py): the dev issuer federates to a
    # stand-in corporate provider.
    sso: SsoSettings | None = None
    # Usage plans as the stack would create them (`infra.config.parse_usage_plans`); None: off.
    usage: UsagePlanSettings | None = None
    # Tests and `bench.faults` only: SSM, Secrets Manager and the issuer's JWKS are reached
    # through fault-injecting proxies a control endpoint switches (`devtools.faults`).
    fault_injection: bool = False


DEV_MACHINE_CLIENT_ID = "mcp-lambda-dev"


def register_dev_machine_client(issuer: DevIssuer, scopes: Iterable[str]) -> str:
    """Register the dev machine client (client credentials, every declared scope); its secret.

    The secret is made at each start and lives only in this process and the git-ignored,
    owner-only credentials file: nothing to commit, nothing that outlives the stack.
    """
    secret = secrets.token_urlsafe(32)
    issuer.register_client(
        DEV_MACHINE_CLIENT_ID,
        client_secret=secret,
        grant_types=("client_credentials",),
        scopes=sorted(scopes),
    )
    return secret


class CloudWatchShipper:
    """Copies audit log lines to a CloudWatch Logs group (moto), as Lambda would deliver them."""

    def __init__(self, client: Any, group: str, stream: str) -> None:
        self._client, self._group, self._stream = client, group, stream
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-shipper", daemon=True)
        self._thread.start()

    def ship(self, line: str, created: float) -> None:
        """An `AuditTrail` listener: queue the line for the next batch."""
        with self._lock:
            self._pending.append({"timestamp": int(created * 1000), "message": line})

    def flush(self) -> None:
        from botocore.exceptions import ConnectionError as EndpointUnreachable
        from botocore.exceptions import HTTPClientError

        with self._lock:
            batch, self._pending = self._pending, []
        # PutLogEvents wants each batch in time order; two functions' threads append out of order.
        batch.sort(key=lambda event: event["timestamp"])
        for start in range(0, len(batch), _EVENTS_PER_PUT):
            try:
                self._client.put_log_events(
                    logGroupName=self._group,
                    logStreamName=self._stream,
                    logEvents=batch[start : start + _EVENTS_PER_PUT],
                )
            except (EndpointUnreachable, HTTPClientError):
                # The local AWS is away (restarting): kept for the next flush, as Lambda's log
                # delivery does not drop lines; bounded, so an AWS that never comes back costs little.
                with self._lock:
                    self._pending = [*batch[start:], *self._pending][-_MAX_PENDING_EVENTS:]
                raise

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.flush()
            except Exception:  # the console copy is still there; never let shipping kill the stack
                logging.getLogger(__name__).warning("could not ship audit events to the local log group")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.flush()


class LocalStack:
    """Start and stop the whole local request path in this process."""

    def __init__(self, options: LocalStackOptions, progress: Progress = print) -> None:
        self.options = options
        self._progress = progress
        self._stoppers: list[Callable[[], None]] = []
        self.credentials: LocalCredentials | None = None
        # The dev issuer (the front's upstream), for tests that act as its administrator.
        self.issuer: DevIssuer | None = None
        # The stand-in corporate provider (SSO), for tests that act as its administrator.
        self.corporate: DevIssuer | None = None
        self.faults: FaultInjection | None = None
        self._server: Any = None
        self._inspector_on = False

    def start(self) -> LocalCredentials:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalCredentials:
        from moto.server import ThreadedMotoServer

        # Request lines from moto's HTTP server and botocore's credential notes are noise here.
        for noisy in ("werkzeug", "botocore", "boto3", "moto"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

        self._progress("starting the local AWS (moto: SSM, Secrets Manager, CloudWatch Logs, DynamoDB, KMS)…")
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stoppers.append(moto.stop)
        host, moto_port = moto.get_host_and_port()
        endpoint = f"http://{host}:{moto_port}"

        # Bind the gateway's socket first: its port is part of the MCP URL everything else uses.
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it, and
        # without it every response waited ~40 ms for a delayed ACK.
        gateway_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        gateway_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        gateway_socket.bind(("127.0.0.1", self.options.port))
        port = gateway_socket.getsockname()[1]
        mcp_url = f"http://127.0.0.1:{port}/mcp"
        sandbox_socket = self._inspector_sandbox_socket()
        self._inspector_on = sandbox_socket is not None

        from devtools.dev_issuer import DEV_USER, DevIssuerServer

        issuer_server = DevIssuerServer(audience=mcp_url, auto_approve=self.options.auto_approve_login)
        if self.options.sso is not None:
            self._federate(issuer_server, self.options.sso)
        issuer = self.issuer = issuer_server.start()
        self._stoppers.append(issuer_server.stop)

        self._point_environment_at(endpoint)
        if self.options.fault_injection:
            from devtools.faults import FaultInjection

            self.faults = FaultInjection.start(moto, issuer, self.options.state_dir)
            self._stoppers.append(self.faults.stop)
        # Before `_seed` builds a server (the dev key's scopes) and before the handlers import.
        self._register_extra_tool_modules()
        from app.core.servers import server_url
        from app.mcp.tool_scopes_export import server_table

        # Every server's tools' scopes, once: the dev key and token hold them all, the authorizer
        # gets them.
        table = server_table()
        server_urls = {server.name: server_url(mcp_url, server.path) for server in table.servers}
        plan_ids, dev_usage_key = self._seed_usage_plans(endpoint)
        api_key, base_scope, all_scopes = self._seed(
            endpoint, mcp_url, issuer.issuer_url, table.all_scopes(), dev_usage_key, tuple(server_urls)
        )
        self._seed_front(endpoint, mcp_url, issuer, base_scope, all_scopes)
        os.environ["MCP_SERVER_PATHS"] = ",".join(server.path for server in table.servers)
        self._seed_tenant_data(endpoint, issuer)
        self._configure_per_tool_decisions(table)

        self._progress("importing the Lambda handlers (authorizer, MCP, authorization front)…")
        import app.oauth.handler as front_module
        from app.authorizer import handler as authorizer_module
        from app.core.config import PRM_PATH
        from app.mcp import handler as mcp_module
        from app.mcp.asgi import protected_resource_metadata_json
        from app.servers import REGISTRY
        from devtools.gateway import Gateway, GatewayConfig, challenge_metadata_url
        from devtools.lambda_runtime import LambdaRuntime

        self._trust_test_ca(front_module)
        self._ship_audit_events(endpoint)
        authorizer = LambdaRuntime(authorizer_module.handler, "serverless-mcp-authorizer")
        mcp = LambdaRuntime(mcp_module.handler, "serverless-mcp-server")
        front = LambdaRuntime(front_module.handler, "serverless-mcp-oauth")
        self._stoppers.extend([authorizer.close, mcp.close, front.close])
        settings = mcp_module.settings_source.auth()
        inspector = self._inspector_site(mcp_url, sandbox_socket)
        # The other servers: a function each, as MCP_SERVER=<name> would build it on Lambda.
        others: dict[str, LambdaRuntime] = {}
        server_metadata: dict[str, str] = {}
        for server in table.servers[1:]:
            source, serve = mcp_module.server_function(REGISTRY.get(server.name), os.environ)
            others[server.path] = LambdaRuntime(serve, f"serverless-mcp-server-{server.name}")
            self._stoppers.append(others[server.path].close)
            server_metadata[PRM_PATH + server.path] = protected_resource_metadata_json(
                source.auth(), server.scopes.all_scopes()
            )
        gateway = Gateway(
            authorizer,
            mcp,
            GatewayConfig(
                # No stage prefix here: with several servers, clients use path-inserted discovery.
                resource_metadata_url=challenge_metadata_url(
                    settings.resource_metadata_url, len(table.servers), custom_domain=True
                ),
                base_scope=base_scope,
                # Served by the gateway as the stack's MOCK integration serves it.
                protected_resource_metadata=protected_resource_metadata_json(
                    settings, table.primary.scopes.all_scopes()
                ),
                server_metadata=server_metadata,
                authorizer_ttl_seconds=self.options.authorizer_ttl_seconds,
                # As the stack's ACCESS_DENIED response: with per-tool decisions (TTL 0) it is the
                # step-up answer and names every scope; with a cache, the base scope only; with
                # several servers, every scope of every server (docs/servers.md).
                access_denied_scopes=tuple(sorted(all_scopes))
                if self.options.authorizer_ttl_seconds == 0 or len(table.servers) > 1
                else (base_scope,),
                # As the stack: a preflight on /mcp and CORS on the gateway's own answers.
                allowed_origins=self.options.allowed_origins,
            ),
            front,
            inspector,
            usage_plans=self._usage_plan_directory(endpoint) if self.options.usage else None,
            servers=others,
        )
        self._serve(gateway, gateway_socket)
        sandbox_origin = ""
        if sandbox_socket is not None:
            from devtools.inspector_site import SandboxApp

            sandbox_origin = _origin(sandbox_socket)
            self._serve(SandboxApp(_origin(gateway_socket)), sandbox_socket)

        dev_client_secret = register_dev_machine_client(issuer, all_scopes)
        self.credentials = LocalCredentials(
            mcp_url=mcp_url,
            api_key=api_key,
            access_token=issuer.mint(
                # The dev user may call every server: its token names each one's URL (RFC 8707).
                audience=list(server_urls.values()) if len(server_urls) > 1 else mcp_url,
                scopes=sorted(all_scopes),
                expires_in=12 * 3600,
                extra_claims=issuer.user_claims(DEV_USER),
            ),
            issuer=issuer.issuer_url,
            aws_endpoint=endpoint,
            api_keys_secret_id=API_KEY_STORE_NAME,
            audit_log_group=AUDIT_LOG_GROUP,
            dev_client_id=DEV_MACHINE_CLIENT_ID,
            dev_client_secret=dev_client_secret,
            oauth_issuer=front_issuer(mcp_url),
            inspector_url=f"{_origin(gateway_socket)}/inspector" if sandbox_socket is not None else "",
            inspector_sandbox_origin=sandbox_origin,
            sso_provider=self.options.sso.provider_name if self.options.sso is not None else "",
            corporate_issuer=self.corporate.issuer_url if self.corporate is not None else "",
            usage_plans=plan_ids,
            usage_default_tier=self.options.usage.default_tier if self.options.usage else "",
            servers=server_urls,
        )
        self._write_credentials(self.credentials)
        return self.credentials

    def _inspector_sandbox_socket(self) -> socket.socket | None:
        """With the inspector on: a socket on another loopback port for the widget sandbox (another
        origin, as the stack's second API), or None and a note when the package is not installed."""
        if not self.options.inspector:
            return None
        from devtools.inspector_site import package_installed

        if not package_installed():
            self._progress(
                "the inspector is off: @mcp-use/inspector is not installed "
                "(run `make node_modules/.installed`)"
            )
            return None
        sandbox = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sandbox.bind(("127.0.0.1", 0))
        self._stoppers.append(sandbox.close)
        return sandbox

    def _inspector_site(self, mcp_url: str, sandbox_socket: socket.socket | None) -> InspectorSite | None:
        """The inspector's objects and headers, as the stack's bucket and integration serve them."""
        if sandbox_socket is None:
            return None
        from devtools.gateway import InspectorSite
        from devtools.inspector_site import site_headers, site_objects

        base_url = mcp_url.removesuffix("/mcp")
        sandbox_origin = _origin(sandbox_socket)
        return InspectorSite(site_objects(base_url, "", sandbox_origin), site_headers(sandbox_origin))

    def _federate(self, issuer_server: DevIssuerServer, sso: SsoSettings) -> None:
        """Start the stand-in corporate provider and federate the dev issuer to it (before it serves)."""
        from devtools.sso import start_corporate_provider

        self._progress(f"starting the stand-in corporate identity provider ({sso.provider_name})…")
        corporate, stop = start_corporate_provider(issuer_server.issuer, sso, self.options.auto_approve_login)
        self.corporate = corporate
        self._stoppers.append(stop)

    def _configure_per_tool_decisions(self, table: ServerTable) -> None:
        """As the stack does: with no authorizer cache, or with several servers, the authorizer
        gets the servers' tools' scopes (per-tool decisions only without a cache)."""
        os.environ["AUTHORIZER_CACHE_TTL_SECONDS"] = f"{self.options.authorizer_ttl_seconds:g}"
        os.environ.pop("TOOL_SCOPES_FILE", None)
        if self.options.authorizer_ttl_seconds != 0 and len(table.servers) == 1:
            return
        path = self.options.state_dir.resolve() / "tool-scopes.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table.to_json()), encoding="utf-8")
        os.environ["TOOL_SCOPES_FILE"] = str(path)

    def _point_environment_at(self, endpoint: str) -> None:
        """The environment a deployed function gets: names and ARNs, plus the local endpoint."""
        # MCP_SERVER and MCP_SERVER_PATHS are the stack's to set (each function's, the front's).
        for name in (
            "MCP_URL",
            "OAUTH_ISSUER",
            "OAUTH_JWKS_URL",
            "OAUTH_AUDIENCES",
            "ALLOWED_ORIGINS",
            "MCP_SERVER",
            "MCP_SERVER_PATHS",
        ):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts anything; nothing real is used
                "AWS_DEFAULT_REGION": REGION,
                "MCP_URL_PARAMETER": MCP_URL_PARAMETER,
                "AUTH_SETTINGS_PARAMETER": AUTH_SETTINGS_PARAMETER,
                "API_KEYS_SECRET_ID": API_KEY_STORE_NAME,
                "UPSTREAM_SECRET_ID": UPSTREAM_CREDENTIAL_NAME,
                "CONFIG_CACHE_SECONDS": str(self.options.config_cache_seconds),
                "API_KEYS_CACHE_SECONDS": str(self.options.api_keys_cache_seconds),
            }
        )
        # Service-specific endpoints (botocore reads them before AWS_ENDPOINT_URL): only the
        # fault proxies set them, for their stack.
        for name in (
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL_SSM",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        ):
            os.environ.pop(name, None)

    def _register_extra_tool_modules(self) -> None:
        """Append each extra module's `register` to `app.tools.TOOL_MODULES` (this process only)."""
        if not self.options.extra_tool_modules:
            return
        import importlib

        import app.tools

        registers = []
        for name in self.options.extra_tool_modules:
            register = getattr(importlib.import_module(name), "register", None)
            if not callable(register):
                raise ValueError(
                    f"extra tool module {name!r} has no register(server) function; "
                    "give it one like app/tools/examples.py"
                )
            registers.append(register)
        if "app.mcp.handler" in sys.modules:
            # Its server is built already: the extra modules would silently be missing.
            raise RuntimeError("extra tool modules must be registered before app.mcp.handler is imported")
        app.tools.TOOL_MODULES = (*app.tools.TOOL_MODULES, *registers)

    def _seed_usage_plans(self, endpoint: str) -> tuple[dict[str, str] | None, UsageKey | None]:
        """As the stack: a plan and a shared key per tier, the authorizer's USAGE_* environment.

        Returns the plan ids and the dev API key's own usage key (in the default tier's plan).
        Off: the USAGE_* names are removed, so the authorizer meters nobody (as a stack with
        USAGE_PLANS=false, whose authorizer gets none of them).
        """
        for name in USAGE_ENV_NAMES:
            os.environ.pop(name, None)
        usage = self.options.usage
        if usage is None:
            return None, None
        from app.core.usage import ApiGatewayKeys
        from devtools.events import DEFAULT_API_ID

        self._progress("creating the usage plans (API Gateway in moto)…")
        client = self._apigateway(endpoint)
        keys = ApiGatewayKeys(client)
        plan_ids: dict[str, str] = {}
        shared: dict[str, str] = {}
        for tier in usage.tiers:
            plan: dict[str, Any] = {
                "name": f"serverless-mcp-local-{tier.name}",
                "apiStages": [{"apiId": DEFAULT_API_ID, "stage": LOCAL_STAGE}],
                "throttle": {"rateLimit": tier.rate, "burstLimit": tier.burst},
            }
            if tier.quota is not None:
                plan["quota"] = {"limit": tier.quota, "period": tier.period}
            plan_ids[tier.name] = client.create_usage_plan(**plan)["id"]
            # As CloudFormation does for the stack's keys: API Gateway generates the value.
            shared[tier.name] = keys.create(
                plan_ids[tier.name],
                f"serverless-mcp-local-{tier.name}-shared",
                f"shared key of tier {tier.name}",
            ).key_id
        os.environ.update(
            {
                "USAGE_KEY_IDS": json.dumps(shared),
                "USAGE_DEFAULT_TIER": usage.default_tier,
                "USAGE_JWT_TIER": usage.jwt_tier,
            }
        )
        if usage.client_tiers:
            os.environ["USAGE_CLIENT_TIERS"] = json.dumps(dict(usage.client_tiers))
        dev_key = keys.create(plan_ids[usage.default_tier], "serverless-mcp-local-dev-key", "the dev API key")
        return plan_ids, dev_key

    @staticmethod
    def _apigateway(endpoint: str) -> Any:
        import boto3

        return boto3.client("apigateway", endpoint_url=endpoint, region_name=REGION)

    def _usage_plan_directory(self, endpoint: str) -> Any:
        from devtools.events import DEFAULT_API_ID
        from devtools.usage_plans import MotoUsagePlans

        return MotoUsagePlans(self._apigateway(endpoint), DEFAULT_API_ID, LOCAL_STAGE)

    def _seed(
        self,
        endpoint: str,
        mcp_url: str,
        issuer_url: str,
        declared_scopes: frozenset[str],
        dev_usage_key: UsageKey | None = None,
        servers: tuple[str, ...] = (),
    ) -> tuple[str, str, frozenset[str]]:
        """Seed the settings, the key store (one dev key for every server in `servers`) and the logs."""
        import boto3

        from app.auth.algorithms import DEFAULT_BASE_SCOPE
        from app.auth.api_keys import KeyStore, generate_api_key

        base_scope = os.environ.get("OAUTH_BASE_SCOPE", "").strip() or DEFAULT_BASE_SCOPE
        all_scopes = frozenset({base_scope, *declared_scopes})
        self._progress("seeding SSM, Secrets Manager and CloudWatch Logs…")
        ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=REGION)
        ssm.put_parameter(Name=MCP_URL_PARAMETER, Value=mcp_url, Type="String", Overwrite=True)
        auth_settings = {
            "issuer": issuer_url,
            "audiences": [],
            "allowed_client_ids": [],
            "base_scope": base_scope,
            "allowed_origins": list(self.options.allowed_origins),
            # The authorizer also trusts the front's tokens; the PRM names the front.
            "oauth_front": True,
            # The inspector's page (this origin) may call /mcp.
            "inspector": self._inspector_on,
            **(self.faults.auth_settings() if self.faults else {}),
        }
        ssm.put_parameter(
            Name=AUTH_SETTINGS_PARAMETER, Value=json.dumps(auth_settings), Type="String", Overwrite=True
        )
        api_key, record = generate_api_key(
            "local-dev",
            tuple(sorted(all_scopes)),
            None,
            now=time.time(),
            tenant=LOCAL_TENANT,
            servers=servers or None,
        )
        if dev_usage_key is not None and self.options.usage is not None:
            record = replace(
                record,
                tier=self.options.usage.default_tier,
                usage_key_id=dev_usage_key.key_id,
                usage_key=dev_usage_key.value,
            )
        store = KeyStore.from_json({}).add(record)
        secrets_client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        secrets_client.create_secret(Name=API_KEY_STORE_NAME, SecretString=json.dumps(store.to_json()))
        # Same shape as the stack's placeholder: {"description", "api_key"}.
        upstream = {"description": "local upstream credential", "api_key": secrets.token_urlsafe(24)}
        secrets_client.create_secret(Name=UPSTREAM_CREDENTIAL_NAME, SecretString=json.dumps(upstream))
        logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION)
        logs.create_log_group(logGroupName=AUDIT_LOG_GROUP)
        logs.create_log_stream(logGroupName=AUDIT_LOG_GROUP, logStreamName="local")
        return api_key, base_scope, all_scopes

    def _seed_front(
        self, endpoint: str, mcp_url: str, issuer: DevIssuer, base_scope: str, all_scopes: frozenset[str]
    ) -> None:
        """The front's AWS resources and settings, as the stack creates them, and its upstream client.

        DynamoDB: one on-demand table, partition key `pk`, TTL on `expires_at` (moto stores the
        TTL but never expires items; the front checks `expires_at` itself). KMS: an RSA_2048
        SIGN_VERIFY key (tokens are RS256) and a symmetric key (sealing). The front's client
        secret at the dev issuer is made here and lives only in the moto secret.
        """
        import boto3

        self._progress("creating the authorization front's table, keys and upstream client…")
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        dynamodb.create_table(
            TableName=OAUTH_TABLE_NAME,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
        )
        dynamodb.update_time_to_live(
            TableName=OAUTH_TABLE_NAME,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        kms = boto3.client("kms", endpoint_url=endpoint, region_name=REGION)
        signing = kms.create_key(
            KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Description="serverless-mcp local front signing"
        )["KeyMetadata"]["KeyId"]
        sealing = kms.create_key(Description="serverless-mcp local front sealing")["KeyMetadata"]["KeyId"]

        front = front_issuer(mcp_url)
        client_secret = secrets.token_urlsafe(32)
        issuer.register_client(
            FRONT_UPSTREAM_CLIENT_ID,
            client_secret=client_secret,
            redirect_uris=[front + CALLBACK_PATH.removeprefix(FRONT_PATH)],
            scopes=list(FRONT_UPSTREAM_SCOPES),
        )
        boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION).create_secret(
            Name=OAUTH_UPSTREAM_SECRET_NAME, SecretString=json.dumps({"client_secret": client_secret})
        )
        settings: dict[str, object] = {
            "upstream_issuer": issuer.issuer_url,
            "upstream_client_id": FRONT_UPSTREAM_CLIENT_ID,
            "upstream_scopes": list(FRONT_UPSTREAM_SCOPES),
            "base_scope": base_scope,
            "scopes": [base_scope, *sorted(all_scopes - {base_scope})],
        }
        if self._inspector_on:
            from devtools.inspector_site import inspector_client

            # As the stack: the front knows the inspector by its metadata document's URL.
            settings["preregistered_clients"] = [inspector_client(mcp_url.removesuffix("/mcp"))]
        sso = self.options.sso
        if sso is not None and sso.only:
            # As the stack: with SSO_ONLY the front names the provider, straight to its sign-in.
            settings["upstream_identity_provider"] = sso.provider_name
        boto3.client("ssm", endpoint_url=endpoint, region_name=REGION).put_parameter(
            Name=OAUTH_FRONT_SETTINGS_PARAMETER, Value=json.dumps(settings), Type="String", Overwrite=True
        )
        os.environ.update(
            {
                "OAUTH_FRONT_SETTINGS_PARAMETER": OAUTH_FRONT_SETTINGS_PARAMETER,
                "OAUTH_UPSTREAM_SECRET_ID": OAUTH_UPSTREAM_SECRET_NAME,
                "OAUTH_TABLE_NAME": OAUTH_TABLE_NAME,
                "OAUTH_SIGNING_KEY_ID": signing,
                "OAUTH_SEALING_KEY_ID": sealing,
            }
        )

    def _seed_tenant_data(self, endpoint: str, issuer: DevIssuer) -> None:
        """The tenant table and role as the stack creates them with MULTI_TENANT=true, and the dev
        user's tenant claim (by the TENANT_CLAIM rule in force, as Cognito or the corporate
        provider would write it)."""
        import boto3

        from app.core.tenancy import TenancySettings
        from devtools.dev_issuer import DEV_USER
        from infra.tenant_policies import (
            assume_statement,
            create_table_request,
            document,
            tenant_items_statement,
            trust_statement,
        )

        self._progress("creating the tenant table and the tenant-data role…")
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        table_arn = dynamodb.create_table(**create_table_request(TENANT_TABLE_NAME))["TableDescription"][
            "TableArn"
        ]
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION)
        lambda_trust = {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
        mcp_role = iam.create_role(
            RoleName=MCP_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(document(lambda_trust))
        )["Role"]["Arn"]
        role = iam.create_role(
            RoleName=TENANT_DATA_ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(document(trust_statement(mcp_role))),
            MaxSessionDuration=3600,
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=TENANT_DATA_ROLE_NAME,
            PolicyName="OwnTenantItemsOnly",
            PolicyDocument=json.dumps(document(tenant_items_statement(table_arn))),
        )
        iam.put_role_policy(
            RoleName=MCP_ROLE_NAME,
            PolicyName="AssumeTenantDataRole",
            PolicyDocument=json.dumps(document(assume_statement(role))),
        )
        os.environ.update({"TENANT_TABLE_NAME": TENANT_TABLE_NAME, "TENANT_DATA_ROLE_ARN": role})
        rule = TenancySettings.from_env(os.environ).rule
        issuer.set_user_claims(DEV_USER, rule.claims_for(LOCAL_TENANT))

    def _trust_test_ca(self, front_module: Any) -> None:
        """With `cimd_trusted_ca`: the front fetches metadata documents trusting it, from loopback too."""
        if self.options.cimd_trusted_ca is None:
            return
        import ssl

        context = ssl.create_default_context(cafile=str(self.options.cimd_trusted_ca))
        front_module.configure_development(cimd_ssl_context=context, cimd_allow_loopback=True)

    def _ship_audit_events(self, endpoint: str) -> None:
        import boto3

        from app.core.audit import trail

        shipper = CloudWatchShipper(
            boto3.client("logs", endpoint_url=endpoint, region_name=REGION), AUDIT_LOG_GROUP, "local"
        )
        self._stoppers.append(shipper.close)  # stoppers run last-in first: unsubscribe, then close
        self._stoppers.append(trail.add_listener(shipper.ship))

    def _serve(self, app: Any, sock: socket.socket) -> None:
        import uvicorn

        from devtools.gateway import server_config

        server = uvicorn.Server(server_config(app))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="gateway", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local gateway did not start")
            time.sleep(0.02)
        self._server = server

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=5)
            sock.close()

        self._stoppers.append(stop)

    def _write_credentials(self, credentials: LocalCredentials) -> None:
        state_dir = self.options.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / "credentials.json"
        # Written 0600 via a temp file and rename, so a reader never sees a partial file.
        temp = path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(credentials), handle, indent=2)
        temp.replace(path)

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:  # stop everything else even if one part fails to stop
                logging.getLogger(__name__).warning("a local stack component did not stop cleanly")


def _origin(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


class StackStartError(RuntimeError):
    """A local stack process died or did not get ready in time; the message ends with its log's tail."""


@contextmanager
def stack_subprocess(
    command: list[str],
    state_dir: Path,
    ready_file: str,
    *,
    env: Mapping[str, str],
    log_path: Path,
    start_seconds: float = 120,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (a local stack) in `state_dir` until it writes `state_dir/ready_file`; yield it.

    For tests and benchmarks, which run each stack in a process of its own (the stack owns its
    process). Its output goes to `log_path`; `StackStartError` (with the log's tail) if it dies or
    is not ready within `start_seconds`. Stopped after the `with` block: SIGTERM, then a kill if
    it does not stop within 15 s.
    """
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - the caller's own argv (tests, benchmarks), no shell
            command, cwd=state_dir, env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + start_seconds
        while not (state_dir / ready_file).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise StackStartError(f"the local stack did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.1)
        yield process
    finally:
        stop_process(process, 15)


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then a kill if it has not stopped within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _usage_line(credentials: LocalCredentials) -> str:
    """One line on the usage plans when they are on (blank otherwise)."""
    if not credentials.usage_plans:
        return ""
    tiers = ", ".join(sorted(credentials.usage_plans))
    return (
        f"  usage plans: tiers {tiers}; the dev key is metered alone in {credentials.usage_default_tier}, "
        "over its limits 429 (docs/quotas.md)\n"
    )


def _servers_lines(credentials: LocalCredentials) -> str:
    """The other MCP servers' endpoints, one line each (blank with one server)."""
    others = {name: url for name, url in (credentials.servers or {}).items() if url != credentials.mcp_url}
    return "".join(f"\n  {name:<14} {url}  (MCP server {name!r})" for name, url in others.items())


def summary(credentials: LocalCredentials) -> str:
    """The ready-to-paste text `make dev` prints: OAuth sign-in first, the API key for agents and CI."""
    url = credentials.mcp_url
    inspector = (
        f"  inspector      {credentials.inspector_url}  (open it: paste the dev API key, or sign in)\n"
        if credentials.inspector_url
        else ""
    )
    sso = (
        f"\n  SSO            {credentials.sso_provider}: the dev issuer federates to a stand-in corporate"
        f"\n                 provider at {credentials.corporate_issuer} (SSO_PROVIDER, SSO_ATTRIBUTES)"
        if credentials.sso_provider
        else ""
    )
    who = (
        "a user of the corporate stand-in's page, Alice or Bob"
        if credentials.sso_provider
        else "the one dev user with one click on the dev issuer's page"
    )
    return f"""
serverless-mcp local stack is up (Ctrl-C stops it)

  MCP endpoint   {url}{_servers_lines(credentials)}
  sign-in        {credentials.oauth_issuer}  (the authorization front; upstream: the dev issuer){sso}
{inspector}
Sign in with OAuth (no client ID to configure: clients register themselves, then log in as
{who}):

  Claude Code:
    claude mcp add --transport http serverless-mcp {url}
    (no header: it signs in; then /mcp in Claude Code → Authenticate)

  MCP Inspector (pinned in package.json, on the repo's Node 22; in a second terminal):
    make inspector PORT={urlsplit(url).port}
    → open the URL it prints and Connect: no header; it signs in with OAuth (registers itself,
      opens the consent and dev sign-in pages; no client ID needed)

For agents and CI (no browser): the API key, or a token for the dev machine client

  dev API key    {credentials.api_key}
  access token   {credentials.access_token}
  (also in .local/credentials.json; the key and token are local-only, minted at start, and
  good for every MCP server above: docs/servers.md)
{_usage_line(credentials)}
  Claude Code with the key:
    claude mcp add --transport http serverless-mcp {url} \\
      --header "Authorization: Bearer {credentials.api_key}"

  curl:
    curl -s {url} -H "Authorization: Bearer {credentials.api_key}" \\
      -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" \\
      -d '{{"jsonrpc":"2.0","id":1,"method":"tools/list"}}'

  A fresh token: .venv/bin/mcp-lambda token --scopes mcp/access mcp/profile
"""
