"""Typed settings for both Lambdas and the local stack, with safe defaults and fixable errors.

Where values come from:

- deployed, the Lambda environment holds only NAMES (`MCP_URL_PARAMETER`,
  `AUTH_SETTINGS_PARAMETER`, `API_KEYS_SECRET_ID`, `UPSTREAM_SECRET_ID`) and non-secret
  switches; `SettingsSource` reads the values from SSM Parameter Store and Secrets Manager
  through Powertools Parameters, cached for `CONFIG_CACHE_SECONDS` / `API_KEYS_CACHE_SECONDS`
  and fetched again after that age;
- locally and in tests, when a `*_PARAMETER` name is unset, the same settings are read from
  direct environment values (`MCP_URL`, `OAUTH_ISSUER`, ...).

Every name is listed in `.env.example`. A missing or malformed setting raises
`ConfigurationError` naming the setting and the fix; a value is never echoed, because some
settings may hold material that should not reach a log. A value that could not be read at all
(AWS unreachable, throttling, access refused) raises its subclass `SettingUnavailable`: the
functions then refuse what needs it (fail closed) and read it again later, without a restart.

Reads from AWS are bounded (see docs/resilience.md): each attempt may take
`AWS_CONNECT_TIMEOUT_SECONDS` + `AWS_READ_TIMEOUT_SECONDS`, botocore's standard retry mode makes
at most `AWS_MAX_ATTEMPTS`, and a failed read is not tried again for `READ_RETRY_SECONDS`
(requests in between are refused at once), so an outage or throttling costs each request
nothing and never holds the authorizer past its Lambda timeout.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlsplit

from app.auth.algorithms import ASYMMETRIC_ALGORITHMS, DEFAULT_BASE_SCOPE
from app.auth.front import front_issuer
from app.auth.scopes import is_scope_token

# The paths' home is app.core.servers; re-exported for the modules that import them from here.
from app.core.servers import MCP_PATH as MCP_PATH
from app.core.servers import PRM_PATH as PRM_PATH
from app.core.servers import server_metadata_url, server_url

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_ALGORITHMS: Final = ASYMMETRIC_ALGORITHMS


# One read of SSM or Secrets Manager: at most 2 attempts of (1 s connect + 2 s read) and one
# standard-mode back-off (at most 1 s): 7 s in the worst case, inside the authorizer's 10 s
# Lambda timeout. Both services answer in tens of milliseconds when they answer at all.
AWS_CONNECT_TIMEOUT_SECONDS: Final = 1.0
AWS_READ_TIMEOUT_SECONDS: Final = 2.0
AWS_MAX_ATTEMPTS: Final = 2
# After a failed read, the same value is not asked of AWS again for this long: a throttled
# service gets room, and requests during an outage are refused at once instead of each paying
# the retries. It is also the Retry-After of the MCP function's 503.
READ_RETRY_SECONDS: Final = 2.0

# Error codes that mean "not now" rather than "not this way": throttling and AWS-side failures
# (the retryable codes in "Secrets Manager quotas: Add retries to your application",
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
_TRANSIENT_ERROR_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalFailure",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
    }
)


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


class SettingUnavailable(ConfigurationError):
    """A setting's value could not be read from AWS.

    `transient`: AWS did not answer (connection refused or reset, timeout), throttled the read,
    or failed on its side: the same read may work shortly. Otherwise AWS refused it for good
    (not found, access denied): a misconfiguration, which the message says how to fix.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class RecentReadFailure(Exception):
    """A read not attempted because the same read failed less than `READ_RETRY_SECONDS` ago."""

    def __init__(self, failure: str, transient: bool) -> None:
        super().__init__(failure)
        self.failure = failure
        self.transient = transient


def aws_client_config() -> Any:
    """The botocore `Config` of the settings' AWS clients: bounded timeouts and attempts."""
    from botocore.config import Config

    return Config(
        connect_timeout=AWS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=AWS_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": AWS_MAX_ATTEMPTS},
    )


def describe_read_failure(error: BaseException) -> tuple[str, bool]:
    """A failed AWS call's short name (an AWS error code or an exception class) and whether it is transient.

    Powertools wraps the botocore error in its own (`GetParameterError`), raised while handling
    it: the botocore error is the context. Only codes and class names are used, never messages,
    which may quote what was asked for.
    """
    if isinstance(error, RecentReadFailure):
        return error.failure, error.transient
    from botocore.exceptions import BotoCoreError, ClientError

    # A botocore error is the failure itself (its own context is urllib3's); anything else may wrap one.
    is_botocore = isinstance(error, (BotoCoreError, ClientError))
    cause = error if is_botocore else (error.__cause__ or error.__context__ or error)
    response = getattr(cause, "response", None)
    if isinstance(response, Mapping):  # botocore ClientError: AWS answered with an error
        code = str((response.get("Error") or {}).get("Code") or type(cause).__name__)
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return code, code in _TRANSIENT_ERROR_CODES or (isinstance(status, int) and status >= 500)
    from botocore.exceptions import ConnectionError as EndpointUnreachable
    from botocore.exceptions import HTTPClientError

    # Connection refused, reset or closed, and timeouts: AWS did not answer.
    unanswered = (EndpointUnreachable, HTTPClientError, TimeoutError, ConnectionError)
    return type(cause).__name__, isinstance(cause, unanswered)


def read_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number (see .env.example)") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum} (see .env.example)")
    return value


def read_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds (see .env.example)") from None
    if not value >= minimum:
        raise ConfigurationError(f"{name} must be at least {minimum} (see .env.example)")
    return value


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false (see .env.example)")


def read_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list; blanks dropped, order kept."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def parse_origins(values: tuple[str, ...], setting: str) -> frozenset[str]:
    """Browser origins (`https://host[:port]`); `ConfigurationError` naming `setting` otherwise."""
    for origin in values:
        parts = urlsplit(origin)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.path or parts.query:
            raise ConfigurationError(
                f"{setting} entries must be origins like https://app.example.com "
                "(scheme and host, no path), comma separated"
            )
    return frozenset(values)


def check_base_scope(value: str) -> str:
    """`value` if it is one RFC 6749 scope token; `ConfigurationError` naming the setting otherwise.

    A space, quote or backslash would break the scope string the authorizer context carries and
    the `scope="…"` of every challenge, so such a value stops the start instead.
    """
    if not is_scope_token(value):
        raise ConfigurationError(
            "OAUTH_BASE_SCOPE must be one OAuth scope token (printable ASCII without spaces, "
            "quotes or backslashes), e.g. mcp/access"
        )
    return value


@dataclass(frozen=True)
class HttpSettings:
    """Request limits of the MCP Lambda's HTTP layer (origins are auth settings, from SSM)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HttpSettings:
        env = os.environ if env is None else env
        return cls(max_body_bytes=read_int(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1024))


@dataclass(frozen=True)
class AuthSettings:
    """Who issues tokens, what this server is called, and what every caller needs.

    Shared by the authorizer (token checks) and the MCP Lambda (protected-resource metadata,
    challenges, origins).

    `oauth_front`: the authorization front (`app/oauth/`, issuer `front_issuer(mcp_url)`) is
    deployed. The authorizer then also trusts the tokens the front signs, and the
    protected-resource metadata names the front first (then `issuer`), so MCP
    clients sign in through it (it speaks CIMD, DCR and loopback redirects; most upstream
    providers don't). `issuer` stays trusted directly, for machine clients that get tokens
    from the upstream with client credentials.
    """

    mcp_url: str
    issuer: str | None = None
    jwks_url: str | None = None
    audiences: tuple[str, ...] = ()
    allowed_client_ids: tuple[str, ...] = ()
    base_scope: str = DEFAULT_BASE_SCOPE
    allowed_origins: frozenset[str] = frozenset()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: int = 30
    jwks_refresh_min_interval_seconds: float = 60
    jwks_fetch_timeout_seconds: float = 3
    oauth_front: bool = False
    # The inspector is served at /inspector on this API (INSPECTOR=true): its origin, the MCP URL's
    # own, may call /mcp (a same-origin POST still carries Origin).
    inspector: bool = False
    # The path of the server these settings describe (app/core/servers.py): `/mcp` is the
    # primary one, whose URL is `mcp_url` itself; another server's URL is derived from it.
    server_path: str = MCP_PATH

    def __post_init__(self) -> None:
        parts = urlsplit(self.mcp_url)
        if parts.scheme not in ("https", "http") or not parts.netloc or not parts.path.endswith(MCP_PATH):
            raise ConfigurationError(
                "MCP_URL must be the full public URL of the MCP endpoint, ending in /mcp "
                "(e.g. https://abc123.execute-api.us-east-1.amazonaws.com/prod/mcp)"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("MCP_URL must not carry a query string or fragment")
        check_base_scope(self.base_scope)

    def origin_allowed(self, origin: str) -> bool:
        """Whether a browser page on `origin` may call /mcp: ALLOWED_ORIGINS, or the inspector's own."""
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(self.mcp_url)
        return self.inspector and origin == f"{parts.scheme}://{parts.netloc}"

    @property
    def accepted_audiences(self) -> tuple[str, ...]:
        """The canonical MCP URL (RFC 8707) first, then any configured extra audiences."""
        return (self.mcp_url, *(a for a in self.audiences if a != self.mcp_url))

    @property
    def resource_url(self) -> str:
        """This server's canonical URL (RFC 8707 resource): `mcp_url` for the primary server."""
        return server_url(self.mcp_url, self.server_path)

    @property
    def resource_metadata_url(self) -> str:
        """Where the RFC 9728 metadata for this server's URL is served.

        The well-known segment is inserted before the server's path, inside any stage prefix:
        `https://h/prod/mcp` → `https://h/prod/.well-known/oauth-protected-resource/mcp`. With a
        custom domain at the root this is exactly the RFC 9728 location.
        """
        return server_metadata_url(self.mcp_url, self.server_path)

    @property
    def authorization_servers(self) -> tuple[str, ...]:
        """What the protected-resource metadata names: the front first when on, then the issuer.

        Interactive clients (the SDK's `OAuthClientProvider`, Claude Code, the Inspector) take
        `authorization_servers[0]`, so the front comes first. The upstream issuer stays listed
        because the authorizer still trusts it for machine clients (client credentials at
        Cognito or the OIDC provider), and the SDK's client-credentials provider looks for its
        configured issuer among the advertised ones and refuses a server list without it.
        """
        upstream = (self.issuer,) if self.issuer else ()
        if self.oauth_front:
            return (front_issuer(self.mcp_url), *upstream)
        return upstream

    @classmethod
    def from_mapping(cls, mcp_url: str, values: Mapping[str, Any], source: str) -> AuthSettings:
        """Build from the JSON object stored in SSM (`source` names it in errors)."""

        def text(key: str) -> str | None:
            value = values.get(key)
            if value is None or value == "":
                return None
            if not isinstance(value, str):
                raise ConfigurationError(f"{source}: '{key}' must be a string")
            return value

        def strings(key: str) -> tuple[str, ...]:
            value = values.get(key, [])
            if isinstance(value, str):
                value = [item.strip() for item in value.split(",") if item.strip()]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ConfigurationError(f"{source}: '{key}' must be a list of strings")
            return tuple(value)

        def flag(key: str) -> bool:
            value = values.get(key, False)
            if not isinstance(value, bool):
                # Strictly a JSON boolean: "false" as a string would otherwise read as true.
                raise ConfigurationError(f"{source}: '{key}' must be true or false (a JSON boolean)")
            return value

        def number(key: str, default: float) -> float:
            value = values.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"{source}: '{key}' must be a number")
            return float(value)

        return cls(
            mcp_url=mcp_url,
            issuer=text("issuer"),
            jwks_url=text("jwks_url"),
            audiences=strings("audiences"),
            allowed_client_ids=strings("allowed_client_ids"),
            base_scope=text("base_scope") or DEFAULT_BASE_SCOPE,
            allowed_origins=parse_origins(strings("allowed_origins"), f"{source}: 'allowed_origins'"),
            algorithms=strings("algorithms") or DEFAULT_ALGORITHMS,
            leeway_seconds=int(number("leeway_seconds", 30)),
            jwks_refresh_min_interval_seconds=number("jwks_refresh_min_interval_seconds", 60),
            jwks_fetch_timeout_seconds=number("jwks_fetch_timeout_seconds", 3),
            oauth_front=flag("oauth_front"),
            inspector=flag("inspector"),
        )

    @classmethod
    def from_env(cls, mcp_url: str, env: Mapping[str, str]) -> AuthSettings:
        """Build from the direct `OAUTH_*` / `ALLOWED_ORIGINS` environment values."""
        return cls(
            mcp_url=mcp_url,
            issuer=env.get("OAUTH_ISSUER", "").strip() or None,
            jwks_url=env.get("OAUTH_JWKS_URL", "").strip() or None,
            audiences=read_list(env, "OAUTH_AUDIENCES"),
            allowed_client_ids=read_list(env, "OAUTH_ALLOWED_CLIENT_IDS"),
            base_scope=env.get("OAUTH_BASE_SCOPE", "").strip() or DEFAULT_BASE_SCOPE,
            allowed_origins=parse_origins(read_list(env, "ALLOWED_ORIGINS"), "ALLOWED_ORIGINS"),
            algorithms=read_list(env, "OAUTH_ALGORITHMS") or DEFAULT_ALGORITHMS,
            leeway_seconds=read_int(env, "JWT_LEEWAY_SECONDS", 30),
            jwks_refresh_min_interval_seconds=read_float(env, "JWKS_REFRESH_MIN_INTERVAL_SECONDS", 60),
            jwks_fetch_timeout_seconds=read_float(env, "JWKS_FETCH_TIMEOUT_SECONDS", 3, minimum=0.1),
            oauth_front=read_bool(env, "OAUTH_FRONT", False),
            inspector=read_bool(env, "INSPECTOR", False),
        )


class ParameterReader:
    """The slice of Powertools Parameters the settings need; a seam for tests and the local stack.

    Providers are created on first use, not at import: a process that never reads SSM never
    builds an SSM client, and tests can create a reader inside a moto mock.
    """

    def __init__(self) -> None:
        self._ssm: Any = None
        self._secrets: Any = None
        self._lock = threading.Lock()
        # (kind, name) -> (monotonic time until which the read is not retried, failure, transient)
        self._failed: dict[tuple[str, str], tuple[float, str, bool]] = {}

    def parameter(self, name: str, max_age: int) -> str:
        with self._lock:
            if self._ssm is None:
                from aws_lambda_powertools.utilities.parameters import SSMProvider

                self._ssm = SSMProvider(boto_config=aws_client_config())
            provider = self._ssm
        return self._read(("ssm", name), lambda: provider.get(name, max_age=max_age))

    def secret(self, secret_id: str, max_age: int, *, force_fetch: bool = False) -> str:
        with self._lock:
            if self._secrets is None:
                from aws_lambda_powertools.utilities.parameters import SecretsProvider

                self._secrets = SecretsProvider(boto_config=aws_client_config())
            provider = self._secrets
        return self._read(
            ("secret", secret_id),
            lambda: provider.get(secret_id, max_age=max_age, force_fetch=force_fetch),
            remember=not force_fetch,
        )

    def _read(self, key: tuple[str, str], fetch: Callable[[], Any], *, remember: bool = True) -> str:
        """`fetch()`, unless the same read failed less than `READ_RETRY_SECONDS` ago.

        A failure is remembered only for plain reads: a forced extra read (a key store refresh
        for an unknown key) that fails must not hide a value Powertools still holds fresh.
        """
        with self._lock:
            failed = self._failed.get(key)
        if failed is not None and time.monotonic() < failed[0]:
            raise RecentReadFailure(failed[1], failed[2])
        try:
            value: str = fetch()
        except Exception as error:
            if remember:
                failure, transient = describe_read_failure(error)
                with self._lock:
                    self._failed[key] = (time.monotonic() + READ_RETRY_SECONDS, failure, transient)
            raise
        if failed is not None:
            with self._lock:
                self._failed.pop(key, None)
        return value

    def clear(self) -> None:
        """Forget every cached value and the AWS clients (after a SnapStart restore).

        The providers, and with them their boto3 clients and connection pools, are rebuilt on
        first use: a connection captured in a snapshot is not usable after a restore.
        """
        with self._lock:
            self._ssm = None
            self._secrets = None
            self._failed.clear()


@dataclass
class SettingsSource:
    """Reads settings where they live (SSM / Secrets Manager deployed, env locally), cached.

    `auth()` costs one clock read on a warm call: the parsed `AuthSettings` is served until
    `CONFIG_CACHE_SECONDS` have passed, the same age after which Powertools fetches the raw
    values again; then it is rebuilt only if a raw value changed. The authorizer asks for the
    settings on every decision, so this is on its hot path.
    """

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    reader: ParameterReader = field(default_factory=ParameterReader)
    # The MCP function of a server other than the primary one describes that server (its URL,
    # metadata and challenges); every other function keeps `/mcp`.
    server_path: str = MCP_PATH
    _parsed: tuple[tuple[str, str], AuthSettings] | None = field(default=None, init=False)
    _parsed_fresh_until: float = field(default=0.0, init=False)
    _key_store: tuple[str, dict[str, Any]] | None = field(default=None, init=False)

    @property
    def config_cache_seconds(self) -> int:
        return read_int(self.env, "CONFIG_CACHE_SECONDS", 300)

    @property
    def api_keys_cache_seconds(self) -> int:
        return read_int(self.env, "API_KEYS_CACHE_SECONDS", 60)

    def auth(self) -> AuthSettings:
        """The current auth settings; `ConfigurationError` if they cannot be read or parsed."""
        now = time.monotonic()
        if self._parsed is not None and now < self._parsed_fresh_until:
            return self._parsed[1]
        max_age = self.config_cache_seconds
        mcp_url = self._value("MCP_URL_PARAMETER", "MCP_URL", max_age)
        if not mcp_url:
            raise ConfigurationError(
                "MCP_URL is not set: set MCP_URL (local) or MCP_URL_PARAMETER "
                "(the SSM parameter that holds it)"
            )
        settings_name = self.env.get("AUTH_SETTINGS_PARAMETER", "").strip()
        raw_settings = self._fetch("AUTH_SETTINGS_PARAMETER", settings_name, max_age) if settings_name else ""
        key = (mcp_url.strip(), raw_settings)
        if self._parsed is not None and self._parsed[0] == key:
            self._parsed_fresh_until = now + max_age
            return self._parsed[1]
        if settings_name:
            try:
                values = json.loads(raw_settings)
            except ValueError:
                values = None
            if not isinstance(values, dict):
                raise ConfigurationError(
                    f"AUTH_SETTINGS_PARAMETER: SSM parameter {settings_name} must hold a JSON object "
                    "(keys: issuer, jwks_url, audiences, allowed_client_ids, base_scope, allowed_origins, "
                    "oauth_front, inspector)"
                )
            settings = AuthSettings.from_mapping(key[0], values, f"SSM parameter {settings_name}")
        else:
            settings = AuthSettings.from_env(key[0], self.env)
        if self.server_path != MCP_PATH:
            settings = replace(settings, server_path=self.server_path)
        self._parsed = (key, settings)
        self._parsed_fresh_until = now + max_age
        return settings

    def check_at_start(self) -> None:
        """Read the auth settings now, as a cold start does, so a misconfiguration stops it.

        An AWS outage or throttling does not stop it (`fetch_setting` logged a warning): the
        container starts, and refuses what needs the settings until a read succeeds, instead of
        failing every start while AWS is away (which API Gateway would answer with a 5xx).
        """
        try:
            self.auth()
        except SettingUnavailable as error:
            if not error.transient:
                raise

    def api_key_store(self, *, force_fetch: bool = False) -> Mapping[str, Any] | None:
        """The API key store document, or None when API keys are not configured."""
        secret_id = self.env.get("API_KEYS_SECRET_ID", "").strip()
        if not secret_id:
            return None
        raw = self._fetch_secret(
            "API_KEYS_SECRET_ID", secret_id, self.api_keys_cache_seconds, force_fetch=force_fetch
        )
        # Parsed once per secret version: the same document object is returned until it changes.
        if self._key_store is not None and self._key_store[0] == raw:
            return self._key_store[1]
        try:
            document = json.loads(raw) if raw.strip() else {}
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ConfigurationError(f"API_KEYS_SECRET_ID: secret {secret_id} must hold a JSON object")
        self._key_store = (raw, document)
        return document

    def upstream_credential(self) -> str | None:
        """The example upstream API credential, or None when not configured."""
        secret_id = self.env.get("UPSTREAM_SECRET_ID", "").strip()
        if not secret_id:
            return None
        return self._fetch_secret("UPSTREAM_SECRET_ID", secret_id, self.config_cache_seconds)

    def clear(self) -> None:
        self.reader.clear()
        self._parsed = None
        self._parsed_fresh_until = 0.0
        self._key_store = None

    def _value(self, parameter_setting: str, direct_setting: str, max_age: int) -> str:
        name = self.env.get(parameter_setting, "").strip()
        if name:
            return self._fetch(parameter_setting, name, max_age)
        return self.env.get(direct_setting, "").strip()

    def _fetch(self, setting: str, name: str, max_age: int) -> str:
        return fetch_setting(lambda: self.reader.parameter(name, max_age), setting, f"SSM parameter {name}")

    def _fetch_secret(self, setting: str, secret_id: str, max_age: int, *, force_fetch: bool = False) -> str:
        return fetch_setting(
            lambda: self.reader.secret(secret_id, max_age, force_fetch=force_fetch),
            setting,
            f"secret {secret_id}",
        )


def fetch_setting(fetch: Callable[[], str], setting: str, what: str) -> str:
    """Run `fetch` (a read of SSM or Secrets Manager) for `setting`; a failed read becomes a
    `SettingUnavailable`, a value that is not a string a ConfigurationError, both naming the
    setting and `what` was read.

    Shared by every function's settings (the front's too) so a missing parameter or a denied
    read says the same thing everywhere, and never carries the AWS error's text (which could be
    long or, for a secret, echo more than it should). A read that just failed is logged once
    (a warning); the refusals while it is not retried (`RecentReadFailure`) are not logged again.
    """
    try:
        value = fetch()
    except Exception as exc:
        failure, transient = describe_read_failure(exc)
        if transient:
            hint = (
                "AWS did not answer in time or throttled the read; what needs it is refused "
                f"until a read succeeds (tried again after {READ_RETRY_SECONDS:g} s)"
            )
        else:
            hint = "check that it exists and that this function's role may read it"
        error = SettingUnavailable(
            f"{setting}: could not read {what} ({failure}); {hint}", transient=transient
        )
        if not isinstance(exc, RecentReadFailure):
            log.warning("%s", error)
        raise error from None
    if not isinstance(value, str):
        raise ConfigurationError(f"{setting}: {what} must hold a string value")
    return value


def retry_after_seconds() -> str:
    """The `Retry-After` value (whole seconds) for an answer refused because a read failed."""
    return str(math.ceil(READ_RETRY_SECONDS))
