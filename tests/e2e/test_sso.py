"""SSO in `make dev`: sign-in passes through the stand-in corporate provider, and the user's email
and tenant come from there, mapped by SSO_ATTRIBUTES as the deployed Cognito pool maps them.

The stack runs as `make dev` runs with `SSO_PROVIDER=oidc:Corporate`,
`SSO_ATTRIBUTES=custom:tenant=tid,email_verified=email_verified` and `SSO_ONLY=true` in its
environment (through the OAuth test harness, in its own process). Two views:

- the MCP client's: the `mcp` SDK's own OAuth client signs in with no client ID configured; the
  browser goes consent (front) → Cognito stand-in (named provider: no page of its own) →
  corporate sign-in page → back, and the tool `whoami` reports the federated user;
- the front's: acting as the front's confidential client at the Cognito stand-in (its secret is in
  the stack's own moto Secrets Manager), the test reads the ID token the front receives: Cognito's
  shape for a federated user (`cognito:username` `<Name>_<provider subject>`, `identities`) with
  `email` and `custom:tenant` from the corporate provider.

AWS behaviour followed (and cited where the stand-in implements it):
`identity_provider` on /oauth2/authorize goes straight to that provider
(https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html); mapped
attributes are written at every federated sign-in and a federated user is named
`<provider>_<subject>` with an `identities` claim
(https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-specifying-attribute-mapping.html,
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html);
the providers an app client lists are the ones managed login offers: listing only the corporate
one offers no local sign-in (CreateUserPoolClient, SupportedIdentityProviders,
https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx2
import jwt
import pytest

from devtools.local_stack import FRONT_UPSTREAM_CLIENT_ID, OAUTH_UPSTREAM_SECRET_NAME
from tests.e2e.oauth_support import (
    Browser,
    SignInStopped,
    oauth_stack,
    page_form,
    query_of,
    signed_in_client,
    wait_for_audit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e-sso")]

PROVIDER = "Corporate"
SSO = {
    "SSO_PROVIDER": f"oidc:{PROVIDER}",
    "SSO_ATTRIBUTES": "custom:tenant=tid,email_verified=email_verified",
    "SSO_ONLY": "true",
}
# The front's client at the Cognito stand-in and where the stack keeps its secret.
FRONT_CLIENT = FRONT_UPSTREAM_CLIENT_ID


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # No auto-approve: every sign-in page is a real page the browser fills in.
    with oauth_stack(
        tmp_path_factory.mktemp("sso-stack"), cimd_ca=None, auto_approve=False, sso=SSO
    ) as state:
        yield state


def _front_secret(stack: dict[str, Any]) -> str:
    """The front's client secret at the Cognito stand-in, as the front reads it (moto)."""
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=stack["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    secret: str = json.loads(client.get_secret_value(SecretId=OAUTH_UPSTREAM_SECRET_NAME)["SecretString"])[
        "client_secret"
    ]
    return secret


def _callback(stack: dict[str, Any]) -> str:
    return f"{stack['oauth_issuer']}/callback"


def _authorize_url(stack: dict[str, Any], challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": FRONT_CLIENT,
        "redirect_uri": _callback(stack),
        "scope": "openid email",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{stack['issuer']}/authorize?{urlencode(params)}"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _sign_in_as_the_front(
    stack: dict[str, Any], browser: Browser, **extra: str
) -> tuple[dict[str, str], str]:
    """The front's sign-in at the Cognito stand-in, up to the redirect to its callback: (query, verifier)."""
    verifier, challenge = _pkce()
    location = await browser.sign_in(_authorize_url(stack, challenge, **extra), _callback(stack))
    return query_of(location), verifier


def _id_token_claims(stack: dict[str, Any], code: str, verifier: str) -> dict[str, Any]:
    """Redeem the code as the front does and verify the ID token against the stand-in's JWKS."""
    reply = httpx2.post(
        f"{stack['issuer']}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _callback(stack),
            "code_verifier": verifier,
        },
        auth=(FRONT_CLIENT, _front_secret(stack)),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    id_token = reply.json()["id_token"]
    jwks = httpx2.get(f"{stack['issuer']}/jwks.json", timeout=10).json()
    key = next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(id_token)["kid"])
    claims: dict[str, Any] = jwt.decode(
        id_token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=FRONT_CLIENT, issuer=stack["issuer"]
    )
    return claims


def _corporate_pages(stack: dict[str, Any], browser: Browser) -> list[httpx2.Response]:
    return [page for page in browser.pages if str(page.url).startswith(stack["corporate_issuer"])]


def _pick(user: str) -> Any:
    """A `Browser.tamper` choosing a user on the corporate page (the dev issuer's page has none)."""

    def choose(fields: dict[str, str]) -> None:
        fields["user"] = user

    return choose


async def test_the_pool_signs_the_user_in_at_the_corporate_provider_with_its_email_and_tenant(
    stack: dict[str, Any],
) -> None:
    assert stack["sso_provider"] == PROVIDER
    async with httpx2.AsyncClient(timeout=30) as http:
        browser = Browser(http)
        query, verifier = await _sign_in_as_the_front(stack, browser, identity_provider=PROVIDER)
    assert set(query) >= {"code", "state", "iss"}
    assert query["iss"] == stack["issuer"]
    # The only sign-in page on the way was the corporate provider's.
    pages = [page for page in browser.pages if page.status_code == 200]
    assert [str(page.url).startswith(stack["corporate_issuer"]) for page in pages] == [True]
    assert f"Corporate sign-in ({PROVIDER})" in pages[0].text

    claims = _id_token_claims(stack, query["code"], verifier)
    assert claims["email"] == "alice@corp.example.test"
    assert claims["email_verified"] is True
    assert claims["custom:tenant"] == "tenant-a"
    assert claims["cognito:username"] == f"{PROVIDER}_corp-alice"
    assert [(i["providerName"], i["userId"], i["providerType"]) for i in claims["identities"]] == [
        (PROVIDER, "corp-alice", "OIDC")
    ]
    # The pool's own subject, not the provider's, and the same at every sign-in.
    assert claims["sub"] not in ("corp-alice", "dev-user")
    async with httpx2.AsyncClient(timeout=30) as http:
        query, verifier = await _sign_in_as_the_front(stack, Browser(http), identity_provider=PROVIDER)
    assert _id_token_claims(stack, query["code"], verifier)["sub"] == claims["sub"]


async def test_another_corporate_user_gets_their_own_tenant(stack: dict[str, Any]) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        browser = Browser(http, tamper=_pick("corp-bob"))
        query, verifier = await _sign_in_as_the_front(stack, browser, identity_provider=PROVIDER)
    claims = _id_token_claims(stack, query["code"], verifier)
    assert (claims["email"], claims["custom:tenant"]) == ("bob@corp.example.test", "tenant-b")
    assert claims["cognito:username"] == f"{PROVIDER}_corp-bob"


async def test_sso_only_offers_no_local_sign_in(stack: dict[str, Any]) -> None:
    """Without `identity_provider` the stand-in's page offers the provider alone, like managed login
    for a client whose only provider is the corporate one; a forged local approval is refused."""
    _, challenge = _pkce()
    async with httpx2.AsyncClient(timeout=30) as http:
        page = await http.get(_authorize_url(stack, challenge))
        assert page.status_code == 200
        assert f'value="federate">Sign in with {PROVIDER}' in page.text
        assert 'value="approve"' not in page.text
        fields = page_form(page.text)["fields"]
        forged = await http.post(
            urljoin(str(page.url), "authorize"), data={**fields, "action": "approve"}, follow_redirects=False
        )
    assert forged.status_code == 302
    assert query_of(forged.headers["location"])["error"] == "access_denied"


async def test_a_provider_no_client_lists_is_refused(stack: dict[str, Any]) -> None:
    _, challenge = _pkce()
    async with httpx2.AsyncClient(timeout=30) as http:
        reply = await http.get(_authorize_url(stack, challenge, identity_provider="Elsewhere"))
    assert reply.status_code == 302
    assert query_of(reply.headers["location"])["error"] == "invalid_request"


async def test_a_refusal_at_the_corporate_provider_reaches_the_client_as_access_denied(
    stack: dict[str, Any],
) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        browser = Browser(http, decision="deny")
        query, _ = await _sign_in_as_the_front(stack, browser, identity_provider=PROVIDER)
    assert query["error"] == "access_denied"
    assert "code" not in query


async def test_the_providers_answer_is_single_use(stack: dict[str, Any]) -> None:
    """The stand-in's /idpresponse (Cognito's /oauth2/idpresponse) takes each answer once."""
    async with httpx2.AsyncClient(timeout=30) as http:
        browser = Browser(http)
        await _sign_in_as_the_front(stack, browser, identity_provider=PROVIDER)
        answer = next(
            str(page.url)
            for page in browser.pages
            if str(page.url).startswith(f"{stack['issuer']}/idpresponse")
        )
        with pytest.raises(SignInStopped) as stopped:
            await Browser(http).sign_in(answer, _callback(stack))
    assert stopped.value.response.status_code == 400
    assert "start again" in stopped.value.response.text


async def test_an_mcp_client_signs_in_through_the_corporate_provider(stack: dict[str, Any]) -> None:
    """The SDK's OAuth client, no client ID configured: the principal is the federated user."""
    async with signed_in_client(stack, client_name="serverless-mcp e2e (SSO)") as signed_in:
        assert "add" in {tool.name for tool in (await signed_in.client.list_tools()).tools}
        # `whoami` needs a tool scope: the step-up signs in at the corporate provider once more.
        result = await signed_in.client.call_tool("whoami", {})
        assert result.is_error is False
        assert result.structured_content is not None
        principal = result.structured_content["principal"]
        browser = signed_in.browser
    # Consent at the front, then straight to the corporate page: the Cognito stand-in showed none.
    sign_in_pages = [page for page in browser.pages if page.status_code == 200 and "<form" in page.text]
    assert any("Approve" in page.text for page in sign_in_pages)
    assert _corporate_pages(stack, browser)
    assert not any(
        str(page.url).startswith(f"{stack['issuer']}/authorize") and page.status_code == 200
        for page in browser.pages
    )
    # The same user the pool's ID token names (signed in once more, as the front would be).
    async with httpx2.AsyncClient(timeout=30) as http:
        query, verifier = await _sign_in_as_the_front(stack, Browser(http), identity_provider=PROVIDER)
    assert principal == _id_token_claims(stack, query["code"], verifier)["sub"]
    # And the front's audit trail records the token issued to that user.
    record = wait_for_audit(
        stack,
        lambda r: r.get("source") == "oauth" and r.get("action") == "token" and r.get("outcome") == "ok",
    )
    assert record["principal"] == principal
