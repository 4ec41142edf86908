"""The authorizer's logic: current settings → authenticator → decision. No Lambda event shapes.

`Gatekeeper.decide()` turns an Authorization header into a `Decision` and never raises: any
doubt (a bad credential, an unreadable key store, a configuration error, a bug) is a refusal.
Settings are asked of `SettingsSource` on every call, which is cheap (it serves its parsed
settings until the config cache age) and means an SSM change reaches a warm container within
that age.
The JWKS cache and the parsed key store live as long as the settings that produced them.

Per-tool decisions: when `TOOL_SCOPES_FILE` names the tool registry's export (see
`app.auth.tool_scopes`), a request whose routing headers name a tool, prompt or resource
(`Mcp-Method` + `Mcp-Name`, sent by 2026-07-28 clients) is refused with 403 here unless the
principal holds that item's scopes, so API Gateway itself answers with the step-up challenge.
That is only correct while API Gateway does not cache decisions: a cached answer is reused for
any request with the same Authorization header, whatever tool it names. So the file and a
non-zero `AUTHORIZER_CACHE_TTL_SECONDS` together are a configuration error.

Tenants (`MULTI_TENANT=true`, see `app.core.tenancy`): an authenticated caller without a valid
tenant is refused with 403 (`missing_tenant`, `invalid_tenant`) before any per-tool decision, or
given `DEFAULT_TENANT`; the tenant then travels in the authorizer context like the principal.

Several MCP servers (docs/servers.md): the tool-scopes document (version 2) lists every server
and its path. The request's server is the one at the path of its method ARN; a credential is for
the servers its JWT `aud` names (the primary server also takes `OAUTH_AUDIENCES` and aud-less
Cognito tokens of `OAUTH_ALLOWED_CLIENT_IDS`) or its API key's `servers` lists (default: the
primary). The decision lists every server the credential may call for these identity sources
(`Decision.permitted`), never only the one the request was for, so the policy API Gateway caches
for them admits exactly those servers wherever the next request goes. With a non-zero cache TTL
the document is read for its servers only (per-tool decisions need the authorizer on every
request), which is allowed only when it lists several servers.

Usage plans (`USAGE_KEY_IDS` set, see `app.authorizer.usage`): an allowed decision also names the
API Gateway usage key the request is metered under and the caller's tier (the context carries it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.auth.api_keys import ApiKeyRecord, KeyStore
from app.auth.authenticator import Authenticator, TokenVerifier
from app.auth.errors import AuthError, ReasonCode
from app.auth.front import front_issuer, front_jwks_url
from app.auth.jwt_settings import JwtSettings
from app.auth.principal import Principal
from app.auth.tenants import FRONT_TENANT_RULE, TenantRule
from app.auth.tool_scopes import ServerScopes, ServerTable
from app.authorizer.usage import UsageIdentifiers
from app.core.config import AuthSettings, ConfigurationError, SettingsSource, SettingUnavailable
from app.core.servers import MCP_PATH, server_url
from app.core.tenancy import TenancySettings

log = logging.getLogger(__name__)

FetchJson = Callable[[str, float], dict[str, Any]]

# A key id the cached key store does not know triggers one fresh read at most this often, so a
# key created a moment ago works at once, while random key ids cannot hammer Secrets Manager.
KEY_STORE_REFRESH_MIN_INTERVAL_SECONDS = 10.0


# Sets of token audiences whose servers are remembered (cleared when full).
_AUDIENCE_SETS_KEPT = 256

# RFC 9068 §2.1: the front's access tokens say what they are in their JOSE header.
FRONT_ACCESS_JWT_TYPE = "at+jwt"

# Refusals of a caller whose credential is valid: 403 (API Gateway's ACCESS_DENIED), not 401.
_FORBIDDEN_REASONS = frozenset(
    {
        ReasonCode.MISSING_SCOPE,
        ReasonCode.INSUFFICIENT_SCOPE,
        ReasonCode.MISSING_TENANT,
        ReasonCode.INVALID_TENANT,
        ReasonCode.WRONG_SERVER,
    }
)


@dataclass(frozen=True)
class Target:
    """The item a request names in its routing headers: `Mcp-Method` and decoded `Mcp-Name`."""

    method: str
    name: str


@dataclass(frozen=True)
class Decision:
    """Allow with a principal, or refuse with a reason: 401 (unauthenticated) or 403 (scope).

    `required_scopes` is what a 403 for a named item needs in all (base scope included), so a
    client that replaces its scope set with the challenged one does not lose the base scope.
    `usage_key`, `tier`: with usage plans on, the API Gateway API key an allowed request is
    metered under (never in `repr`, so never in a log line) and the caller's usage tier.
    """

    principal: Principal | None
    reason: ReasonCode | None = None
    required_scopes: frozenset[str] = frozenset()
    usage_key: str | None = field(default=None, repr=False)
    tier: str | None = None
    # Several servers: the server the request is for (audit), and every server this credential
    # may call for these identity sources (the Allow policy lists exactly their resources).
    # `permitted` None: one server, the policy covers the whole stage as before.
    server: str | None = None
    permitted: tuple[ServerScopes, ...] | None = None

    def context(self) -> dict[str, str]:
        """The authorizer context of an allowed decision: the principal's, its usage tier, its servers.

        `servers` (names, space-joined) is a function of the identity sources like the policy,
        so a cached context stays true for every server the cached policy admits.
        """
        assert self.principal is not None
        context = self.principal.to_context()
        if self.tier is not None:
            context["tier"] = self.tier
        if self.permitted is not None:
            context["servers"] = " ".join(server.name for server in self.permitted)
        return context

    @property
    def admits_elsewhere(self) -> bool:
        """A valid credential at a server it is not for, which may call other servers here."""
        return self.reason is ReasonCode.WRONG_SERVER and bool(self.permitted)

    @property
    def allowed(self) -> bool:
        return self.principal is not None and self.reason is None

    @property
    def status(self) -> int:
        if self.allowed:
            return 200
        return 403 if self.reason in _FORBIDDEN_REASONS else 401


class Gatekeeper:
    """Decides, for each request, whether its credential lets it through."""

    def __init__(
        self,
        source: SettingsSource,
        *,
        fetch_json: FetchJson | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._fetch_json = fetch_json
        self._clock = clock
        self._settings: AuthSettings | None = None
        self._authenticator: Authenticator | None = None
        self._key_store: tuple[Mapping[str, Any], KeyStore] | None = None
        self._key_store_problem: str | None = None
        self._force_key_store_fetch = False
        self._last_forced_fetch = -KEY_STORE_REFRESH_MIN_INTERVAL_SECONDS
        self._servers: ServerTable | None = None
        self._servers_loaded = False
        self._per_tool = False
        self._audiences: (
            tuple[
                AuthSettings,
                ServerTable,
                Mapping[str, ServerScopes],
                frozenset[str],
                dict[frozenset[str], tuple[ServerScopes, ...]],
            ]
            | None
        ) = None
        self._tenancy: TenancySettings | None = None
        self._usage = UsageIdentifiers(source.env)

    def check_configuration(self) -> AuthSettings | None:
        """Read and validate the settings now (at cold start); `ConfigurationError` if broken.

        None when AWS could not be asked (outage, throttling): the container still starts and
        refuses every request (`settings_unavailable`) until a read succeeds, rather than
        failing its start, which API Gateway would answer with a 500 to every caller.
        """
        self.tenancy()  # environment only: a bad value stops the start whatever AWS does
        try:
            self._current_authenticator()
        except SettingUnavailable as error:
            if not error.transient:
                raise
        self.tool_scopes()
        self._usage.settings()
        return self._settings

    def servers(self) -> ServerTable | None:
        """The servers and their tools' scopes from `TOOL_SCOPES_FILE`, or None (one server, /mcp)."""
        if not self._servers_loaded:
            self._servers = load_tool_scopes(self._source.env)
            # The environment never changes in a warm container: decided once with the table.
            self._per_tool = self._servers is not None and _cache_ttl(self._source.env) == "0"
            self._servers_loaded = True
        return self._servers

    def tool_scopes(self) -> ServerTable | None:
        """The table when decisions are per tool (cache TTL 0), or None (base scope decisions only)."""
        table = self.servers()
        return table if self._per_tool else None

    def tenancy(self) -> TenancySettings:
        """The multi-tenancy switches, read from the environment once (they never change warm)."""
        if self._tenancy is None:
            self._tenancy = TenancySettings.from_env(self._source.env)
        return self._tenancy

    def decide(
        self, authorization_header: str | None, target: Target | None = None, path: str = MCP_PATH
    ) -> Decision:
        """The decision for a request with this credential and routing headers, at the server at `path`."""
        decision = self._with_tenant(self._authenticate(authorization_header))
        try:
            table = self.servers()
            per_tool = self.tool_scopes() is not None
        except ConfigurationError as error:
            log.error("authorizer configuration error, request refused: %s", error)
            return Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)
        if table is None or len(table.servers) == 1:
            if path != MCP_PATH:  # a server the authorizer knows nothing of: fail closed
                return Decision(principal=None, reason=ReasonCode.UNKNOWN_SERVER)
            server = table.primary if table is not None else None
            decision = replace(decision, server=server.name) if server is not None else decision
            if not decision.allowed or target is None or server is None or not per_tool:
                return decision
            assert decision.principal is not None
            needed = self._lacks(decision.principal, server, target)
            if needed is None:
                return decision
            return replace(decision, reason=ReasonCode.INSUFFICIENT_SCOPE, required_scopes=needed)
        return self._decide_among(decision, table, target if per_tool else None, path)

    def _decide_among(
        self, decision: Decision, table: ServerTable, target: Target | None, path: str
    ) -> Decision:
        """Several servers: the credential's servers, the request's server, per-tool scopes on each."""
        server = table.at_path(path)
        if server is None:
            return Decision(principal=None, reason=ReasonCode.UNKNOWN_SERVER)
        principal = decision.principal
        if not decision.allowed or principal is None:
            return replace(decision, server=server.name)
        callable_servers = self._servers_of(principal, table)
        # For a named item: a server where the principal lacks that item's scopes is left out,
        # so the policy never admits there what the authorizer refused here.
        permitted = (
            callable_servers
            if target is None
            else tuple(s for s in callable_servers if self._lacks(principal, s, target) is None)
        )
        # Built directly, not with `dataclasses.replace` (a third of this method's time).
        usage_key, tier = decision.usage_key, decision.tier
        if all(s is not server for s in callable_servers):
            # The principal stays on the refusal (the audit says whose); `permitted` may be empty.
            reason = ReasonCode.WRONG_SERVER
            return Decision(principal, reason, frozenset(), usage_key, tier, server.name, permitted)
        if target is not None and all(s is not server for s in permitted):
            needed = self._lacks(principal, server, target) or frozenset()
            reason = ReasonCode.INSUFFICIENT_SCOPE
            return Decision(principal, reason, needed, usage_key, tier, server.name, permitted)
        return Decision(principal, None, frozenset(), usage_key, tier, server.name, permitted)

    def _lacks(self, principal: Principal, server: ServerScopes, target: Target) -> frozenset[str] | None:
        """What a 403 for `target` at `server` names (base scope included), or None if allowed there."""
        required = server.scopes.required(target.method, target.name)
        if required and not principal.has_scopes(required):
            return frozenset({self._base_scope(), *required})
        return None

    def _servers_of(self, principal: Principal, table: ServerTable) -> tuple[ServerScopes, ...]:
        """The servers a credential is for, in registry order (fail closed: none when in doubt).

        An API key: the servers its record names; a record without `servers` (made before
        several servers existed) is for the primary server only. A JWT: the servers whose resource
        URL its `aud` names; an aud-less token (a Cognito access token of an allowed client) or one
        for an extra audience (`OAUTH_AUDIENCES`) is for the primary server only.
        """
        if principal.auth_method == "api_key":
            record = self._record_of(principal)
            names = record.servers if record is not None and record.servers is not None else None
            if names is None:
                return (table.primary,)
            return tuple(server for server in table.servers if server.name in names)
        by_url, extras, known = self._audience_map(table)
        audiences = principal.audiences
        servers = known.get(audiences)  # a frozenset caches its hash: one lookup when warm
        if servers is None:
            found = {by_url[aud].name for aud in audiences if aud in by_url}
            if not audiences or not extras.isdisjoint(audiences):
                found.add(table.primary.name)
            servers = tuple(server for server in table.servers if server.name in found)
            if len(known) >= _AUDIENCE_SETS_KEPT:
                known.clear()  # bounded: tokens choose their audiences
            known[audiences] = servers
        return servers

    def _audience_map(
        self, table: ServerTable
    ) -> tuple[Mapping[str, ServerScopes], frozenset[str], dict[frozenset[str], tuple[ServerScopes, ...]]]:
        """Each server by its resource URL, the primary's extra audiences (OAUTH_AUDIENCES), and
        the servers of each set of audiences seen so far.

        Built once per settings and table (both are replaced, never changed, when they change).
        """
        settings = self._settings
        assert settings is not None  # set by the authentication that allowed the request
        cached = self._audiences
        if cached is None or cached[0] is not settings or cached[1] is not table:
            by_url = {server_url(settings.mcp_url, server.path): server for server in table.servers}
            extras = frozenset(settings.audiences) - {settings.mcp_url}
            cached = self._audiences = (settings, table, by_url, extras, {})
        return cached[2], cached[3], cached[4]

    def _with_tenant(self, decision: Decision) -> Decision:
        """An allowed decision's principal with its tenant settled, or the tenant refusal (403)."""
        if not decision.allowed or decision.principal is None:
            return decision
        try:
            tenancy = self.tenancy()
            if not tenancy.multi_tenant:
                return decision  # the hot path when off: no new objects
            # `replace` keeps the usage key and tier the authentication named.
            return replace(decision, principal=tenancy.require_tenant(decision.principal))
        except AuthError as error:
            # The principal stays on the refusal: the audit event says whose request it was.
            return Decision(decision.principal, error.reason)
        except ConfigurationError as error:
            log.error("authorizer configuration error, request refused: %s", error)
            return Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)

    def _base_scope(self) -> str:
        assert self._settings is not None  # set by the authentication that allowed the request
        return self._settings.base_scope

    def _authenticate(self, authorization_header: str | None) -> Decision:
        try:
            try:
                principal = self._current_authenticator().authenticate(authorization_header)
            except AuthError as error:
                if error.reason is not ReasonCode.UNKNOWN_KEY or not self._may_force_key_store_fetch():
                    raise
                self._force_key_store_fetch = True
                principal = self._current_authenticator().authenticate(authorization_header)
            # With usage plans on: the caller's tier and usage key; naming none refuses (fail closed).
            metering = self._usage.meter(principal, self._record_of(principal))
        except AuthError as error:
            return Decision(principal=None, reason=error.reason)
        except SettingUnavailable:
            # Logged once per failed read by `fetch_setting`; every refusal is in the audit trail.
            return Decision(principal=None, reason=ReasonCode.SETTINGS_UNAVAILABLE)
        except ConfigurationError as error:
            log.error("authorizer configuration error, request refused: %s", error)
            return Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)
        except Exception as error:  # fail closed on any bug
            log.error("authorizer internal error, request refused: %s", type(error).__name__)
            return Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)
        if metering is None:
            return Decision(principal=principal)
        return Decision(principal=principal, usage_key=metering.usage_key, tier=metering.tier)

    def _record_of(self, principal: Principal) -> ApiKeyRecord | None:
        """An API key caller's record in the key store snapshot that just verified it."""
        if principal.key_id is None or self._key_store is None:
            return None
        return self._key_store[1].get(principal.key_id)

    def _may_force_key_store_fetch(self) -> bool:
        now = time.monotonic()
        if now - self._last_forced_fetch < KEY_STORE_REFRESH_MIN_INTERVAL_SECONDS:
            return False
        self._last_forced_fetch = now
        return True

    def reset(self) -> None:
        """Forget cached settings, signing keys and key store (after a SnapStart restore)."""
        self._source.clear()
        self._tenancy = None
        self._servers, self._servers_loaded = None, False
        self._settings = None
        self._authenticator = None
        self._key_store = None
        self._usage.reset()

    def _current_authenticator(self) -> Authenticator:
        settings = self._source.auth()
        # `auth()` returns the same object until a setting changes: identity is the cheap test.
        if self._authenticator is None or settings is not self._settings:
            self._authenticator = self._build(settings)
            self._settings = settings
        return self._authenticator

    def _build(self, settings: AuthSettings) -> Authenticator:
        jwt_verifier: TokenVerifier | None = None
        table = self.servers()
        paths = tuple(server.path for server in table.servers) if table is not None else (MCP_PATH,)
        trusted = trusted_issuers(settings, self.tenancy(), paths)
        if trusted:
            # Imported here: an API-key-only deployment never pays for importing PyJWT.
            from app.auth.jwks import JwksCache
            from app.auth.jwt_verifier import JwtVerifier, TrustedIssuers

            verifiers = [
                JwtVerifier(
                    jwt_settings,
                    JwksCache(jwt_settings, fetch_json=self._fetch_json)
                    if self._fetch_json
                    else JwksCache(jwt_settings),
                    clock=self._clock,
                )
                for jwt_settings in trusted
            ]
            # One issuer: its verifier as it is. Several: chosen per token by its `iss`.
            jwt_verifier = verifiers[0] if len(verifiers) == 1 else TrustedIssuers(verifiers)
        loader = self._load_key_store if self._source.env.get("API_KEYS_SECRET_ID", "").strip() else None
        return Authenticator(jwt_verifier, loader, settings.base_scope, clock=self._clock)

    def _load_key_store(self) -> KeyStore:
        """The current key store; `AuthError` `key_store_unavailable` or `key_store_invalid`.

        A store that cannot be read or parsed refuses every API key (fail closed): the last good
        store is not used instead, since the change that broke it may have been a revocation.
        """
        force, self._force_key_store_fetch = self._force_key_store_fetch, False
        try:
            document = self._source.api_key_store(force_fetch=force)
        except SettingUnavailable:
            raise AuthError(ReasonCode.KEY_STORE_UNAVAILABLE) from None
        except ConfigurationError as error:  # read, but not a JSON object
            raise self._invalid_key_store(str(error)) from None
        if document is None:
            return KeyStore.from_json({})
        # The source returns the same document object until the secret changes.
        if self._key_store is None or self._key_store[0] is not document:
            try:
                store = KeyStore.from_json(document)
            except ValueError as error:  # the message names the problem, never a value
                raise self._invalid_key_store(f"API_KEYS_SECRET_ID: {error}") from None
            self._key_store = (document, store)
        self._key_store_problem = None
        return self._key_store[1]

    def _invalid_key_store(self, problem: str) -> AuthError:
        """The refusal for a store that is not a key store; the problem is logged once until fixed."""
        if problem != self._key_store_problem:
            self._key_store_problem = problem
            log.error(
                "%s; every API key is refused until the secret holds a valid key store again "
                "(restore its previous version, stage AWSPREVIOUS, or fix the JSON)",
                problem,
            )
        return AuthError(ReasonCode.KEY_STORE_INVALID)


def trusted_issuers(
    settings: AuthSettings,
    tenancy: TenancySettings | None = None,
    server_paths: tuple[str, ...] = (MCP_PATH,),
) -> list[JwtSettings]:
    """How each issuer the authorizer trusts is checked: the upstream, then the front if on.

    `server_paths`: every MCP server of the API (docs/servers.md). Each one's resource URL is an
    accepted audience of both issuers; which server a token may call is decided from its `aud`
    afterwards (`Gatekeeper._servers_of`).

    The front's tokens (`front_issuer(MCP_URL)`, keys at `front_jwks_url(MCP_URL)`) must name
    exactly the MCP URL as `aud` (RFC 8707; no extra audiences, no aud-less Cognito exception:
    the front always sets it) and carry `typ: at+jwt` (RFC 9068 §2.1, as the front signs them);
    algorithms, leeway and JWKS refresh limits are the same as the upstream's, so no issuer is
    checked less strictly than today's one. With multi-tenancy on, the upstream's tokens name
    their tenant by `TENANT_CLAIM` and the front's by its own `tenant` claim.
    `ConfigurationError` names what to fix.
    """
    tenancy = tenancy or TenancySettings()
    others = tuple(server_url(settings.mcp_url, path) for path in server_paths if path != MCP_PATH)
    front_rule: TenantRule | None = FRONT_TENANT_RULE if tenancy.multi_tenant else None
    trusted: list[JwtSettings] = []
    try:
        if settings.issuer:
            trusted.append(
                JwtSettings(
                    issuer=settings.issuer,
                    audiences=(*settings.accepted_audiences, *others),
                    allowed_client_ids=settings.allowed_client_ids,
                    base_scope=settings.base_scope,
                    algorithms=settings.algorithms,
                    leeway_seconds=settings.leeway_seconds,
                    jwks_url=settings.jwks_url,
                    jwks_refresh_min_interval_seconds=settings.jwks_refresh_min_interval_seconds,
                    jwks_fetch_timeout_seconds=settings.jwks_fetch_timeout_seconds,
                    tenant_rule=tenancy.jwt_rule,
                )
            )
        if settings.oauth_front:
            front = front_issuer(settings.mcp_url)
            if front == settings.issuer:
                raise ConfigurationError(
                    "the auth settings' 'issuer' is the authorization front's own issuer: set 'issuer' to "
                    "the upstream provider (or leave it empty) and keep 'oauth_front': true"
                )
            trusted.append(
                JwtSettings(
                    issuer=front,
                    audiences=(settings.mcp_url, *others),
                    base_scope=settings.base_scope,
                    algorithms=settings.algorithms,
                    leeway_seconds=settings.leeway_seconds,
                    jwks_url=front_jwks_url(settings.mcp_url),
                    jwks_refresh_min_interval_seconds=settings.jwks_refresh_min_interval_seconds,
                    jwks_fetch_timeout_seconds=settings.jwks_fetch_timeout_seconds,
                    audience_required=True,
                    token_types=(FRONT_ACCESS_JWT_TYPE,),
                    tenant_rule=front_rule,
                )
            )
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    return trusted


def _cache_ttl(env: Mapping[str, str]) -> str:
    return env.get("AUTHORIZER_CACHE_TTL_SECONDS", "0").strip() or "0"


def load_tool_scopes(env: Mapping[str, str]) -> ServerTable | None:
    """`TOOL_SCOPES_FILE` parsed, or None when unset; `ConfigurationError` says how to fix it.

    With a non-zero cache TTL the file is only a list of servers (no per-tool decisions), which
    a single-server document is not worth: that combination stays an error, as it always was.
    """
    path = env.get("TOOL_SCOPES_FILE", "").strip()
    if not path:
        return None
    try:
        table = ServerTable.load(Path(path))
    except ValueError as error:
        raise ConfigurationError(
            f"TOOL_SCOPES_FILE: {error}; regenerate it with `python -m app.mcp.tool_scopes_export`"
        ) from None
    ttl = _cache_ttl(env)
    if ttl != "0" and len(table.servers) == 1:
        raise ConfigurationError(
            f"TOOL_SCOPES_FILE is set but AUTHORIZER_CACHE_TTL_SECONDS={ttl}: per-tool decisions need "
            "the authorizer to run on every request; set AUTHORIZER_CACHE_TTL_SECONDS=0 or unset "
            "TOOL_SCOPES_FILE (the MCP function then enforces tool scopes alone)"
        )
    return table
