"""The REQUEST authorizer through the gateway emulator: identity sources, caching, 401/403 responses.

The 401 and 403 must be the CDK stack's gateway responses byte for byte where a client could
tell (status, challenge, Cache-Control, body): they are compared with `infra/constructs/api.py`.
"""

from __future__ import annotations

import httpx2
import pytest

from infra.constructs.api import (
    ACCESS_DENIED_BODY,
    UNAUTHORIZED_BODY,
    insufficient_scope_challenge,
    unauthorized_challenge,
)
from tests.unit.devtools.conftest import BASE_SCOPE, FORBIDDEN, PRM_URL, VALID, running_gateway


def _post(url: str, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(url, headers=headers, content=b"{}")


def _assert_unauthorized(response: httpx2.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == unauthorized_challenge(PRM_URL, BASE_SCOPE)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.text == UNAUTHORIZED_BODY


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}], ids=["absent", "empty"])
def test_with_caching_a_missing_or_empty_identity_source_is_401_without_the_authorizer(
    headers: dict[str, str],
) -> None:
    """Caching on (TTL > 0): the identity sources must be present and non-empty.

    `identitySource` (https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html):
    API Gateway verifies "all of the identity-related request parameters are present, not null
    and non-empty. Only when this is true does the authorizer invoke the authorizer Lambda
    function, otherwise, it returns a 401 Unauthorized response without calling the Lambda
    function." The 401 is the stack's UNAUTHORIZED gateway response.
    """
    with running_gateway(authorizer_ttl_seconds=300) as gateway:
        response = _post(gateway.mcp_url, headers)

    _assert_unauthorized(response)
    assert gateway.authorizer.events == gateway.function.events == []


def test_with_caching_the_policy_is_cached_by_the_identity_sources_values() -> None:
    """Every identity source is required, and their values together are the cache key.

    `identitySource` (API_Authorizer.html): the identity sources "will be used to derive the
    authorization caching key"; `authorizerResultTtlInSeconds`: "If it is greater than 0, API
    Gateway will cache authorizer responses."
    """
    sources = ("Authorization", "X-Tenant")
    with running_gateway(authorizer_ttl_seconds=300, identity_sources=sources) as gateway:
        without_tenant = _post(gateway.mcp_url, {"Authorization": VALID})
        first = _post(gateway.mcp_url, {"Authorization": VALID, "X-Tenant": "a"})
        cached = _post(gateway.mcp_url, {"Authorization": VALID, "X-Tenant": "a"})
        other_key = _post(gateway.mcp_url, {"Authorization": VALID, "X-Tenant": "b"})

    _assert_unauthorized(without_tenant)
    assert [first.status_code, cached.status_code, other_key.status_code] == [200, 200, 200]
    tenants = [event["headers"]["x-tenant"] for event in gateway.authorizer.events]
    assert tenants == ["a", "b"]  # the second "a" request was answered from the cache
    assert len(gateway.function.events) == 3


def test_a_cached_deny_is_403_again_without_the_authorizer() -> None:
    """A Deny policy is a policy: cached like an Allow (authorizerResultTtlInSeconds, API_Authorizer.html)."""
    with running_gateway(authorizer_ttl_seconds=300) as gateway:
        responses = [_post(gateway.mcp_url, {"Authorization": FORBIDDEN}) for _ in range(2)]

    assert [response.status_code for response in responses] == [403, 403]
    assert len(gateway.authorizer.events) == 1
    assert gateway.function.events == []


def test_without_caching_the_authorizer_runs_on_every_request_even_without_a_credential() -> None:
    """TTL 0: identity sources are optional, nothing is cached, the authorizer always decides.

    `identitySource` (API_Authorizer.html): "When the authorization caching is not enabled,
    this property is optional"; `authorizerResultTtlInSeconds`: "If it equals 0, authorization
    caching is disabled." The authorizer raising "Unauthorized" is the 401 UNAUTHORIZED
    gateway response (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    apigateway-use-lambda-authorizer.html).
    """
    with running_gateway(authorizer_ttl_seconds=0) as gateway:
        anonymous = _post(gateway.mcp_url, {})
        allowed = [_post(gateway.mcp_url, {"Authorization": VALID}) for _ in range(2)]

    _assert_unauthorized(anonymous)
    assert [response.status_code for response in allowed] == [200, 200]
    assert len(gateway.authorizer.events) == 3
    assert "authorization" not in {name.lower() for name in gateway.authorizer.events[0]["headers"]}
    assert len(gateway.function.events) == 2


def test_access_denied_is_the_stacks_403_with_the_base_scope_by_default() -> None:
    """A Deny is the ACCESS_DENIED gateway response (403) the CDK stack defines.

    Gateway response types (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    supported-gateway-response-types.html): ACCESS_DENIED, 403, "when access is denied by a
    custom or Amazon Cognito authorizer"; headers and body from `infra/constructs/api.py`.
    """
    with running_gateway() as gateway:
        response = _post(gateway.mcp_url, {"Authorization": FORBIDDEN})

    assert response.status_code == 403
    assert response.headers["www-authenticate"] == insufficient_scope_challenge(PRM_URL, (BASE_SCOPE,))
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.text == ACCESS_DENIED_BODY
    assert gateway.function.events == []


def test_access_denied_names_the_configured_scopes_sorted() -> None:
    """`access_denied_scopes` replaces the base scope in the 403 challenge, sorted, space separated.

    The challenge is RFC 6750 §3's `insufficient_scope` with the scopes the resource needs
    (https://www.rfc-editor.org/rfc/rfc6750#section-3.1); API Gateway sends it as the static
    ACCESS_DENIED response header (supported-gateway-response-types.html).
    """
    scopes = ("mcp/profile", "mcp/access")
    with running_gateway(access_denied_scopes=scopes) as gateway:
        response = _post(gateway.mcp_url, {"Authorization": FORBIDDEN})

    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="mcp/access mcp/profile", resource_metadata="{PRM_URL}"'
    )
    assert response.headers["cache-control"] == "no-store"


def _crashing_authorizer(event: dict[str, object]) -> dict[str, object]:
    raise RuntimeError("the key store is unreachable")


def _not_a_policy(event: dict[str, object]) -> dict[str, object]:
    return {"principalId": "caller"}  # no policyDocument


@pytest.mark.parametrize("authorize", [_crashing_authorizer, _not_a_policy], ids=["raises", "not-a-policy"])
def test_a_failing_authorizer_is_a_500_not_a_401(authorize: object) -> None:
    """Only the exact error "Unauthorized" is a 401; any other failure is a 500 whose body's
    message is null (AUTHORIZER_CONFIGURATION_ERROR, AUTHORIZER_FAILURE:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html;
    https://repost.aws/knowledge-center/api-gateway-401-error-lambda-authorizer). A client can
    tell a broken authorizer from a bad credential; neither reaches the function.
    """
    with running_gateway(authorize=authorize) as gateway:  # type: ignore[arg-type]
        response = _post(gateway.mcp_url, {"Authorization": VALID})
    assert response.status_code == 500
    assert response.json() == {"message": None}
    assert "www-authenticate" not in response.headers
    assert gateway.function.events == []
