"""The authorization front against Cognito as the stack creates it, on a moto server over real HTTP.

The deployed front's upstream is a Cognito user pool (``infra/constructs/identity.py``): the ``mcp``
resource server with its scopes, and the front's own confidential app client (``GenerateSecret``,
code grant, the front's ``/oauth/callback`` as its only callback) whose secret CloudFormation copies
into Secrets Manager as ``{"client_secret": ...}``. These tests build that shape with the real
cognito-idp API on a ``ThreadedMotoServer`` at 127.0.0.1 and run the front's own code against it:
its settings loader (SSM + Secrets Manager), its ID-token verification (moto's published JWKS over
HTTP) and its upstream refresh.

What moto 5.2.5 can and cannot stand in for (measured with these tests):

* it has no ``/oauth2/authorize`` or ``/oauth2/token`` (the managed-login endpoints), so there is
  no authorization code and no ``nonce``: a user signs in with ``AdminInitiateAuth``
  (``ADMIN_USER_PASSWORD_AUTH``) instead, and :class:`CognitoTokenEndpoint` answers the
  ``refresh_token`` grant of Cognito's token endpoint with moto's ``InitiateAuth``
  (``REFRESH_TOKEN_AUTH``). The ID token verification that does not depend on ``nonce`` (signature,
  ``iss``, ``aud``, ``exp``, ``sub``) is what the front's refresh path runs: OpenID Connect Core
  §12.2 (a refreshed ID token carries no nonce);
* its OpenID discovery document has no ``authorization_endpoint`` or ``token_endpoint`` and lives
  at the moto address, not at the issuer: the front reads a document shaped like Cognito's own
  (AWS Cognito developer guide, "Identity provider and relying party endpoints": the discovery
  document and ``jwks.json`` at ``https://cognito-idp.<Region>.amazonaws.com/<pool id>/.well-known/``,
  the OAuth endpoints under the user pool domain's ``/oauth2/``) whose ``jwks_uri`` is moto's real
  ``/<pool id>/.well-known/jwks.json``;
* it signs every pool's tokens with ONE key (``kid`` ``dummy``): another pool's ID token has a
  valid signature here, so its claims refuse it, ``iss`` first (real pools have their own keys);
* ``AdminDisableUser`` does not stop moto from refreshing (real Cognito: "A deactivated user can't
  sign in", AWS API reference, AdminDisableUser); ``AdminUserGlobalSignOut`` does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from app.auth.front import front_issuer
from app.auth.jwks import fetch_json
from app.core.config import SettingsSource
from app.oauth.settings import FrontSettings, FrontSettingsSource
from app.oauth.upstream import UpstreamClient, UpstreamError, UpstreamRefused

REGION: Final = "eu-west-1"
MCP_URL: Final = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod/mcp"
CALLBACK: Final = front_issuer(MCP_URL) + "/callback"
TOOL_SCOPES: Final = ("profile",)
ENV: Final = {
    "MCP_URL_PARAMETER": "/serverless-mcp/test/mcp-url",
    "AUTH_SETTINGS_PARAMETER": "/serverless-mcp/test/auth-settings",
    "OAUTH_FRONT_SETTINGS_PARAMETER": "/serverless-mcp/test/oauth-front-settings",
    "OAUTH_UPSTREAM_SECRET_ID": "serverless-mcp/test/oauth-front-client-secret",
    "OAUTH_TABLE_NAME": "serverless-mcp-test-oauth",
    "OAUTH_SIGNING_KEY_ID": "alias/serverless-mcp-test-oauth-signing",
    "OAUTH_SEALING_KEY_ID": "alias/serverless-mcp-test-oauth-sealing",
    "CONFIG_CACHE_SECONDS": "300",
}


@dataclass(frozen=True)
class Moto:
    """The moto server's address, and AWS clients that reach it (test credentials, one region)."""

    endpoint: str
    session: boto3.Session

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        yield Moto(f"http://{host}:{port}", session)
    finally:
        server.stop()


@dataclass(frozen=True)
class Pool:
    """One user pool built like the stack's, and the front's app client in it."""

    id: str
    domain: str
    client_id: str
    client_secret: str

    @property
    def issuer(self) -> str:
        # The exact `iss` of the pool's tokens (AWS Cognito developer guide, "Verifying a JSON Web
        # Token": https://cognito-idp.<Region>.amazonaws.com/<userPoolId>).
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.id}"

    @property
    def token_endpoint(self) -> str:
        return f"https://{self.domain}.auth.{REGION}.amazoncognito.com/oauth2/token"


def create_stack_pool(idp: Any, name: str) -> Pool:
    """The pool, resource server, domain and front client as `CognitoIdentity` declares them."""
    pool_id: str = idp.create_user_pool(
        PoolName=f"{name}-users",
        UsernameAttributes=["email"],  # CDK sign_in_aliases=SignInAliases(email=True)
        AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]["Id"]
    idp.create_resource_server(
        UserPoolId=pool_id,
        Identifier="mcp",
        Name="MCP server",
        Scopes=[
            {"ScopeName": "access", "ScopeDescription": "Reach the MCP server at all"},
            *({"ScopeName": s, "ScopeDescription": f"MCP tools needing {s}"} for s in TOOL_SCOPES),
        ],
    )
    domain = f"{name}-{secrets.token_hex(4)}"
    idp.create_user_pool_domain(UserPoolId=pool_id, Domain=domain)
    # The template's OAuthFrontClient (tests/infra/test_oauth_front.py pins these properties).
    client = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="mcp-oauth-front",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "email", "mcp/access", *(f"mcp/{s}" for s in TOOL_SCOPES)],
        CallbackURLs=[CALLBACK],
        SupportedIdentityProviders=["COGNITO"],
        PreventUserExistenceErrors="ENABLED",
        RefreshTokenValidity=43200,
        TokenValidityUnits={"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "minutes"},
    )["UserPoolClient"]
    return Pool(pool_id, domain, client["ClientId"], client["ClientSecret"])


def create_user(idp: Any, pool: Pool, email: str) -> tuple[str, str]:
    """A confirmed user; returns (username, password). Cognito names email users by their `sub`."""
    password = "Aa1!" + secrets.token_urlsafe(16)  # generated: no credential in the repository
    user = idp.admin_create_user(
        UserPoolId=pool.id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )["User"]
    idp.admin_set_user_password(UserPoolId=pool.id, Username=email, Password=password, Permanent=True)
    return str(user["Username"]), password


def secret_hash(client_id: str, client_secret: str, username: str) -> str:
    """AWS Cognito developer guide, "Computing secret hash values": Base64(HMAC-SHA256(secret, user+id))."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class CognitoTokenEndpoint:
    """Cognito's ``/oauth2/token`` ``refresh_token`` grant, answered by moto's cognito-idp API.

    moto has no ``/oauth2/token``. This transport (the front's injectable ``post_form``) does what
    the real endpoint documents (AWS Cognito developer guide, "The token issuer endpoint"):
    authenticate the client from ``Authorization: Basic`` (RFC 6749 §2.3.1 form-encoding), a failure
    being ``invalid_client`` (RFC 6749 §5.2); redeem the refresh token, a refusal being
    ``invalid_grant``; answer ``id_token``, ``access_token``, ``token_type: Bearer``, ``expires_in``
    and no new refresh token (rotation off, as the stack's clients are). The redeeming is moto's
    ``InitiateAuth`` ``REFRESH_TOKEN_AUTH`` with the ``SECRET_HASH`` a secret client needs; that hash
    needs the username, which the real endpoint knows from the token and this stand-in records at
    sign-in.
    """

    def __init__(self, idp: Any, pool: Pool) -> None:
        self._idp = idp
        self._pool = pool
        self._owners: dict[str, str] = {}
        self.calls = 0

    def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """A user's login (the managed login's part) by the name they type: their email.

        Returns moto's AuthenticationResult. (moto writes this sign-in name into the ID token's
        ``email`` claim, and uses it again at each refresh, so signing in by ``sub`` would give an
        ``email`` claim holding the sub: a moto quirk, not Cognito's behaviour.)
        """
        result: dict[str, Any] = self._idp.admin_initiate_auth(
            UserPoolId=self._pool.id,
            ClientId=self._pool.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={
                "USERNAME": username,
                "PASSWORD": password,
                "SECRET_HASH": secret_hash(self._pool.client_id, self._pool.client_secret, username),
            },
        )["AuthenticationResult"]
        self._owners[result["RefreshToken"]] = username
        return result

    def __call__(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        assert url == self._pool.token_endpoint
        scheme, _, encoded = headers.get("Authorization", "").partition(" ")
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        client_id, client_secret = unquote(client_id), unquote(client_secret)
        try:
            registered = self._idp.describe_user_pool_client(UserPoolId=self._pool.id, ClientId=client_id)
        except ClientError:
            return 401, {"error": "invalid_client"}
        expected = registered["UserPoolClient"].get("ClientSecret", "")
        if scheme != "Basic" or not hmac.compare_digest(client_secret.encode(), expected.encode()):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        refresh_token = form.get("refresh_token", "")
        username = self._owners.get(refresh_token)
        if username is None:
            return 400, {"error": "invalid_grant"}
        try:
            result = self._idp.initiate_auth(
                ClientId=client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={
                    "REFRESH_TOKEN": refresh_token,
                    "SECRET_HASH": secret_hash(client_id, client_secret, username),
                },
            )["AuthenticationResult"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "NotAuthorizedException":
                return 400, {"error": "invalid_grant"}
            raise
        return 200, token_response(result)


def token_response(result: Mapping[str, Any]) -> dict[str, Any]:
    """The token endpoint's JSON for an API AuthenticationResult (no refresh token: rotation off)."""
    return {
        "id_token": result["IdToken"],
        "access_token": result["AccessToken"],
        "token_type": result["TokenType"],
        "expires_in": result["ExpiresIn"],
    }


def cognito_discovery(pool: Pool, moto_endpoint: str) -> dict[str, Any]:
    """The pool's OpenID discovery document as Cognito serves it, with moto's JWKS as ``jwks_uri``.

    Fields as Cognito publishes them (AWS Cognito developer guide, "Identity provider and relying
    party endpoints"); no ``code_challenge_methods_supported`` although Cognito supports S256 PKCE
    (AWS Cognito developer guide, "Authorize endpoint": ``code_challenge_method`` S256).
    """
    base = f"https://{pool.domain}.auth.{REGION}.amazoncognito.com"
    return {
        "issuer": pool.issuer,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": pool.token_endpoint,
        "userinfo_endpoint": f"{base}/oauth2/userInfo",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "end_session_endpoint": f"{base}/logout",
        "jwks_uri": f"{moto_endpoint}/{pool.id}/.well-known/jwks.json",
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }


class Fetcher:
    """The front's ``fetch_json``: the issuer's discovery URL answers the Cognito-shaped document;
    everything else (the JWKS) is fetched over real HTTP from moto by the project's own fetcher."""

    def __init__(self, pool: Pool, moto_endpoint: str) -> None:
        self._discovery_url = pool.issuer + "/.well-known/openid-configuration"
        self._document = cognito_discovery(pool, moto_endpoint)
        self._moto = moto_endpoint
        self.fetched: list[str] = []

    def __call__(self, url: str, timeout: float) -> dict[str, Any]:
        self.fetched.append(url)
        if url == self._discovery_url:
            return dict(self._document)
        assert url.startswith(self._moto + "/"), url  # nothing leaves 127.0.0.1
        return fetch_json(url, timeout)


@dataclass
class Stack:
    """What the deployed stack holds: the pool, SSM parameters and the front client's secret."""

    endpoint: str
    idp: Any
    secrets: Any
    pool: Pool


@pytest.fixture
def stack(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> Stack:
    idp = moto.client("cognito-idp")
    ssm = moto.client("ssm")
    secrets_manager = moto.client("secretsmanager")
    pool = create_stack_pool(idp, "smcp-" + secrets.token_hex(3))
    # As the stack writes them (infra/constructs/oauth_front.py and identity.py).
    ssm.put_parameter(Name=ENV["MCP_URL_PARAMETER"], Value=MCP_URL, Type="String", Overwrite=True)
    auth_settings = {
        "issuer": pool.issuer,
        "jwks_url": pool.issuer + "/.well-known/jwks.json",
        "audiences": [],
        "allowed_client_ids": [],
        "base_scope": "mcp/access",
        "allowed_origins": [],
        "oauth_front": True,
    }
    ssm.put_parameter(
        Name=ENV["AUTH_SETTINGS_PARAMETER"], Value=json.dumps(auth_settings), Type="String", Overwrite=True
    )
    front_settings = {
        "upstream_issuer": pool.issuer,
        "upstream_client_id": pool.client_id,
        "upstream_scopes": ["openid", "email"],
        "scopes": ["mcp/access", *(f"mcp/{s}" for s in TOOL_SCOPES)],
        "base_scope": "mcp/access",
    }
    ssm.put_parameter(
        Name=ENV["OAUTH_FRONT_SETTINGS_PARAMETER"],
        Value=json.dumps(front_settings),
        Type="String",
        Overwrite=True,
    )
    secret_value = json.dumps({"client_secret": pool.client_secret})
    try:
        secrets_manager.create_secret(Name=ENV["OAUTH_UPSTREAM_SECRET_ID"], SecretString=secret_value)
    except ClientError:  # a previous test of this module created it
        secrets_manager.put_secret_value(SecretId=ENV["OAUTH_UPSTREAM_SECRET_ID"], SecretString=secret_value)
    # The front Lambda's boto3 clients (Powertools providers) reach the moto server.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return Stack(moto.endpoint, idp, secrets_manager, pool)


def load_front_settings() -> FrontSettings:
    return FrontSettingsSource(source=SettingsSource(env=ENV)).settings()


def front_upstream(stack: Stack, token_endpoint: Any) -> tuple[UpstreamClient, Fetcher]:
    fetcher = Fetcher(stack.pool, stack.endpoint)
    client = UpstreamClient(load_front_settings().upstream, fetch_json=fetcher, post_form=token_endpoint)
    return client, fetcher


def claims_of(token: str) -> dict[str, Any]:
    """A token's payload, unverified: only to read what moto put in it."""
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


# --- 1. the stack's Cognito shape is what the front loads -------------------------------------------


def test_the_stacks_cognito_client_and_secret_load_as_the_fronts_upstream(stack: Stack) -> None:
    """The front's settings loader, reading SSM and Secrets Manager as the Lambda does, yields the
    Cognito client the stack created: its id, its generated secret, the pool's issuer, and the
    callback Cognito has registered for it (redirect URIs match exactly: AWS Cognito developer
    guide, "Authorize endpoint")."""
    settings = load_front_settings()
    upstream = settings.upstream
    registered = stack.idp.describe_user_pool_client(UserPoolId=stack.pool.id, ClientId=stack.pool.client_id)[
        "UserPoolClient"
    ]
    assert upstream.issuer == f"https://cognito-idp.{REGION}.amazonaws.com/{stack.pool.id}"
    assert upstream.client_id == registered["ClientId"]
    assert upstream.client_secret == registered["ClientSecret"]
    assert upstream.redirect_uri == CALLBACK
    assert CALLBACK == "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/prod/oauth/callback"
    assert registered["CallbackURLs"] == [upstream.redirect_uri]
    # What the front asks Cognito for is allowed for its client (else Cognito answers invalid_scope).
    assert set(upstream.scopes) <= set(registered["AllowedOAuthScopes"])
    assert set(settings.scopes) <= set(registered["AllowedOAuthScopes"])
    # The secret never shows in the settings' text (logged on a configuration error).
    assert stack.pool.client_secret not in repr(settings)


def test_the_login_url_sends_the_browser_to_cognitos_authorize_endpoint_with_pkce(stack: Stack) -> None:
    """Cognito's discovery lists no `code_challenge_methods_supported` (FIELD-NOTES: claude-code
    #35846) yet supports S256: the front accepts its document and still sends S256 PKCE."""
    client, _ = front_upstream(stack, CognitoTokenEndpoint(stack.idp, stack.pool))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).decode().rstrip("=")
    url = client.authorization_url(state="state-1", code_challenge=challenge, nonce="nonce-1")
    base, _, query = url.partition("?")
    assert base == f"https://{stack.pool.domain}.auth.{REGION}.amazoncognito.com/oauth2/authorize"
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    assert unquote(params["client_id"]) == stack.pool.client_id
    assert unquote(params["redirect_uri"]) == CALLBACK
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == challenge
    assert unquote(params["scope"]) == "openid email"


# --- 2. Cognito's ID tokens through the front's verification ----------------------------------------


def test_a_cognito_id_token_verifies_through_the_fronts_refresh(stack: Stack) -> None:
    """moto's ID token (RS256, ``kid`` from the pool's ``jwks.json``) passes the front's checks:
    signature against the JWKS fetched over HTTP, ``iss`` = the pool, ``aud`` = the front's client
    (AWS Cognito developer guide, "Understanding the identity (ID) token": ``aud`` is the app client
    id, ``token_use`` is ``id``), and its ``sub``/``email`` become the grant's user."""
    email = "alice@example.com"
    username, password = create_user(stack.idp, stack.pool, email)
    token_endpoint = CognitoTokenEndpoint(stack.idp, stack.pool)
    signed_in = token_endpoint.sign_in(email, password)
    subject = claims_of(signed_in["IdToken"])["sub"]
    client, fetcher = front_upstream(stack, token_endpoint)

    grant = client.refresh(signed_in["RefreshToken"], subject=subject)

    assert token_endpoint.calls == 1
    assert grant.subject == subject == username  # email sign-in: Cognito's username is the sub
    assert grant.email == email
    assert grant.id_token_claims["iss"] == stack.pool.issuer
    assert grant.id_token_claims["aud"] == stack.pool.client_id
    assert grant.id_token_claims["token_use"] == "id"
    # Cognito without rotation returns no refresh token: the front keeps the one it has.
    assert grant.refresh_token == signed_in["RefreshToken"]
    assert fetcher.fetched[-1] == f"{stack.endpoint}/{stack.pool.id}/.well-known/jwks.json"


def substituted(id_token: str, access_token: str) -> Any:
    """A token endpoint answering with tokens Cognito minted for someone else (a misconfigured
    upstream, or an attacker in the path): the front must judge the ID token, not the transport."""

    def post_form(
        url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> tuple[int, dict[str, Any]]:
        return 200, {"id_token": id_token, "access_token": access_token, "token_type": "Bearer"}

    return post_form


def test_an_id_token_cognito_issued_to_another_app_client_is_refused(stack: Stack) -> None:
    """Same pool, same user, right signature, but ``aud`` names the stack's other (interactive)
    client: OpenID Connect Core §3.1.3.7 item 3, the ID token must name this client."""
    other = stack.idp.create_user_pool_client(
        UserPoolId=stack.pool.id, ClientName="mcp-interactive", GenerateSecret=False
    )["UserPoolClient"]
    email = "bob@example.com"
    username, password = create_user(stack.idp, stack.pool, email)
    tokens = stack.idp.admin_initiate_auth(
        UserPoolId=stack.pool.id,
        ClientId=other["ClientId"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]
    assert claims_of(tokens["IdToken"])["aud"] == other["ClientId"]
    client, _ = front_upstream(stack, substituted(tokens["IdToken"], tokens["AccessToken"]))

    with pytest.raises(UpstreamError) as info:
        client.refresh(tokens["RefreshToken"], subject=username)

    assert not isinstance(info.value, UpstreamRefused)
    assert info.value.description == "the upstream ID token was refused (InvalidAudienceError)"
    assert tokens["IdToken"] not in str(info.value)


def test_an_id_token_from_another_user_pool_is_refused(stack: Stack) -> None:
    """A token from another pool built the same way: moto signs every pool with one key, so the
    signature holds and ``iss`` (OpenID Connect Core §3.1.3.7 item 2: exactly the issuer) refuses it."""
    other_pool = create_stack_pool(stack.idp, "smcp-other-" + secrets.token_hex(3))
    email = "carol@example.com"
    _, password = create_user(stack.idp, other_pool, email)
    tokens = CognitoTokenEndpoint(stack.idp, other_pool).sign_in(email, password)
    other_claims = claims_of(tokens["IdToken"])
    assert other_claims["iss"] == other_pool.issuer != stack.pool.issuer
    assert jwt.get_unverified_header(tokens["IdToken"])["kid"] == "dummy"  # the one moto key
    client, _ = front_upstream(stack, substituted(tokens["IdToken"], tokens["AccessToken"]))

    with pytest.raises(UpstreamError) as info:
        client.refresh(tokens["RefreshToken"], subject=other_claims["sub"])

    # Its aud (the other pool's client id) is wrong too; the issuer is checked first and refuses it.
    assert info.value.description == "the upstream ID token was refused (InvalidIssuerError)"
    assert tokens["IdToken"] not in str(info.value)


# --- 3. a user disabled or signed out upstream --------------------------------------------------------


def test_a_user_disabled_and_signed_out_upstream_is_refused_at_the_next_refresh(stack: Stack) -> None:
    """The front refreshes upstream to learn who lost access. ``AdminUserGlobalSignOut`` invalidates
    the user's refresh tokens (AWS API reference, AdminUserGlobalSignOut); Cognito's token endpoint
    then refuses the refresh with ``invalid_grant`` and the front raises ``UpstreamRefused``, which
    ends the MCP client's token family."""
    email = "dave@example.com"
    username, password = create_user(stack.idp, stack.pool, email)
    token_endpoint = CognitoTokenEndpoint(stack.idp, stack.pool)
    signed_in = token_endpoint.sign_in(email, password)
    client, _ = front_upstream(stack, token_endpoint)
    assert client.refresh(signed_in["RefreshToken"], subject=username).subject == username

    # By the email, as an operator finds the user (the API takes "any of their alias attributes").
    # moto revokes only refresh tokens signed in under the same name string (a moto quirk).
    stack.idp.admin_disable_user(UserPoolId=stack.pool.id, Username=email)
    stack.idp.admin_user_global_sign_out(UserPoolId=stack.pool.id, Username=email)

    with pytest.raises(UpstreamRefused) as info:
        client.refresh(signed_in["RefreshToken"], subject=username)
    assert info.value.error == "invalid_grant"
    assert signed_in["RefreshToken"] not in str(info.value)


@pytest.mark.xfail(
    strict=True,
    reason="moto 5.2.5 refreshes a disabled user's tokens (InitiateAuth REFRESH_TOKEN_AUTH ignores "
    "the user's Enabled flag); real Cognito refuses a deactivated user",
)
def test_a_user_disabled_upstream_is_refused_at_the_next_refresh(stack: Stack) -> None:
    """AWS API reference, AdminDisableUser: "Deactivates a user profile and revokes all access tokens
    for the user. A deactivated user can't sign in". moto refuses the disabled user's sign-in (checked
    below) but not the refresh; strict xfail so a moto that fixes it turns this into a real test."""
    email = "erin@example.com"
    username, password = create_user(stack.idp, stack.pool, email)
    token_endpoint = CognitoTokenEndpoint(stack.idp, stack.pool)
    signed_in = token_endpoint.sign_in(email, password)
    client, _ = front_upstream(stack, token_endpoint)

    stack.idp.admin_disable_user(UserPoolId=stack.pool.id, Username=username)
    with pytest.raises(ClientError, match="User is disabled"):
        token_endpoint.sign_in(email, password)

    with pytest.raises(UpstreamRefused):
        client.refresh(signed_in["RefreshToken"], subject=username)


def test_a_stale_client_secret_is_invalid_client_not_a_refused_user(stack: Stack) -> None:
    """If the Cognito client's secret changed but Secrets Manager still holds the old one, the token
    endpoint answers ``invalid_client`` (RFC 6749 §5.2): the front reports that error, and does NOT
    treat it as the user losing access (``UpstreamRefused`` would end every user's session)."""
    email = "frank@example.com"
    username, password = create_user(stack.idp, stack.pool, email)
    token_endpoint = CognitoTokenEndpoint(stack.idp, stack.pool)
    signed_in = token_endpoint.sign_in(email, password)
    stale = "stale" + secrets.token_hex(16)
    stack.secrets.put_secret_value(
        SecretId=ENV["OAUTH_UPSTREAM_SECRET_ID"], SecretString=json.dumps({"client_secret": stale})
    )
    client, _ = front_upstream(stack, token_endpoint)
    assert client.config.client_secret == stale

    with pytest.raises(UpstreamError) as info:
        client.refresh(signed_in["RefreshToken"], subject=username)

    assert not isinstance(info.value, UpstreamRefused)
    assert info.value.error == "invalid_client"
    assert stale not in str(info.value)
    assert stack.pool.client_secret not in str(info.value)
