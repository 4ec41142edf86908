"""Several MCP servers in one stack (issue 14 item 1, docs: /work/notes contract): the infra side.

The registry (app/servers/__init__.py) is read at synth through its version-2 export; here a
fixture app folder prints a two-server document (tests/infra/servers_fixture.py), so these tests
hold whatever the app's own registry lists. What a deployed client and an operator could tell:

- one function, `live` alias and role per server, told its server by MCP_SERVER;
- `/research/mcp` routed like `/mcp`: the one REQUEST authorizer, API key required (usage plans),
  Lambda proxy to ITS alias;
- its own RFC 9728 metadata at the path-inserted URL, naming its URL and its own scopes;
- the gateway challenges of challenge_rule.py (execute-api vs custom domain);
- the primary server's construct ids unchanged, so an upgrade replaces nothing deployed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.config import ConfigError
from infra.constructs import bundling
from infra.constructs.api import PRM_HEADERS
from infra.constructs.challenge_rule import challenge_names_resource_metadata
from infra.registry import DeclaredScopes, declared_scopes, parse_servers
from tests.infra.conftest import Synth, api_routes, as_list, render, statements, synthesize
from tests.infra.servers_fixture import (
    MAIN_SCOPES,
    ONE_SERVER_CONTEXT,
    RESEARCH_SCOPES,
    TWO_SERVER_CONTEXT,
    TWO_SERVERS,
    write_app,
)
from tests.infra.test_custom_domain import ZONE_ONLY
from tests.infra.test_tenants import MULTI_TENANT

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-servers")]

BASE = "mcp/access"
ALL_SCOPES = sorted({BASE, *MAIN_SCOPES, *RESEARCH_SCOPES})
# Two servers behind a custom domain, with tenancy, browser origins and a cached authorizer: the
# other shape.
DOMAIN_CONTEXT: dict[str, object] = {
    **ZONE_ONLY,
    **MULTI_TENANT,
    **TWO_SERVER_CONTEXT,
    "STACK_NAME": "McpServersDomain",
    "ALLOWED_ORIGINS": "https://app.example.net",
    "AUTHORIZER_CACHE_TTL_SECONDS": "300",
}
EXECUTE_API = r"https://\$\{ApiRestApi\w+\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/prod"
MCP_VERBS = ("POST", "GET", "DELETE")


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The same registry before its second server was added: the stack deployed today."""
    return synthesize(tmp_path_factory.mktemp("one-server"), ONE_SERVER_CONTEXT)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("two-servers"), TWO_SERVER_CONTEXT)


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("two-servers-domain"), DOMAIN_CONTEXT)


def _functions(synth: Synth) -> dict[str, dict[str, Any]]:
    """{MCP_SERVER or "" : function properties} of the MCP functions (handler app.mcp.handler)."""
    found = {}
    for props in (f["Properties"] for f in synth.of_type("AWS::Lambda::Function").values()):
        if props.get("Handler") == "app.mcp.handler.handler":
            found[props["Environment"]["Variables"].get("MCP_SERVER", "")] = props
    return found


def _alias_id(synth: Synth, fragment: str) -> str:
    return synth.id_of("AWS::Lambda::Alias", fragment)


# --- the registry document ------------------------------------------------------------------------


def test_the_servers_come_from_the_registry_export_primary_first() -> None:
    declared = declared_scopes(Path(str(TWO_SERVER_CONTEXT["APP_SOURCE_DIR"])))
    assert [(s.name, s.path) for s in declared.servers] == [("main", "/mcp"), ("research", "/research/mcp")]
    assert declared.primary.scopes == MAIN_SCOPES
    assert declared.servers[1].scopes == RESEARCH_SCOPES
    # The pool and the gateway's 403 need every server's scopes.
    assert declared.scopes == tuple(sorted({*MAIN_SCOPES, *RESEARCH_SCOPES}))
    assert declared.cognito_scope_names() == ("notes", "profile", "research", "research.read")
    # The authorizer's asset carries the document as exported.
    assert json.loads(declared.text) == TWO_SERVERS


def test_a_version_1_document_is_the_primary_server_main() -> None:
    declared = DeclaredScopes({"version": 1, "tools": {"deploy": ["mcp/deploy"], "add": []}, "prompts": {}})
    assert [(s.name, s.path, s.scopes) for s in declared.servers] == [("main", "/mcp", ("mcp/deploy",))]


def test_a_scope_cognito_cannot_issue_names_its_server() -> None:
    document = json.loads(json.dumps(TWO_SERVERS))
    document["servers"]["research"]["tools"]["cite"] = ["other/cite"]
    with pytest.raises(ConfigError, match=r"research: tools/cite requires the scope 'other/cite'"):
        DeclaredScopes(document).cognito_scope_names()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"Research": {"path": "/Research/mcp"}},
            r"server 'Research' in app/servers/__init__.py: a server name",
        ),
        ({"oauth": {"path": "/oauth/mcp"}}, r"server 'oauth' .* not one of"),
        ({"docs": {"path": "/documents/mcp"}}, r"server 'docs' has path '/documents/mcp'.*\(/docs/mcp\)"),
        ({"docs": {"path": "/mcp"}}, r"2 servers at /mcp"),
        ({"docs": {"path": "/docs/mcp", "tools": {"x": "mcp/x"}}}, r"server 'docs': 'tools' is not"),
    ],
)
def test_a_bad_registry_stops_synth_naming_the_entry(change: dict[str, Any], message: str) -> None:
    document = json.loads(json.dumps(TWO_SERVERS))
    document["servers"].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_servers(document)


def test_an_unknown_document_version_stops_synth() -> None:
    with pytest.raises(ConfigError, match="version 3; this stack reads versions 1 and 2"):
        parse_servers({"version": 3, "servers": {}})


# --- functions -------------------------------------------------------------------------------------


def test_one_function_per_server_told_its_server(two: Synth) -> None:
    functions = _functions(two)
    assert set(functions) == {"main", "research"}
    main, research = functions["main"], functions["research"]
    # Alike but for MCP_SERVER, the role and the description.
    for key in ("Runtime", "Architectures", "MemorySize", "Timeout", "SnapStart", "LoggingConfig", "Code"):
        assert main.get(key) == research.get(key), key
    env = {k: v for k, v in research["Environment"]["Variables"].items() if k != "MCP_SERVER"}
    assert env == {k: v for k, v in main["Environment"]["Variables"].items() if k != "MCP_SERVER"}
    assert main["Role"] != research["Role"]
    assert "research at /research/mcp" in research["Description"]
    assert research["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    # Each has its `live` alias on a published version.
    aliases = [a["Properties"] for a in two.of_type("AWS::Lambda::Alias").values()]
    assert sum(a["Name"] == "live" for a in aliases) == 4  # authorizer, front, two servers


def test_one_server_sets_no_mcp_server_and_the_front_no_server_paths(one: Synth) -> None:
    """Absent MCP_SERVER is the first server, absent MCP_SERVER_PATHS is /mcp alone: today's template."""
    assert set(_functions(one)) == {""}
    front = [
        f["Properties"]
        for f in one.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "app.oauth.handler.handler"
    ]
    assert "MCP_SERVER_PATHS" not in front[0]["Environment"]["Variables"]
    assert not [a for a in Annotations.from_stack(one.stack).find_warning("*", Match.any_value())
                if "several-servers" in json.dumps(a.entry.data)]  # fmt: skip


def test_the_front_issues_tokens_for_every_server(two: Synth) -> None:
    (front,) = [
        f["Properties"]
        for f in two.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "app.oauth.handler.handler"
    ]
    assert front["Environment"]["Variables"]["MCP_SERVER_PATHS"] == "/mcp,/research/mcp"


def test_the_primary_keeps_every_construct_id(one: Synth, two: Synth) -> None:
    """A deployed one-server stack that adds a server replaces nothing it has: every logical id of
    today's template is still there, same type. Versions (new code or environment publishes a new
    version, the alias moves) and the API deployment (new on every route change) are the exceptions
    CDK makes by design; the function, its role and its alias keep their ids."""
    moving = ("CurrentVersion", "ApiRestApiDeployment")
    kept = {key: r["Type"] for key, r in one.resources.items() if not any(m in key for m in moving)}
    assert {key: two.resources.get(key, {}).get("Type") for key in kept} == kept
    for kind, fragment in (
        ("AWS::Lambda::Function", "FunctionsMcpFunction"),
        ("AWS::IAM::Role", "FunctionsMcpRole"),
        ("AWS::Lambda::Alias", "FunctionsMcpAlias"),
    ):
        assert one.id_of(kind, fragment) == two.id_of(kind, fragment)
    main_role = two.resources[two.id_of("AWS::Lambda::Function", "FunctionsMcpFunction")]["Properties"][
        "Role"
    ]
    assert render(main_role) == "${" + one.id_of("AWS::IAM::Role", "FunctionsMcpRole") + ".Arn}"


def _policy_of(synth: Synth, role_id: str) -> list[str]:
    """The statements of the policies attached to `role_id`, rendered, with the role's own id masked."""
    found = []
    for key, resource in synth.of_type("AWS::IAM::Policy").items():
        if {"Ref": role_id} in resource["Properties"]["Roles"]:
            found += [render(s) for _, s in statements(synth) if _ == key]
    return sorted(found)


def test_each_server_role_holds_exactly_what_the_primary_role_holds(two: Synth, domain: Synth) -> None:
    for synth in (two, domain):
        main = synth.id_of("AWS::IAM::Role", "FunctionsMcpRole")
        research = synth.id_of("AWS::IAM::Role", "ServerresearchRole")
        assert _policy_of(synth, main) == _policy_of(synth, research)
        assert _policy_of(synth, main)  # not vacuous
        # Only their own function can assume them.
        for role in (main, research):
            trust = synth.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]


def test_the_tenant_data_role_trusts_every_server_role_with_a_tenant_tag(domain: Synth) -> None:
    tenant = domain.id_of("AWS::IAM::Role", "TenantDataRole")
    trust = domain.resources[tenant]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    principals = sorted(render(p) for s in trust for p in as_list(s["Principal"]["AWS"]))
    assert principals == sorted(
        "${" + domain.id_of("AWS::IAM::Role", fragment) + ".Arn}"
        for fragment in ("FunctionsMcpRole", "ServerresearchRole")
    )
    conditions = {json.dumps(s["Condition"], sort_keys=True) for s in trust}
    assert len(conditions) == 1
    assert "aws:RequestTag/tenant" in conditions.pop()
    for function in _functions(domain).values():
        assert "TENANT_DATA_ROLE_ARN" in function["Environment"]["Variables"]


# --- routes ----------------------------------------------------------------------------------------


def test_each_server_path_goes_through_the_authorizer_to_its_own_alias(two: Synth) -> None:
    routes = api_routes(two)
    aliases = {
        "/mcp": _alias_id(two, "FunctionsMcpAlias"),
        "/research/mcp": _alias_id(two, "ServerresearchAlias"),
    }
    authorizers = set()
    for path, alias in aliases.items():
        for verb in MCP_VERBS:
            props = routes[(verb, path)]
            assert props["AuthorizationType"] == "CUSTOM", (verb, path)
            authorizers.add(json.dumps(props["AuthorizerId"]))
            assert props["ApiKeyRequired"] is True, (verb, path)  # usage plans are on by default
            assert props["Integration"]["Type"] == "AWS_PROXY"
            assert "${" + alias + "}" in render(props["Integration"]["Uri"]), (verb, path)
    assert len(authorizers) == 1  # the one authorizer
    assert len(two.of_type("AWS::ApiGateway::Authorizer")) == 1
    # API Gateway may invoke each alias for exactly its own server's routes on this stage.
    for path, alias in aliases.items():
        sources = sorted(
            render(p["Properties"]["SourceArn"]).split("}/", 2)[-1]
            for p in two.of_type("AWS::Lambda::Permission").values()
            if render(p["Properties"]["FunctionName"]) == "${" + alias + "}"
        )
        assert sources == sorted(f"{verb}{path}" for verb in MCP_VERBS), path


def test_browser_origins_get_a_preflight_on_every_server(domain: Synth) -> None:
    routes = api_routes(domain)
    for path in ("/mcp", "/research/mcp"):
        props = routes[("OPTIONS", path)]
        assert props["AuthorizationType"] == "NONE"
        assert props["Integration"]["Type"] == "MOCK"
        (response,) = props["Integration"]["IntegrationResponses"]
        headers = response["ResponseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == "'https://app.example.net'"
        assert headers["method.response.header.Access-Control-Allow-Methods"] == "'POST,GET,DELETE'"


def _metadata(synth: Synth, path: str) -> dict[str, Any]:
    props = api_routes(synth)[("GET", path)]
    assert props["AuthorizationType"] == "NONE"
    assert props["Integration"]["Type"] == "MOCK"
    (response,) = props["Integration"]["IntegrationResponses"]
    headers = {
        k.removeprefix("method.response.header."): v for k, v in response["ResponseParameters"].items()
    }
    assert headers == {name: f"'{value}'" for name, value in PRM_HEADERS.items()}
    document: dict[str, Any] = json.loads(render(response["ResponseTemplates"]["application/json"]))
    return document


def test_each_server_has_its_own_metadata_at_the_path_inserted_url(two: Synth, domain: Synth) -> None:
    """RFC 9728 §3.1: the well-known segment goes between host and path; its `resource` is that
    server's URL (§3.3: the client checks it) and its scopes are that server's."""
    for synth, base in ((two, EXECUTE_API), (domain, re.escape("https://mcp.example.net"))):
        root = _metadata(synth, "/.well-known/oauth-protected-resource")
        primary = _metadata(synth, "/.well-known/oauth-protected-resource/mcp")
        research = _metadata(synth, "/.well-known/oauth-protected-resource/research/mcp")
        assert root == primary
        assert re.fullmatch(base + "/mcp", primary["resource"])
        assert re.fullmatch(base + "/research/mcp", research["resource"])
        assert primary["scopes_supported"] == sorted({BASE, *MAIN_SCOPES})
        assert research["scopes_supported"] == sorted({BASE, *RESEARCH_SCOPES})
        assert research["authorization_servers"] == primary["authorization_servers"]
        assert ("OPTIONS", "/.well-known/oauth-protected-resource/research/mcp") in api_routes(synth)


def test_outputs_name_each_server(two: Synth) -> None:
    assert re.fullmatch(EXECUTE_API + "/research/mcp", render(two.outputs["McpUrlResearch"]["Value"]))
    assert re.fullmatch(
        EXECUTE_API + "/.well-known/oauth-protected-resource/research/mcp",
        render(two.outputs["ProtectedResourceMetadataUrlResearch"]["Value"]),
    )
    assert re.fullmatch(EXECUTE_API + "/mcp", render(two.outputs["McpUrl"]["Value"]))


def test_servers_whose_outputs_would_collide_stop_synth(tmp_path: Path) -> None:
    document = {
        "version": 2,
        "servers": {
            "main": {"path": "/mcp", "tools": {}},
            "a-1b": {"path": "/a-1b/mcp", "tools": {}},
            "a1b": {"path": "/a1b/mcp", "tools": {}},
        },
    }
    context = {"STACK_NAME": "McpCollide", "APP_SOURCE_DIR": str(write_app(tmp_path / "src", document))}
    with pytest.raises(ConfigError, match=r"share the name McpUrlA1b; rename one in app/servers/__init__.py"):
        synthesize(tmp_path / "out", context)


def test_the_pool_issues_every_servers_scopes(two: Synth) -> None:
    (_, server) = two.one("AWS::Cognito::UserPoolResourceServer")
    names = {s["ScopeName"] for s in server["Properties"]["Scopes"]}
    assert names == {"access", "notes", "profile", "research", "research.read"}


# --- the challenge rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "routable", "named"),
    [(1, False, True), (1, True, True), (2, False, True), (2, True, False), (5, True, False)],
)
def test_the_challenge_rule(servers: int, routable: bool, named: bool) -> None:
    assert challenge_names_resource_metadata(servers, root_well_known_routable=routable) is named


def _challenges(synth: Synth) -> tuple[str, str]:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    return tuple(  # type: ignore[return-value]
        render(responses[kind]["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"])
        for kind in ("UNAUTHORIZED", "ACCESS_DENIED")
    )


def test_with_one_server_the_challenges_are_unchanged(one: Synth) -> None:
    unauthorized, denied = _challenges(one)
    prm = EXECUTE_API + re.escape("/.well-known/oauth-protected-resource/mcp")
    assert re.fullmatch(rf"'Bearer resource_metadata=\"{prm}\", scope=\"{BASE}\"'", unauthorized)
    scopes = re.escape(" ".join(sorted({BASE, *MAIN_SCOPES})))
    assert re.fullmatch(
        rf"'Bearer error=\"insufficient_scope\", scope=\"{scopes}\", resource_metadata=\"{prm}\"'", denied
    )
    assert not [route for route in api_routes(one) if "research" in route[1]]
    assert not [key for key in one.outputs if key.endswith("Research")]


def test_on_execute_api_the_challenges_name_the_primary_metadata_and_synth_warns(two: Synth) -> None:
    unauthorized, denied = _challenges(two)
    prm = EXECUTE_API + re.escape("/.well-known/oauth-protected-resource/mcp")
    assert re.fullmatch(rf"'Bearer resource_metadata=\"{prm}\", scope=\"{BASE}\"'", unauthorized)
    scopes = " ".join(ALL_SCOPES)  # every scope of every server: one literal answers for all
    assert re.fullmatch(
        rf"'Bearer error=\"insufficient_scope\", scope=\"{re.escape(scopes)}\", resource_metadata=\"{prm}\"'",
        denied,
    )
    warnings = Annotations.from_stack(two.stack).find_warning(
        "*", Match.string_like_regexp("CUSTOM_DOMAIN_NAME")
    )
    assert len(warnings) == 1
    assert "Several MCP servers on the execute-api URL" in json.dumps(warnings[0].entry.data)


def test_with_a_custom_domain_the_challenges_leave_discovery_to_the_path_inserted_urls(domain: Synth) -> None:
    unauthorized, denied = _challenges(domain)
    assert unauthorized == f"'Bearer scope=\"{BASE}\"'"
    # A cached authorizer decides on the base scope only (no per-tool 403), as with one server.
    assert denied == f'\'Bearer error="insufficient_scope", scope="{BASE}"\''
    assert not Annotations.from_stack(domain.stack).find_warning(
        "*", Match.string_like_regexp("CUSTOM_DOMAIN")
    )


# --- observability -----------------------------------------------------------------------------------


def test_access_log_filters_and_alarms_cover_every_server(two: Synth) -> None:
    patterns = {
        render(f["Properties"]["MetricTransformations"][0]["MetricName"]): f["Properties"]["FilterPattern"]
        for f in two.of_type("AWS::Logs::MetricFilter").values()
    }
    for metric in ("AuthorizationFailures", "Mcp5xx"):
        assert '$.resourcePath = "/mcp"' in patterns[metric], metric
        assert '$.resourcePath = "/research/mcp"' in patterns[metric], metric
    throttles = [
        a["Properties"]
        for a in two.of_type("AWS::CloudWatch::Alarm").values()
        if "throttled one of the stack's functions" in render(a["Properties"]["AlarmDescription"])
    ]
    (alarm,) = throttles
    ids = {m["Id"] for m in alarm["Metrics"]}
    assert {"mcp", "mcp_research", "authorizer", "oauth"} <= ids
    (research,) = [m for m in alarm["Metrics"] if m["Id"] == "mcp_research"]
    dimensions = {d["Name"]: render(d["Value"]) for d in research["MetricStat"]["Metric"]["Dimensions"]}
    function = two.id_of("AWS::Lambda::Function", "ServerresearchFunction")
    assert dimensions == {"FunctionName": "${" + function + "}", "Resource": "${" + function + "}:live"}
    assert "mcp_research" in alarm["Metrics"][0]["Expression"]
    # Every function writes the one audit log group: the saved queries see every server.
    groups = {json.dumps(f["LoggingConfig"]["LogGroup"]) for f in _functions(two).values()}
    assert len(groups) == 1


def test_checkov_skips_cover_the_new_function(two: Synth) -> None:
    function = two.id_of("AWS::Lambda::Function", "ServerresearchFunction")
    skips = {e["id"] for e in two.resources[function]["Metadata"]["checkov"]["skip"]}
    assert skips == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}
    # cdk-nag ran too (`synthesize` adds it): nothing unacknowledged. The report's other entry is
    # the several-servers warning (CDK lists construct annotations there as well).
    plugins = {p["pluginName"]: p for p in two.validation_report()["pluginReports"]}
    assert (plugins["AwsSolutions"]["conclusion"], plugins["AwsSolutions"]["violations"]) == ("success", [])
    assert set(plugins) == {"AwsSolutions", "Construct Annotations"}


def test_a_cached_authorizer_still_gets_the_list_of_servers(domain: Synth) -> None:
    """With a cache TTL the authorizer decides on the base scope, but its Allow policy must name
    exactly the servers the caller may call, so it reads the document as the list of servers."""
    (authorizer,) = [
        f["Properties"]
        for f in domain.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "app.authorizer.handler.handler"
    ]
    variables = authorizer["Environment"]["Variables"]
    assert variables["AUTHORIZER_CACHE_TTL_SECONDS"] == "300"
    assert variables["TOOL_SCOPES_FILE"] == "/var/task/tool_scopes.json"


def test_the_authorizer_asset_carries_the_version_2_document(tmp_path: Path) -> None:
    """Bundled as `cdk deploy` bundles (pip stubbed out: the dependencies are test_bundling.py's
    business), the authorizer's asset holds the exported document at the TOOL_SCOPES_FILE path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundling, "pip_install", lambda requirements, target: None)
        synth = synthesize(tmp_path, TWO_SERVER_CONTEXT, bundling=True)
    (authorizer,) = [
        f["Properties"]
        for f in synth.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "app.authorizer.handler.handler"
    ]
    assert authorizer["Environment"]["Variables"]["TOOL_SCOPES_FILE"] == "/var/task/tool_scopes.json"
    asset = tmp_path / f"asset.{render(authorizer['Code']['S3Key']).removesuffix('.zip')}"
    assert json.loads((asset / "tool_scopes.json").read_text()) == TWO_SERVERS
    # The MCP functions' assets carry no tool-scopes document.
    for function in _functions(synth).values():
        mcp_asset = tmp_path / f"asset.{render(function['Code']['S3Key']).removesuffix('.zip')}"
        assert (mcp_asset / "app" / "mcp" / "tool_scopes_export.py").is_file()
        assert not (mcp_asset / "tool_scopes.json").exists()
