"""The emulator with several MCP servers: each at its own resource, its own function, one authorizer.

As the stack declares them (docs/servers.md): `/<name>/mcp` with POST, GET and DELETE behind the
REQUEST authorizer, integrated with that server's function, and a MOCK GET at its path-inserted
protected-resource metadata URL. The method ARN the authorizer gets and the policy is evaluated
against names the resource path ("Output from an API Gateway Lambda authorizer",
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html),
and a cached policy is reused for every request with the same identity sources, whatever resource
("Use API Gateway Lambda authorizers", https://docs.aws.amazon.com/apigateway/latest/
developerguide/apigateway-use-lambda-authorizer.html).
"""

from __future__ import annotations

from typing import Any, Final

import httpx2
import pytest

from devtools.gateway import challenge_metadata_url, challenge_names_resource_metadata
from devtools.lambda_runtime import LambdaRuntime
from tests.unit.devtools.conftest import PRM_URL, VALID, FakeFunction, ok, running_gateway

RESEARCH: Final = "/research/mcp"
RESEARCH_PRM_PATH: Final = "/.well-known/oauth-protected-resource/research/mcp"
RESEARCH_PRM: Final = '{"resource":"http://127.0.0.1/research/mcp"}'


def allow_main_only(event: dict[str, Any]) -> dict[str, Any]:
    """An authorizer whose policy (a function of the credential only) lists the primary server."""
    stage = event["methodArn"].rsplit("/", 2)[0]
    resources = [f"{stage}/{verb}/mcp" for verb in ("POST", "GET", "DELETE")]
    return {
        "principalId": "caller",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resources}],
        },
        "context": {"principal": "caller"},
    }


def research_gateway(authorize: Any = None, **config: Any) -> tuple[Any, FakeFunction]:
    research = FakeFunction(ok('{"server": "research"}'))
    options: dict[str, Any] = {"servers": {RESEARCH: LambdaRuntime(research, "fake-research")}}
    extra = {"authorize": authorize} if authorize is not None else {}
    manager = running_gateway(
        ok('{"server": "main"}'),
        gateway_options=options,
        server_metadata={RESEARCH_PRM_PATH: RESEARCH_PRM},
        **extra,
        **config,
    )
    return manager, research


def test_each_server_path_reaches_its_own_function_through_the_one_authorizer() -> None:
    manager, research = research_gateway(authorizer_ttl_seconds=0)
    with manager as gateway:
        answer = httpx2.post(f"{gateway.url}{RESEARCH}", headers={"Authorization": VALID}, json={})
        main = httpx2.post(f"{gateway.url}/mcp", headers={"Authorization": VALID}, json={})
    assert answer.json() == {"server": "research"}
    assert main.json() == {"server": "main"}
    (event,) = research.events
    assert (event["path"], event["resource"]) == (RESEARCH, RESEARCH)
    assert [e["methodArn"].split("/", 3)[3] for e in gateway.authorizer.events] == ["research/mcp", "mcp"]
    assert len(gateway.function.events) == 1


def test_a_cached_allow_for_the_primary_is_403_at_research_without_the_authorizer_or_its_function() -> None:
    manager, research = research_gateway(allow_main_only, authorizer_ttl_seconds=300)
    with manager as gateway:
        first = httpx2.post(f"{gateway.url}/mcp", headers={"Authorization": VALID}, json={})
        refused = httpx2.post(f"{gateway.url}{RESEARCH}", headers={"Authorization": VALID}, json={})
    assert first.status_code == 200
    assert refused.status_code == 403
    assert refused.json() == {"message": "Forbidden"}
    assert len(gateway.authorizer.events) == 1  # the second answer came from the cache
    assert research.events == []


def test_each_servers_metadata_is_its_own_mock_answer() -> None:
    manager, research = research_gateway()
    with manager as gateway:
        document = httpx2.get(f"{gateway.url}{RESEARCH_PRM_PATH}")
        undeclared = httpx2.post(f"{gateway.url}/other/mcp", headers={"Authorization": VALID}, json={})
    assert document.status_code == 200
    assert document.text == RESEARCH_PRM
    assert undeclared.status_code == 403
    assert undeclared.json() == {"message": "Missing Authentication Token"}
    assert research.events == []
    assert gateway.authorizer.events == []


@pytest.mark.parametrize(
    ("servers", "custom_domain", "expected"),
    [(1, False, PRM_URL), (1, True, PRM_URL), (2, False, PRM_URL), (2, True, None)],
)
def test_the_challenge_names_metadata_unless_several_servers_share_a_stage_less_host(
    servers: int, custom_domain: bool, expected: str | None
) -> None:
    assert challenge_metadata_url(PRM_URL, servers, custom_domain=custom_domain) == expected


def test_without_a_metadata_url_the_401_names_only_the_scope() -> None:
    with running_gateway(resource_metadata_url=None) as gateway:
        response = httpx2.post(f"{gateway.url}/mcp", json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer scope="mcp/access"'


def test_the_emulators_challenge_rule_is_the_stacks() -> None:
    """One rule, two copies (infra can't import devtools, nor devtools infra's constructs at run)."""
    stack = pytest.importorskip(
        "infra.constructs.challenge_rule", reason="the stack's copy arrives with the infra side of issue 14"
    )
    for servers in (1, 2, 3):
        for routable in (False, True):
            assert challenge_names_resource_metadata(
                servers, root_well_known_routable=routable
            ) is stack.challenge_names_resource_metadata(servers, root_well_known_routable=routable)
