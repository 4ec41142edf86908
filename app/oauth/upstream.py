"""The front's own confidential client at the upstream OpenID provider (Cognito, or any OIDC issuer).

The front never passes an MCP client's request through to the upstream: it logs the user in with
its OWN client ID and secret, PKCE (S256), ``state`` and ``nonce``, then reads who the user is from
the upstream's ID token, which is verified here like any token from outside: signature with the
upstream's published keys (the project's :class:`~app.auth.jwks.JwksCache`), an RS256/ES256
allow-list, ``iss`` equal to the configured issuer, ``aud`` naming the front's client ID, ``exp``,
and the ``nonce`` this login sent (OpenID Connect Core §3.1.3.7). The upstream refresh token is what
lets the front notice, at each refresh, that a user was disabled or deleted upstream
(``invalid_grant`` → :class:`UpstreamRefused`).

Endpoints come from ``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must equal the
configured one exactly (OpenID Connect Discovery §4.3). Tokens, codes, verifiers and the client
secret never appear in an exception or a log line: errors carry the OAuth error code and a fixed
sentence.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any, Final, TypeAlias
from urllib.parse import quote, urlencode

import jwt
from jwt.exceptions import PyJWTError

from app.auth.errors import AuthError
from app.auth.jwks import FetchJson, JwksCache, fetch_json
from app.auth.jwt_settings import JwtSettings, is_https_or_loopback
from app.auth.jwt_verifier import unverified_alg_and_kid
from app.auth.scopes import is_scope_token, split_scope_string

__all__ = [
    "ID_TOKEN_ALGORITHMS",
    "PostForm",
    "UpstreamClient",
    "UpstreamConfig",
    "UpstreamError",
    "UpstreamGrant",
    "UpstreamRefused",
    "post_form",
]

PostForm: TypeAlias = Callable[[str, Mapping[str, str], Mapping[str, str], float], tuple[int, dict[str, Any]]]
"""``post_form(url, form, headers, timeout) -> (status, JSON object body)``; raises on transport errors."""

ID_TOKEN_ALGORITHMS: Final = ("RS256", "ES256")
"""What Cognito (RS256) and the common OIDC providers sign ID tokens with; nothing else is accepted."""

_DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
_MAX_TOKEN_RESPONSE_BYTES: Final = 64 * 1024
_ERROR_CODE: Final = re.compile(r"[a-z_]{1,64}")
_S256_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_LEEWAY_SECONDS: Final = 30
_UNAVAILABLE: Final = "temporarily_unavailable"


class UpstreamError(Exception):
    """The upstream provider could not be used, or refused.

    Attributes:
        error: the OAuth error code the upstream returned, or ``temporarily_unavailable`` when it
            could not be reached or answered something unusable.
        description: a fixed sentence, safe to log and to show; never a token, code or secret.
    """

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class UpstreamRefused(UpstreamError):
    """``invalid_grant``: the code or refresh token is no good (user disabled or deleted, grant revoked)."""

    def __init__(self, description: str = "the upstream provider refused the grant (invalid_grant)") -> None:
        super().__init__("invalid_grant", description)


@dataclass(frozen=True)
class UpstreamConfig:
    """The front's client registration at the upstream provider.

    Attributes:
        issuer: the upstream's exact issuer (https; http only on loopback, for the local stack).
        client_id / client_secret: the front's confidential client (``client_secret_basic``).
        redirect_uri: the front's callback, ``front_issuer(MCP_URL) + "/callback"``.
        scopes: what the front asks the upstream for; ``openid`` is required (the ID token names
            the user).
        identity_provider: sent as ``identity_provider`` on the authorization request: Cognito then
            sends the user straight to that federated provider's sign-in instead of its own page
            (https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html).
            Set for a pool federated with one corporate provider and no users of its own (SSO_ONLY).
    """

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid", "email")
    identity_provider: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not is_https_or_loopback(self.issuer):
            raise ValueError("upstream_issuer must be an https URL (http only on a loopback host)")
        if not isinstance(self.redirect_uri, str) or not is_https_or_loopback(self.redirect_uri):
            raise ValueError("the front's callback URL must be https (http only on a loopback host)")
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ValueError("upstream_client_id must be a non-empty string")
        if not isinstance(self.client_secret, str) or not self.client_secret:
            raise ValueError("the upstream client secret must be a non-empty string")
        scopes = tuple(dict.fromkeys(self.scopes))
        if not scopes or not all(is_scope_token(scope) for scope in scopes) or "openid" not in scopes:
            raise ValueError("upstream_scopes must be scope tokens and include openid")
        object.__setattr__(self, "scopes", scopes)
        provider = self.identity_provider
        # Cognito's provider names: 1-32 printable characters (API IdentityProviderType.ProviderName).
        if provider is not None and (
            not isinstance(provider, str) or not 0 < len(provider) <= 32 or not provider.isprintable()
        ):
            raise ValueError(
                "upstream_identity_provider must be a provider name of 1-32 printable characters"
            )


@dataclass(frozen=True)
class UpstreamGrant:
    """What a successful code exchange or refresh says about the user.

    Attributes:
        subject: the upstream ``sub`` of the user.
        scopes: the scopes granted (the token response's ``scope``, or the requested ones when the
            response omits it: RFC 6749 §5.1).
        refresh_token: the upstream refresh token to keep: the new one when the upstream rotated
            it, else (on refresh) the one that was used; ``None`` when the upstream issued none.
        email: the ID token's ``email``, if any (for the consent page and the audit trail).
        id_token_claims: every claim of the verified ID token (empty after a refresh without one).
    """

    subject: str
    scopes: tuple[str, ...]
    refresh_token: str | None = field(repr=False)
    email: str | None
    id_token_claims: Mapping[str, object]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A token endpoint that redirects is misconfigured; following it would resend the secret."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


def post_form(
    url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
) -> tuple[int, dict[str, Any]]:
    """Default transport: POST an ``application/x-www-form-urlencoded`` body, return (status, JSON).

    https only (http on loopback for the local stack), redirects not followed, at most 64 KiB read.
    A non-JSON body gives an empty object: the caller judges by the status.
    """
    if not is_https_or_loopback(url):
        raise ValueError("refusing to POST to a URL that is neither https nor loopback http")
    request = urllib.request.Request(  # noqa: S310 - scheme checked just above
        url,
        data=urlencode(form).encode("ascii"),
        headers={
            **headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, _json_object(response.read(_MAX_TOKEN_RESPONSE_BYTES + 1))
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _json_object(error.read(_MAX_TOKEN_RESPONSE_BYTES + 1))


def _json_object(body: bytes) -> dict[str, Any]:
    if len(body) > _MAX_TOKEN_RESPONSE_BYTES:
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


@dataclass(frozen=True)
class _Endpoints:
    authorization_endpoint: str
    token_endpoint: str
    jwks: JwksCache


class UpstreamClient:
    """The front's client at the upstream provider. Thread-safe; one per container.

    Args:
        config: the front's registration.
        fetch_json: ``(url, timeout) -> dict`` for discovery and JWKS (default: the project's
            bounded https-or-loopback fetcher).
        post_form: ``(url, form, headers, timeout) -> (status, dict)`` for the token endpoint.
        timeout_seconds: budget of each upstream call.
        clock: monotonic seconds for the JWKS cache; injected by tests.
    """

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        fetch_json: FetchJson = fetch_json,
        post_form: PostForm = post_form,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._fetch_json = fetch_json
        self._post_form = post_form
        self._timeout = float(timeout_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._endpoints: _Endpoints | None = None

    @property
    def config(self) -> UpstreamConfig:
        return self._config

    def authorization_url(self, *, state: str, code_challenge: str, nonce: str) -> str:
        """Where to send the user's browser to log in upstream (authorization code, PKCE S256)."""
        if not state or not nonce:
            raise ValueError("state and nonce are required")
        if _S256_CHALLENGE.fullmatch(code_challenge) is None:
            raise ValueError("code_challenge must be an S256 challenge (43 base64url characters)")
        endpoint = self._discover().authorization_endpoint
        params = {
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": self._config.redirect_uri,
            "scope": " ".join(self._config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if self._config.identity_provider is not None:
            params["identity_provider"] = self._config.identity_provider
        query = urlencode(params, quote_via=quote)
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def exchange_code(self, code: str, code_verifier: str, nonce: str) -> UpstreamGrant:
        """Redeem the upstream's authorization code; verify the ID token, including ``nonce``."""
        response = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._config.redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        id_token = response.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise UpstreamError(
                _UNAVAILABLE, "the upstream token response has no ID token (is openid asked?)"
            )
        claims = self._verify_id_token(id_token, nonce=nonce)
        return self._grant(response, claims, subject=str(claims["sub"]), previous_refresh_token=None)

    def refresh(self, refresh_token: str, *, subject: str) -> UpstreamGrant:
        """Use the upstream refresh token; a user disabled or deleted upstream → :class:`UpstreamRefused`.

        ``subject`` is the user the front stored with this refresh token; a new ID token naming
        anyone else is refused.
        """
        response = self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        id_token = response.get("id_token")
        claims: Mapping[str, Any] = {}
        if isinstance(id_token, str) and id_token:
            # OpenID Connect Core §12.2: a refreshed ID token carries no nonce to check.
            claims = self._verify_id_token(id_token, nonce=None)
            if not hmac.compare_digest(str(claims["sub"]).encode(), subject.encode()):
                raise UpstreamError("invalid_grant", "the refreshed ID token names another user")
        return self._grant(response, claims, subject=subject, previous_refresh_token=refresh_token)

    def _grant(
        self,
        response: Mapping[str, Any],
        claims: Mapping[str, Any],
        *,
        subject: str,
        previous_refresh_token: str | None,
    ) -> UpstreamGrant:
        scope = response.get("scope")
        if isinstance(scope, str) and scope.strip():
            try:
                granted = split_scope_string(scope)
            except ValueError:
                raise UpstreamError(
                    _UNAVAILABLE, "the upstream token response has an invalid scope"
                ) from None
            scopes = tuple(token for token in dict.fromkeys(scope.split(" ")) if token in granted)
        else:
            scopes = self._config.scopes
        new_refresh_token = response.get("refresh_token")
        refresh_token = (
            new_refresh_token
            if isinstance(new_refresh_token, str) and new_refresh_token
            else previous_refresh_token
        )
        email = claims.get("email")
        return UpstreamGrant(
            subject=subject,
            scopes=scopes,
            refresh_token=refresh_token,
            email=email if isinstance(email, str) and email else None,
            id_token_claims=MappingProxyType(dict(claims)),
        )

    def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        endpoint = self._discover().token_endpoint
        try:
            status, body = self._post_form(
                endpoint, form, {"Authorization": self._basic_auth()}, self._timeout
            )
        except Exception:
            raise UpstreamError(_UNAVAILABLE, "the upstream token endpoint could not be reached") from None
        if status == 200 and isinstance(body.get("access_token"), str):
            token_type = body.get("token_type")
            if not isinstance(token_type, str) or token_type.lower() != "bearer":
                raise UpstreamError(_UNAVAILABLE, "the upstream token response is not a Bearer token")
            return body
        error = body.get("error") if 400 <= status < 500 else None
        if error == "invalid_grant":
            raise UpstreamRefused()
        if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
            raise UpstreamError(error, f"the upstream token endpoint refused the request ({error})")
        raise UpstreamError(_UNAVAILABLE, f"the upstream token endpoint answered HTTP {status}")

    def _basic_auth(self) -> str:
        # RFC 6749 §2.3.1: client_id and secret are form-encoded before Basic encoding.
        pair = f"{quote(self._config.client_id, safe='')}:{quote(self._config.client_secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def _verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        endpoints = self._discover()
        try:
            alg, kid = unverified_alg_and_kid(id_token)
            if alg not in ID_TOKEN_ALGORITHMS or not isinstance(kid, str) or not kid:
                raise UpstreamError(
                    _UNAVAILABLE, "the upstream ID token uses an algorithm or key not accepted"
                )
            key = endpoints.jwks.get_key(kid)
            if key.alg not in (None, alg):
                raise UpstreamError(_UNAVAILABLE, "the upstream ID token's key is for another algorithm")
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[str(alg)],
                audience=self._config.client_id,
                issuer=self._config.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except UpstreamError:
            raise
        except AuthError as exc:
            raise UpstreamError(_UNAVAILABLE, f"the upstream ID token was refused ({exc.reason})") from None
        except (PyJWTError, ValueError, TypeError) as exc:
            raise UpstreamError(
                _UNAVAILABLE, f"the upstream ID token was refused ({type(exc).__name__})"
            ) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise UpstreamError(_UNAVAILABLE, "the upstream ID token has no subject")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._config.client_id:
            raise UpstreamError(
                _UNAVAILABLE, "the upstream ID token is for several clients but not authorized for this one"
            )
        if nonce is not None:
            token_nonce = claims.get("nonce")
            if not isinstance(token_nonce, str) or not hmac.compare_digest(
                token_nonce.encode(), nonce.encode()
            ):
                raise UpstreamError(_UNAVAILABLE, "the upstream ID token's nonce does not match this login")
        return claims

    def _discover(self) -> _Endpoints:
        with self._lock:
            if self._endpoints is None:
                self._endpoints = self._load_endpoints()
            return self._endpoints

    def _load_endpoints(self) -> _Endpoints:
        url = self._config.issuer.rstrip("/") + _DISCOVERY_PATH
        try:
            document = self._fetch_json(url, self._timeout)
        except Exception:
            raise UpstreamError(
                _UNAVAILABLE, "the upstream discovery document could not be fetched"
            ) from None
        if document.get("issuer") != self._config.issuer:
            raise UpstreamError(_UNAVAILABLE, "the upstream discovery document names another issuer")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not is_https_or_loopback(value):
                raise UpstreamError(_UNAVAILABLE, f"the upstream discovery document has no usable {name}")
            endpoints[name] = value
        methods = document.get("code_challenge_methods_supported")
        # Cognito omits the field (and supports S256); a provider that lists methods must list S256.
        if methods is not None and (not isinstance(methods, list) or "S256" not in methods):
            raise UpstreamError(_UNAVAILABLE, "the upstream provider does not support PKCE S256")
        settings = JwtSettings(
            issuer=self._config.issuer,
            audiences=(self._config.client_id,),
            base_scope=None,
            algorithms=ID_TOKEN_ALGORITHMS,
            leeway_seconds=_LEEWAY_SECONDS,
            jwks_url=endpoints["jwks_uri"],
            jwks_fetch_timeout_seconds=min(self._timeout, 30.0),
        )
        return _Endpoints(
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks=JwksCache(settings, fetch_json=self._fetch_json, clock=self._clock),
        )
