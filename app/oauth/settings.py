"""The authorization front's settings: environment names, the SSM JSON document, the upstream secret.

The front Lambda's environment holds only names (as every function here): `MCP_URL_PARAMETER`
(the MCP URL, read the way the other functions read it), `OAUTH_FRONT_SETTINGS_PARAMETER` (SSM,
JSON), `OAUTH_UPSTREAM_SECRET_ID` (Secrets Manager, `{"client_secret": "..."}`),
`OAUTH_TABLE_NAME`, `OAUTH_SIGNING_KEY_ID`, `OAUTH_SEALING_KEY_ID`. Values are cached for
`CONFIG_CACHE_SECONDS` through the same Powertools reader; the parsed settings are rebuilt only
when a raw value changed.

Every error is a `ConfigurationError` that names the setting (never its value: the upstream
secret lives beside these values and must never reach a log).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from app.auth.algorithms import DEFAULT_BASE_SCOPE
from app.auth.front import CALLBACK_PATH, FRONT_PATH, front_issuer
from app.auth.scopes import is_scope_token
from app.core.config import ConfigurationError, SettingsSource, check_base_scope, fetch_setting
from app.core.servers import MCP_PATH, parse_server_paths, server_url
from app.core.tenancy import TenancySettings
from app.oauth.cimd import is_cimd_client_id
from app.oauth.client_metadata import ClientMetadata, ClientMetadataError, parse_client_metadata
from app.oauth.upstream import UpstreamConfig

SETTINGS_PARAMETER: Final = "OAUTH_FRONT_SETTINGS_PARAMETER"
UPSTREAM_SECRET: Final = "OAUTH_UPSTREAM_SECRET_ID"  # noqa: S105  # a setting name
TABLE_NAME: Final = "OAUTH_TABLE_NAME"
SERVER_PATHS: Final = "MCP_SERVER_PATHS"
SIGNING_KEY: Final = "OAUTH_SIGNING_KEY_ID"
SEALING_KEY: Final = "OAUTH_SEALING_KEY_ID"

# Every key the settings document may hold: an unknown one is a typo (say so rather than ignore it).
KNOWN_KEYS: Final = frozenset(
    {
        "upstream_issuer",
        "upstream_client_id",
        "upstream_scopes",
        "upstream_identity_provider",
        "scopes",
        "base_scope",
        "preregistered_clients",
        "pre_approved_clients",
        "access_token_ttl_seconds",
        "refresh_token_ttl_seconds",
        "code_ttl_seconds",
        "login_ttl_seconds",
        "registration_enabled",
        "registration_max_clients",
        "registration_per_ip_per_hour",
        "cimd_fetches_per_ip_per_hour",
    }
)

# Bounds of the durations a deployment may choose; outside them a setting is a mistake.
_TTL_BOUNDS: Final = {
    "access_token_ttl_seconds": (600, 60, 3600),
    "refresh_token_ttl_seconds": (2_592_000, 3600, 90 * 86400),
    "code_ttl_seconds": (60, 10, 600),
    "login_ttl_seconds": (600, 60, 3600),
}


@dataclass(frozen=True)
class FrontSettings:
    """Everything the front's flows need, validated."""

    mcp_url: str
    upstream: UpstreamConfig
    table_name: str
    signing_key_id: str
    sealing_key_id: str
    scopes: tuple[str, ...] = (DEFAULT_BASE_SCOPE,)
    base_scope: str = DEFAULT_BASE_SCOPE
    preregistered_clients: Mapping[str, ClientMetadata] = field(default_factory=dict)
    pre_approved_clients: frozenset[str] = frozenset()
    access_token_ttl_seconds: int = 600
    refresh_token_ttl_seconds: int = 2_592_000
    code_ttl_seconds: int = 60
    login_ttl_seconds: int = 600
    registration_enabled: bool = True
    registration_max_clients: int = 1000
    registration_per_ip_per_hour: int = 10
    cimd_fetches_per_ip_per_hour: int = 60
    # MULTI_TENANT and where the upstream's ID token names the tenant (environment, not SSM:
    # the same switches the authorizer reads).
    tenancy: TenancySettings = field(default_factory=TenancySettings)
    # MCP_SERVER_PATHS (environment, like the stack's other per-function switches): the paths of
    # every MCP server of the API, the primary `/mcp` first (docs/servers.md).
    server_paths: tuple[str, ...] = (MCP_PATH,)

    @property
    def issuer(self) -> str:
        return front_issuer(self.mcp_url)

    @property
    def resource_urls(self) -> tuple[str, ...]:
        """Every resource (RFC 8707) a token may be issued for: each server's URL, the primary first."""
        return tuple(server_url(self.mcp_url, path) for path in self.server_paths)

    def endpoint(self, path: str) -> str:
        """The absolute URL of one of the front's routes (`path` as in `app.auth.front`)."""
        return self.issuer + path.removeprefix(FRONT_PATH)


def parse_front_settings(
    values: Mapping[str, Any],
    *,
    mcp_url: str,
    client_secret: str,
    table_name: str,
    signing_key_id: str,
    sealing_key_id: str,
    source: str = SETTINGS_PARAMETER,
) -> FrontSettings:
    """Build `FrontSettings` from the SSM JSON object; `ConfigurationError` naming `source` and the key."""

    def text(key: str, *, required: bool = False) -> str | None:
        value = values.get(key)
        if value is None or value == "":
            if required:
                raise ConfigurationError(f"{source}: '{key}' is required")
            return None
        if not isinstance(value, str):
            raise ConfigurationError(f"{source}: '{key}' must be a string")
        return value

    def strings(key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = values.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ConfigurationError(f"{source}: '{key}' must be a list of non-empty strings")
        return tuple(value)

    def integer(key: str, default: int, low: int, high: int) -> int:
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigurationError(f"{source}: '{key}' must be a whole number from {low} to {high}")
        return value

    def flag(key: str, default: bool) -> bool:
        value = values.get(key, default)
        if not isinstance(value, bool):
            raise ConfigurationError(f"{source}: '{key}' must be true or false")
        return value

    unknown = sorted(key for key in values if key not in KNOWN_KEYS)
    if unknown:
        # A key is the deployment's own text, not a secret; bounded in case it is huge.
        raise ConfigurationError(
            f"{source}: unknown key {unknown[0][:60]!r} (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    issuer = text("upstream_issuer", required=True)
    upstream_client_id = text("upstream_client_id", required=True)
    assert issuer is not None  # required above
    assert upstream_client_id is not None
    try:
        base_scope = check_base_scope(text("base_scope") or DEFAULT_BASE_SCOPE)
    except ConfigurationError:  # its message names the authorizer's env variable, not this key
        raise ConfigurationError(
            f"{source}: 'base_scope' must be one OAuth scope token (no spaces or quotes), e.g. mcp/access"
        ) from None
    scopes = strings("scopes", (base_scope,))
    for scope in scopes:
        if not is_scope_token(scope):
            raise ConfigurationError(f"{source}: 'scopes' must hold OAuth scope tokens (no spaces or quotes)")
    if base_scope not in scopes:
        scopes = (base_scope, *scopes)
    try:
        front = front_issuer(mcp_url)
    except ValueError:
        raise ConfigurationError("MCP_URL must end in /mcp") from None
    try:
        upstream = UpstreamConfig(
            issuer=issuer,
            client_id=upstream_client_id,
            client_secret=client_secret,
            redirect_uri=front + CALLBACK_PATH.removeprefix(FRONT_PATH),
            scopes=strings("upstream_scopes", ("openid", "email")),
            identity_provider=text("upstream_identity_provider"),
        )
    except ValueError as error:  # its messages name the setting, never a value
        raise ConfigurationError(f"{source}: {error}") from None
    ttls = {key: integer(key, default, low, high) for key, (default, low, high) in _TTL_BOUNDS.items()}
    preregistered = _preregistered(values.get("preregistered_clients", []), source)
    pre_approved = frozenset(strings("pre_approved_clients"))
    for client_id in pre_approved:
        # Only a client the deployment knows by name can be trusted without asking the user:
        # registered ids are random, so pre-approving anything else approves nothing or a typo.
        if client_id not in preregistered and not is_cimd_client_id(client_id):
            raise ConfigurationError(
                f"{source}: 'pre_approved_clients' entries must be preregistered client ids or "
                "client ID metadata document URLs"
            )
    return FrontSettings(
        mcp_url=mcp_url,
        upstream=upstream,
        table_name=table_name,
        signing_key_id=signing_key_id,
        sealing_key_id=sealing_key_id,
        scopes=scopes,
        base_scope=base_scope,
        preregistered_clients=preregistered,
        pre_approved_clients=pre_approved,
        registration_enabled=flag("registration_enabled", True),
        registration_max_clients=integer("registration_max_clients", 1000, 0, 1_000_000),
        registration_per_ip_per_hour=integer("registration_per_ip_per_hour", 10, 0, 10_000),
        cimd_fetches_per_ip_per_hour=integer("cimd_fetches_per_ip_per_hour", 60, 1, 100_000),
        access_token_ttl_seconds=ttls["access_token_ttl_seconds"],
        refresh_token_ttl_seconds=ttls["refresh_token_ttl_seconds"],
        code_ttl_seconds=ttls["code_ttl_seconds"],
        login_ttl_seconds=ttls["login_ttl_seconds"],
    )


def _preregistered(value: object, source: str) -> dict[str, ClientMetadata]:
    """Clients named in the settings, checked by the same rules as a registration."""
    if not isinstance(value, list):
        raise ConfigurationError(f"{source}: 'preregistered_clients' must be a list of objects")
    clients: dict[str, ClientMetadata] = {}
    for entry in value:
        client_id = entry.get("client_id") if isinstance(entry, dict) else None
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError(f"{source}: every 'preregistered_clients' entry needs a 'client_id'")
        if client_id in clients:
            raise ConfigurationError(f"{source}: preregistered client {client_id[:100]!r} is listed twice")
        document = {k: v for k, v in entry.items() if k != "client_id"}
        # The deployment's own clients refresh unless their entry says otherwise.
        document.setdefault("grant_types", ["authorization_code", "refresh_token"])
        try:
            clients[client_id] = parse_client_metadata(document, client_id=client_id, source="registration")
        except ClientMetadataError as error:
            raise ConfigurationError(
                f"{source}: preregistered client {client_id[:100]!r}: {error.description}"
            ) from None
        if clients[client_id].token_endpoint_auth_method != "none":  # noqa: S105  # a method name
            # The settings have no place for a client secret (it would sit in SSM in plaintext),
            # so a confidential preregistered client could never authenticate at /token.
            raise ConfigurationError(
                f"{source}: preregistered client {client_id[:100]!r}: token_endpoint_auth_method "
                "must be none (preregistered clients are public and use PKCE)"
            )
    return clients


@dataclass
class FrontSettingsSource:
    """Reads the front's settings where they live, cached like `SettingsSource.auth()`."""

    source: SettingsSource = field(default_factory=SettingsSource)
    _parsed: tuple[tuple[str, ...], FrontSettings] | None = field(default=None, init=False)
    _fresh_until: float = field(default=0.0, init=False)

    def settings(self) -> FrontSettings:
        now = time.monotonic()
        if self._parsed is not None and now < self._fresh_until:
            return self._parsed[1]
        env = self.source.env
        max_age = self.source.config_cache_seconds
        mcp_url = self.source.auth().mcp_url  # validated there: absolute, ends in /mcp
        names = {name: env.get(name, "").strip() for name in (TABLE_NAME, SIGNING_KEY, SEALING_KEY)}
        for name in (SETTINGS_PARAMETER, UPSTREAM_SECRET, *names):
            if not env.get(name, "").strip():
                raise ConfigurationError(f"{name} is not set (see docs/oauth.md)")
        parameter = env[SETTINGS_PARAMETER].strip()
        secret_id = env[UPSTREAM_SECRET].strip()
        reader = self.source.reader
        raw = fetch_setting(
            lambda: reader.parameter(parameter, max_age), SETTINGS_PARAMETER, f"SSM parameter {parameter}"
        )
        raw_secret = fetch_setting(
            lambda: reader.secret(secret_id, max_age), UPSTREAM_SECRET, f"secret {secret_id}"
        )
        key = (mcp_url, raw, raw_secret, *names.values())
        if self._parsed is None or self._parsed[0] != key:
            parsed = self._parse(raw, raw_secret, mcp_url, names, parameter, secret_id)
            self._parsed = (
                key,
                replace(parsed, tenancy=TenancySettings.from_env(env), server_paths=server_paths_of(env)),
            )
        self._fresh_until = now + max_age
        return self._parsed[1]

    def clear(self) -> None:
        self.source.clear()
        self._parsed = None
        self._fresh_until = 0.0

    @staticmethod
    def _parse(
        raw: str, raw_secret: str, mcp_url: str, names: Mapping[str, str], parameter: str, secret_id: str
    ) -> FrontSettings:
        values = _json_object(raw)
        if values is None:
            raise ConfigurationError(
                f"{SETTINGS_PARAMETER}: SSM parameter {parameter} must hold a JSON object "
                "(keys: upstream_issuer, upstream_client_id, scopes, ... see docs/oauth.md)"
            )
        secret = _json_object(raw_secret)
        client_secret = secret.get("client_secret") if secret is not None else None
        if not isinstance(client_secret, str) or not client_secret:
            raise ConfigurationError(
                f'{UPSTREAM_SECRET}: secret {secret_id} must hold a JSON object {{"client_secret": "..."}}'
            )
        return parse_front_settings(
            values,
            mcp_url=mcp_url,
            client_secret=client_secret,
            table_name=names[TABLE_NAME],
            signing_key_id=names[SIGNING_KEY],
            sealing_key_id=names[SEALING_KEY],
            source=f"SSM parameter {parameter}",
        )


def server_paths_of(env: Mapping[str, str]) -> tuple[str, ...]:
    """`MCP_SERVER_PATHS` (e.g. `/mcp,/research/mcp`); unset: the primary server `/mcp` only."""
    try:
        return parse_server_paths(env.get(SERVER_PATHS, ""), SERVER_PATHS)
    except ValueError as error:
        raise ConfigurationError(f"{error} (the paths of the MCP servers, docs/servers.md)") from None


def _json_object(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
