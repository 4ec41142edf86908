"""A local OpenID Connect provider for development and tests: a real upstream, in memory.

`make dev` puts the authorization front in front of this issuer exactly as a deployment puts it
in front of Cognito or another OIDC provider, so the whole sign-in is the real one:

- discovery (OpenID Connect Discovery and RFC 8414, one document), JWKS, RS256 tokens signed
  with a key generated when the issuer starts and held only in memory;
- registered clients only (`register_client`): exact redirect URIs, allowed grants and scopes,
  a secret for confidential clients (compared in constant time);
- `GET /authorize` (RFC 6749 §4.1.1 with PKCE S256 only, RFC 7636; `state` required, `nonce`
  carried into the ID token): a one-click development login page for the one dev user, or,
  with `auto_approve`, an immediate redirect back with `code`, `state` and `iss` (RFC 9207);
- `POST /authorize`: the click, accepted only with the page's request id and its CSRF value;
- `POST /token`: `authorization_code` (single use, 60 s, bound to client, redirect URI and
  PKCE verifier), `refresh_token` (rotated; a reused one revokes its family, RFC 9700 §4.14.2;
  refused for a disabled user), `client_credentials` (a registered confidential client with
  that grant). Anything else gets an RFC 6749 §5.2 error; no token without a valid grant.

Access tokens carry `aud` (the server's audience, the local MCP URL), `scope`, `client_id`; an
ID token (`aud` = client id, `nonce`, `email`) comes with `openid`. It is for 127.0.0.1 only.

The same class also plays the stand-in corporate provider of SSO (`devtools/sso.py`: other users,
another page title), and with a `Federation` (`devtools/federation.py`) the dev issuer federates
to it as a Cognito pool does: `identity_provider=<Name>` on `/authorize` goes straight there, the
page offers "Sign in with <Name>" beside (or, SSO-only, instead of) the local user, and the
provider's answer comes back to `/idpresponse`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

if TYPE_CHECKING:
    from devtools.federation import Federation

DEFAULT_CLIENT_ID: Final = "mcp-lambda-dev"
DEV_USER: Final = "dev-user"
DEV_USER_NAME: Final = "Dev User"
DEV_USER_EMAIL: Final = "dev-user@example.test"
# As Cognito's managed login sends it (observed: swagger-api/swagger-ui#10786, hashicorp/vault#26596):
# a sign-in window that passes through here is cut off from the page that opened it (window.opener
# is null afterwards), so a browser client's sign-in must not rely on its opener (the inspector's
# boot.js does not).
COOP: Final = "same-origin"
# Where a federated provider sends the user back (Cognito: /oauth2/idpresponse).
IDP_RESPONSE_PATH: Final = "/idpresponse"
DEV_PAGE_INTRO: Final = (
    "This is the local development issuer of <code>make dev</code>: there is one user and no password."
)

ACCESS_TOKEN_SECONDS: Final = 3600
CODE_SECONDS: Final = 60
LOGIN_SECONDS: Final = 600
REFRESH_TOKEN_SECONDS: Final = 30 * 24 * 3600
MAX_FORM_BYTES: Final = 16 * 1024

GRANT_TYPES: Final = ("authorization_code", "refresh_token", "client_credentials")
# RFC 7636 §4.1: 43-128 characters of the unreserved set.
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# RFC 6749 §3.3 scope-token: printable ASCII without space, quote or backslash.
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

Clock = Callable[[], float]
_T = TypeVar("_T")


class OAuthError(Exception):
    """An RFC 6749 error (§4.1.2.1 or §5.2). The description is fixed text, never a request value."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def document(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class RedirectError(OAuthError):
    """An authorization error reported to the client at its (verified) redirect URI."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(error, description)
        self.redirect_uri, self.state = redirect_uri, state


@dataclass(frozen=True)
class DevUser:
    """A user the issuer signs in: the dev user, a stand-in corporate user, or a federated one."""

    subject: str
    name: str
    email: str | None
    # ID-token claims beyond `sub`, `name` and `email` (a federated user's mapped attributes, …).
    claims: Mapping[str, Any] = field(default_factory=dict)

    def id_token_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"name": self.name}
        if self.email:
            claims.update(email=self.email, email_verified=True)
        claims.update(self.claims)
        return claims


DEFAULT_USERS: Final = (DevUser(DEV_USER, DEV_USER_NAME, DEV_USER_EMAIL),)


@dataclass(frozen=True)
class Client:
    client_id: str
    secret_digest: bytes | None
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: frozenset[str] | None  # None: any well-formed scope

    def allows(self, scopes: Iterable[str]) -> bool:
        return self.scopes is None or set(scopes) <= self.scopes


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated `/authorize` request waiting for the dev user's click."""

    request_id: str
    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    scopes: tuple[str, ...]
    nonce: str | None
    expires_at: float
    # The client named this issuer's federated provider (`identity_provider`): skip the page.
    federate: bool = False


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    nonce: str | None
    subject: str
    expires_at: float
    family: str
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    scopes: tuple[str, ...]
    subject: str
    expires_at: float
    family: str
    used: bool = False


@dataclass
class _State:
    clients: dict[str, Client] = field(default_factory=dict)
    pending: dict[str, AuthorizationRequest] = field(default_factory=dict)
    codes: dict[bytes, _Code] = field(default_factory=dict)
    refresh: dict[bytes, _Refresh] = field(default_factory=dict)
    revoked_families: set[str] = field(default_factory=set)
    disabled: set[str] = field(default_factory=set)
    # Claims a user's tokens carry besides the standard ones (the tenant claim, as the user pool
    # or corporate provider would put it), by subject.
    user_claims: dict[str, dict[str, Any]] = field(default_factory=dict)


def _digest(value: str) -> bytes:
    """Codes, refresh tokens and secrets are kept as SHA-256 digests, never as they were issued."""
    return hashlib.sha256(value.encode("utf-8")).digest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _split_scopes(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    scopes = tuple(dict.fromkeys(raw.split(" ")))
    if any(not _SCOPE_TOKEN.fullmatch(scope) for scope in scopes):
        raise OAuthError("invalid_scope", "scope must be space-separated scope tokens")
    return scopes


_RETIRED_KEYS_KEPT = 10


class DevIssuer:
    """Signs RS256 tokens for `issuer_url` and runs the grants of a small OpenID provider."""

    def __init__(
        self,
        issuer_url: str,
        *,
        audience: str | None = None,
        clock: Clock = time.time,
        users: Sequence[DevUser] = DEFAULT_USERS,
        title: str = "Development sign-in",
        page_intro: str = DEV_PAGE_INTRO,
    ) -> None:
        """`audience`: the `aud` of access tokens from `/token` (the local MCP URL). `users`: who the
        sign-in page offers (the first is the one auto-approve and a plain click sign in)."""
        if not users:
            raise ValueError("an issuer needs at least one user")
        self.issuer_url = issuer_url.rstrip("/")
        self.audience = audience
        self.title = title
        self.page_intro = page_intro
        self._clock = clock
        self._users: dict[str, DevUser] = {user.subject: user for user in users}
        self.local_users: tuple[str, ...] = tuple(user.subject for user in users)
        self.federation: Federation | None = None
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]
        # Keys replaced by `rotate_key`, newest first: still published, no longer used to sign.
        self._retired: list[tuple[str, rsa.RSAPrivateKey]] = []
        self._csrf_key = secrets.token_bytes(32)
        self._state = _State()
        self._lock = threading.Lock()

    # --- documents ---------------------------------------------------------------------------

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer_url}/jwks.json"

    def discovery(self) -> dict[str, Any]:
        """OpenID discovery and RFC 8414 metadata (the same document, served at both URLs)."""
        return {
            "issuer": self.issuer_url,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": f"{self.issuer_url}/authorize",
            "token_endpoint": f"{self.issuer_url}/token",
            "grant_types_supported": list(GRANT_TYPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "email", "email_verified", "name", "nonce"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in [(self.kid, self._key), *self._retired]:
            public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            public.update({"kid": kid, "alg": "RS256", "use": "sig"})
            keys.append(public)
        return {"keys": keys}

    def rotate_key(self) -> str:
        """Sign with a new key (a new `kid`) from now on, as an issuer rotating its keys does.

        The JWKS publishes the new key first and keeps the last few old ones, so tokens already
        issued still verify; a relying party learns the new `kid` only by fetching the JWKS again.
        """
        with self._lock:
            self._retired = [(self.kid, self._key), *self._retired][:_RETIRED_KEYS_KEPT]
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.kid = uuid.uuid4().hex[:16]
            return self.kid

    def documents(self) -> dict[str, dict[str, Any]]:
        """URL → JSON document, for an in-process fetcher (no HTTP needed)."""
        return {
            f"{self.issuer_url}/.well-known/openid-configuration": self.discovery(),
            f"{self.issuer_url}/.well-known/oauth-authorization-server": self.discovery(),
            self.jwks_url: self.jwks(),
        }

    def fetch_json(self, url: str, timeout: float) -> dict[str, Any]:
        """A drop-in for the authorizer's JWKS fetcher that serves this issuer's documents."""
        try:
            return self.documents()[url]
        except KeyError:
            raise OSError(f"dev issuer has no document at {url}") from None

    def mint(
        self,
        *,
        audience: str | list[str] | None,
        scopes: Iterable[str] = ("mcp/access",),
        subject: str = DEV_USER,
        client_id: str = DEFAULT_CLIENT_ID,
        expires_in: int = ACCESS_TOKEN_SECONDS,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """An access token signed in-process (tests, and the local stack's printed token)."""
        issued = int(self._clock() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer_url,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + expires_in,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "scope": " ".join(scopes),
        }
        if audience is not None:
            claims["aud"] = audience
        claims.update(extra_claims or {})
        return self._sign(claims, headers)

    def _sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        with self._lock:
            key, kid = self._key, self.kid  # one pair, even while `rotate_key` runs
        return jwt.encode(dict(claims), key, algorithm="RS256", headers={"kid": kid, **(headers or {})})

    # --- clients and the user ----------------------------------------------------------------

    def register_client(
        self,
        client_id: str,
        *,
        client_secret: str | None,
        redirect_uris: Sequence[str] = (),
        grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Register (or replace) a client. `client_secret` None: a public client (PKCE only)."""
        unknown = set(grant_types) - set(GRANT_TYPES)
        if not client_id or unknown:
            raise ValueError("a client needs an id and only grant types this issuer supports")
        if "client_credentials" in grant_types and client_secret is None:
            raise ValueError("client_credentials needs a confidential client (a secret)")
        for uri in redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                raise ValueError("redirect URIs must be absolute http(s) URLs without a fragment")
        client = Client(
            client_id=client_id,
            secret_digest=None if client_secret is None else _digest(client_secret),
            redirect_uris=tuple(redirect_uris),
            grant_types=frozenset(grant_types),
            scopes=None if scopes is None else frozenset(scopes),
        )
        with self._lock:
            self._state.clients[client_id] = client

    def set_user_claims(self, subject: str, claims: Mapping[str, Any]) -> None:
        """Claims the user's ID and access tokens carry from now on (e.g. a tenant), replacing any."""
        with self._lock:
            self._state.user_claims[subject] = dict(claims)

    def user_claims(self, subject: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._state.user_claims.get(subject, {}))

    def disable_user(self, subject: str) -> None:
        """The user can no longer sign in, and their refresh tokens stop working."""
        with self._lock:
            self._state.disabled.add(subject)

    def enable_user(self, subject: str) -> None:
        with self._lock:
            self._state.disabled.discard(subject)

    # --- /authorize ---------------------------------------------------------------------------

    def begin_authorization(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """Validate an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).

        Raises `OAuthError` when the client or redirect URI cannot be trusted (shown to the
        user, never redirected: RFC 6749 §4.1.2.1), `RedirectError` for everything else.
        """
        client_id = params.get("client_id", "")
        with self._lock:
            client = self._state.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_request", "unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(
                "invalid_request", "redirect_uri is not registered for this client (exact match)"
            )
        state = params.get("state")

        def refuse(error: str, description: str) -> RedirectError:
            return RedirectError(error, description, redirect_uri, state)

        if params.get("response_type") != "code":
            raise refuse("unsupported_response_type", "only response_type=code is supported")
        if "authorization_code" not in client.grant_types:
            raise refuse("unauthorized_client", "this client may not use the authorization code grant")
        if not state:
            raise refuse("invalid_request", "state is required")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            raise refuse(
                "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"
            )
        try:
            scopes = _split_scopes(params.get("scope"))
        except OAuthError as error:
            raise refuse(error.error, error.description) from None
        if not client.allows(scopes):
            raise refuse("invalid_scope", "a requested scope is not allowed for this client")
        federation = self.federation
        named = params.get("identity_provider")
        if named is not None and (federation is None or named != federation.provider_name):
            # As Cognito's authorize endpoint: only a provider the client lists can be named.
            raise refuse("invalid_request", "identity_provider names no provider of this client")
        if federation is None and self.user_disabled(self.local_users[0]):
            raise refuse("access_denied", "the user is disabled")
        request = AuthorizationRequest(
            request_id=secrets.token_urlsafe(32),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            scopes=scopes,
            nonce=params.get("nonce") or None,
            expires_at=self._clock() + LOGIN_SECONDS,
            federate=named is not None,
        )
        with self._lock:
            self._purge()
            self._state.pending[request.request_id] = request
        return request

    def csrf_value(self, request: AuthorizationRequest) -> str:
        """The login form's CSRF value: an HMAC of the request id under a key made at start."""
        return _b64url(hmac.new(self._csrf_key, request.request_id.encode(), hashlib.sha256).digest())

    def take_pending(self, request_id: str, csrf: str) -> AuthorizationRequest:
        """The pending request the login form names, once; `OAuthError` if unknown or forged."""
        with self._lock:
            request = self._state.pending.get(request_id)
            if request is None or not hmac.compare_digest(self.csrf_value(request), csrf):
                raise OAuthError("invalid_request", "unknown or expired sign-in request; start again")
            del self._state.pending[request_id]
        if request.expires_at <= self._clock():
            raise OAuthError("invalid_request", "the sign-in request expired; start again")
        return request

    def approve(self, request: AuthorizationRequest, subject: str | None = None) -> str:
        """Sign in one of the users the page offers (default: the first); the redirect location
        with `code`, `state`, `iss`, or with `error=access_denied`."""
        subject = self.local_users[0] if subject is None else subject
        if subject not in self.local_users:
            return self._refused(request, "unknown user")
        if self.federation is not None and self.federation.only:
            # As a Cognito app client that lists only the federated provider: no local sign-in.
            return self._refused(request, "this client signs users in only through its identity provider")
        return self._issue_code(request, subject)

    def complete_federation(self, request: AuthorizationRequest, user: DevUser) -> str:
        """The federated provider vouched for `user`: store their (re)mapped attributes, sign in."""
        self.put_user(user)
        return self._issue_code(request, user.subject)

    def _refused(self, request: AuthorizationRequest, description: str) -> str:
        return self.error_location(
            RedirectError("access_denied", description, request.redirect_uri, request.state)
        )

    def _issue_code(self, request: AuthorizationRequest, subject: str) -> str:
        if self.user_disabled(subject):
            return self._refused(request, "the user is disabled")
        code = secrets.token_urlsafe(32)
        record = _Code(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            scopes=request.scopes,
            nonce=request.nonce,
            subject=subject,
            expires_at=self._clock() + CODE_SECONDS,
            family=uuid.uuid4().hex,
        )
        with self._lock:
            self._purge()
            self._state.codes[_digest(code)] = record
        return _with_query(
            request.redirect_uri, {"code": code, "state": request.state, "iss": self.issuer_url}
        )

    def deny(self, request: AuthorizationRequest) -> str:
        error = RedirectError("access_denied", "the user declined", request.redirect_uri, request.state)
        return self.error_location(error)

    def error_location(self, error: RedirectError) -> str:
        query = {"error": error.error, "error_description": error.description, "iss": self.issuer_url}
        if error.state:
            query["state"] = error.state
        return _with_query(error.redirect_uri, query)

    def user(self, subject: str) -> DevUser | None:
        with self._lock:
            return self._users.get(subject)

    def put_user(self, user: DevUser) -> None:
        """Add or update a user (a federated user, whose attributes each sign-in rewrites)."""
        with self._lock:
            self._users[user.subject] = user

    def user_disabled(self, subject: str) -> bool:
        with self._lock:
            return subject in self._state.disabled

    # --- /token -------------------------------------------------------------------------------

    def token(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Run one token request (RFC 6749 §4.1.3, §6, §4.4); `OAuthError` (§5.2) if refused."""
        client = self._authenticate(form, basic)
        grant = form.get("grant_type", "")
        if grant not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", "grant_type must be one of " + ", ".join(GRANT_TYPES))
        if grant not in client.grant_types:
            raise OAuthError("unauthorized_client", "this client may not use this grant type")
        resource = form.get("resource")
        if resource is not None and resource != self.audience:
            # RFC 8707 §2: this issuer mints tokens for one resource only.
            raise OAuthError("invalid_target", "resource is not a resource this issuer serves")
        if grant == "authorization_code":
            return self._redeem_code(client, form)
        if grant == "refresh_token":
            return self._refresh(client, form)
        scopes = _split_scopes(form.get("scope")) or tuple(sorted(client.scopes or ()))
        if not client.allows(scopes):
            raise OAuthError("invalid_scope", "a requested scope is not allowed for this client")
        # RFC 9068 §2.2: with no user, the subject is the client.
        return self._tokens(
            client, client.client_id, scopes, form, refresh_family=None, nonce=None, user=False
        )

    def _authenticate(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> Client:
        if basic is not None and ("client_secret" in form or form.get("client_id", basic[0]) != basic[0]):
            raise OAuthError("invalid_request", "use one client authentication method")
        client_id, secret = (
            basic if basic is not None else (form.get("client_id", ""), form.get("client_secret"))
        )
        status = 401
        with self._lock:
            client = self._state.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "client authentication failed", status)
        if client.secret_digest is None:
            if secret is not None:
                raise OAuthError("invalid_client", "client authentication failed", status)
        elif secret is None or not hmac.compare_digest(client.secret_digest, _digest(secret)):
            raise OAuthError("invalid_client", "client authentication failed", status)
        return client

    def _redeem_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        code, verifier = form.get("code", ""), form.get("code_verifier", "")
        with self._lock:
            record = self._state.codes.get(_digest(code))
            if record is not None and record.used:
                # RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for.
                self._revoke_family(record.family)
                record = None
            elif record is not None:
                record.used = True
        if record is None or record.expires_at <= self._clock() or record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code is invalid, expired, used or for another client")
        if form.get("redirect_uri") != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        challenge = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(challenge, record.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        if self.user_disabled(record.subject):
            raise OAuthError("invalid_grant", "the user is disabled")
        return self._tokens(
            client, record.subject, record.scopes, form, record.family, record.nonce, user=True
        )

    def _refresh(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        presented = form.get("refresh_token", "")
        requested = _split_scopes(form.get("scope"))
        now = self._clock()
        with self._lock:
            record = self._state.refresh.get(_digest(presented))
            if record is not None and record.used:
                # A rotated token came back: someone holds a copy. Revoke the whole family.
                self._revoke_family(record.family)
            if (
                record is None
                or record.used
                or record.client_id != client.client_id
                or record.expires_at <= now
                or record.family in self._state.revoked_families
            ):
                raise OAuthError("invalid_grant", "the refresh token is invalid, expired, reused or revoked")
            if record.subject in self._state.disabled:
                raise OAuthError("invalid_grant", "the user is disabled")
            if not set(requested) <= set(record.scopes):
                raise OAuthError("invalid_scope", "a refresh may only narrow the granted scopes")
            # Rotation: consumed only by a request that gets new tokens.
            record.used = True
        return self._tokens(
            client, record.subject, requested or record.scopes, form, record.family, nonce=None, user=True
        )

    def _purge(self) -> None:
        """Forget expired sign-in requests and codes (with the lock held): memory stays bounded."""
        now = self._clock()
        state = self._state
        state.pending = {key: value for key, value in state.pending.items() if value.expires_at > now}
        # Used codes are kept until they expire, so a replay is recognised as one.
        state.codes = {key: value for key, value in state.codes.items() if value.expires_at > now}

    def _revoke_family(self, family: str) -> None:
        """With the lock held."""
        self._state.revoked_families.add(family)

    def _tokens(
        self,
        client: Client,
        subject: str,
        scopes: Sequence[str],
        form: Mapping[str, str],
        refresh_family: str | None,
        nonce: str | None,
        *,
        user: bool,
    ) -> dict[str, Any]:
        now = int(self._clock())
        requested = form.get("expires_in", "")
        # A development aid (`mcp-lambda token --expires`): may only shorten the lifetime.
        lifetime = ACCESS_TOKEN_SECONDS
        if re.fullmatch(r"[0-9]{1,6}", requested) and 0 < int(requested) < ACCESS_TOKEN_SECONDS:
            lifetime = int(requested)
        extra = self.user_claims(subject) if user else {}
        reply: dict[str, Any] = {
            "access_token": self.mint(
                audience=self.audience,
                scopes=scopes,
                subject=subject,
                client_id=client.client_id,
                expires_in=lifetime,
                now=now,
                extra_claims=extra,
            ),
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": " ".join(scopes),
        }
        if refresh_family is not None and "refresh_token" in client.grant_types:
            refresh = secrets.token_urlsafe(32)
            record = _Refresh(
                client.client_id, tuple(scopes), subject, now + REFRESH_TOKEN_SECONDS, refresh_family
            )
            with self._lock:
                self._state.refresh[_digest(refresh)] = record
            reply["refresh_token"] = refresh
        person = self.user(subject) if user else None
        if person is not None and "openid" in scopes:
            id_claims: dict[str, Any] = {
                **person.id_token_claims(),
                "iss": self.issuer_url,
                "sub": subject,
                "aud": client.client_id,
                "iat": now,
                "exp": now + lifetime,
                "auth_time": now,
            }
            if nonce is not None:
                id_claims["nonce"] = nonce
            reply["id_token"] = self._sign({**extra, **id_claims})
        return reply


def _with_query(uri: str, values: Mapping[str, str]) -> str:
    """`uri` with `values` added to its query (RFC 6749 §3.1.2: keep the registered query)."""
    parts = urlsplit(uri)
    query = "&".join(part for part in (parts.query, urlencode(values)) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


_LOGIN_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1.25rem;margin:0 .5rem .5rem 0}}code{{word-break:break-all}}</style></head>
<body><h1>{title}</h1>
<p>{intro}</p>
<p><code>{client}</code> asks to sign you in and return to <code>{host}</code>.</p>
<p>Scopes: <code>{scopes}</code></p>
<form method="post" action="authorize">
<input type="hidden" name="request_id" value="{request_id}">
<input type="hidden" name="csrf" value="{csrf}">
{choices}<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>
"""


def _sign_in_choices(issuer: DevIssuer) -> str:
    """The page's buttons: the local users (unless SSO-only), then the federated provider if any."""
    choices = []
    federation = issuer.federation
    if federation is None or not federation.only:
        users = [user for user in map(issuer.user, issuer.local_users) if user is not None]
        if len(users) == 1:
            label = users[0].name + (f" ({users[0].email})" if users[0].email else "")
            button = f"Sign in as {html.escape(label)}"
            choices.append(f'<button type="submit" name="action" value="approve">{button}</button>')
        else:
            options = "".join(
                f'<option value="{html.escape(user.subject)}">{html.escape(user.name)} '
                f"({html.escape(user.email or user.subject)})</option>"
                for user in users
            )
            choices.append(
                f'<p><label>User <select name="user">{options}</select></label></p>'
                '<button type="submit" name="action" value="approve">Sign in</button>'
            )
    if federation is not None:
        choices.append(
            '<button type="submit" name="action" value="federate">'
            f"Sign in with {html.escape(federation.provider_name)}</button>"
        )
    return "\n".join(choices) + "\n"


class _Handler(BaseHTTPRequestHandler):
    issuer: DevIssuer
    auto_approve: bool = False

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/authorize":
            self._authorize(parts.query)
            return
        if parts.path == IDP_RESPONSE_PATH and self.issuer.federation is not None:
            self._idp_response(parts.query)
            return
        document = self.issuer.documents().get(f"{self.issuer.issuer_url}{parts.path}")
        self._json(200 if document is not None else 404, document or {"error": "not_found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in ("/token", "/authorize"):
            self._json(404, {"error": "not_found"})
            return
        try:
            form = self._form()
            if path == "/token":
                self._json(200, self.issuer.token(form, self._basic_credentials()))
                return
            request = self.issuer.take_pending(form.get("request_id", ""), form.get("csrf", ""))
        except OAuthError as error:
            if path == "/token":
                headers = {"WWW-Authenticate": 'Basic realm="dev-issuer"'} if error.status == 401 else {}
                self._json(error.status, error.document(), headers)
            else:
                self._page(error.status, error.description)
            return
        action = form.get("action")
        federation = self.issuer.federation
        if action == "approve":
            self._redirect(self.issuer.approve(request, form.get("user") or None))
        elif action == "federate" and federation is not None:
            self._redirect(federation.start(request))
        else:
            self._redirect(self.issuer.deny(request))

    def _answered(self, query: str, step: Callable[[dict[str, str]], _T]) -> _T | None:
        """`step` on the query's parameters; on an error, answer it (back to the client when its
        redirect URI is trusted, else a page) and return None."""
        try:
            return step(_single_values(parse_qs(query, keep_blank_values=True)))
        except RedirectError as error:
            self._redirect(self.issuer.error_location(error))
        except OAuthError as error:
            self._page(error.status, error.description)
        return None

    def _authorize(self, query: str) -> None:
        request = self._answered(query, self.issuer.begin_authorization)
        if request is None:
            return
        federation = self.issuer.federation
        if federation is not None and (request.federate or (federation.only and self.auto_approve)):
            # A named provider (Cognito's `identity_provider`), or auto-approve with no other choice:
            # straight to the provider's sign-in, no page here.
            self.issuer.take_pending(request.request_id, self.issuer.csrf_value(request))
            self._redirect(federation.start(request))
            return
        if self.auto_approve:
            self.issuer.take_pending(request.request_id, self.issuer.csrf_value(request))
            self._redirect(self.issuer.approve(request))
            return
        page = _LOGIN_PAGE.format(
            title=html.escape(self.issuer.title),
            intro=self.issuer.page_intro,
            client=html.escape(request.client_id),
            host=html.escape(urlsplit(request.redirect_uri).netloc),
            scopes=html.escape(" ".join(request.scopes) or "(none)"),
            request_id=html.escape(request.request_id),
            csrf=html.escape(self.issuer.csrf_value(request)),
            choices=_sign_in_choices(self.issuer),
        )
        self._send(200, "text/html; charset=utf-8", page.encode())

    def _idp_response(self, query: str) -> None:
        """The federated provider's redirect back (Cognito's /oauth2/idpresponse)."""
        federation = self.issuer.federation
        assert federation is not None  # routed here only with one
        answer = self._answered(query, federation.finish)
        if answer is not None:
            self._redirect(self.issuer.complete_federation(*answer))

    def _form(self) -> dict[str, str]:
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "send the parameters as application/x-www-form-urlencoded")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise OAuthError("invalid_request", "Content-Length must be a number") from None
        if not 0 <= length <= MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "the request body is too large")
        body = self.rfile.read(length).decode("utf-8", "replace")
        return _single_values(parse_qs(body, keep_blank_values=True))

    def _basic_credentials(self) -> tuple[str, str] | None:
        """RFC 6749 §2.3.1: `Basic base64(urlencoded id ":" urlencoded secret)`."""
        header = self.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "only Basic client authentication is accepted here", 401)
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401)
        return unquote_plus(client_id), unquote_plus(secret)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Cross-Origin-Opener-Policy", COOP)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page(self, status: int, message: str) -> None:
        body = f"<!doctype html><title>Sign-in error</title><p>{html.escape(message)}</p>".encode()
        self._send(status, "text/html; charset=utf-8", body)

    def _json(
        self, status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, "application/json", json.dumps(document).encode(), headers)

    def _send(
        self, status: int, content_type: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        # The one-click page must not be framed (clickjacking) nor load anything.
        self.send_header("X-Frame-Options", "DENY")
        self.send_header(
            "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        )
        self.send_header("Cross-Origin-Opener-Policy", COOP)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the local stack prints its own summary (and a URL here may carry a code)."""


def _single_values(values: Mapping[str, list[str]]) -> dict[str, str]:
    """RFC 6749 §3.1/§3.2: a parameter sent more than once is an invalid request."""
    if any(len(items) != 1 for items in values.values()):
        raise OAuthError("invalid_request", "a parameter was repeated")
    return {name: items[0] for name, items in values.items()}


class DevIssuerServer:
    """Serves a `DevIssuer` over HTTP on 127.0.0.1."""

    def __init__(
        self,
        port: int = 0,
        *,
        audience: str | None = None,
        auto_approve: bool = False,
        clock: Clock = time.time,
        users: Sequence[DevUser] = DEFAULT_USERS,
        title: str = "Development sign-in",
        page_intro: str = DEV_PAGE_INTRO,
    ) -> None:
        """`audience`: the `aud` of access tokens (the local MCP URL). `auto_approve`: skip the
        login page (tests): `/authorize` redirects back with a code at once. `users`, `title` and
        `page_intro`: who may sign in and what the page says (the corporate stand-in differs)."""
        server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.issuer = DevIssuer(
            f"http://127.0.0.1:{server.server_port}",
            audience=audience,
            clock=clock,
            users=users,
            title=title,
            page_intro=page_intro,
        )
        # A subclass per server, so two servers in one process keep their own issuer.
        attributes = {"issuer": self.issuer, "auto_approve": auto_approve}
        server.RequestHandlerClass = type("DevIssuerHandler", (_Handler,), attributes)
        self._server = server
        # A short poll interval: `stop()` waits for the serving loop to notice, up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="dev-issuer", daemon=True
        )

    def start(self) -> DevIssuer:
        self._thread.start()
        return self.issuer

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
