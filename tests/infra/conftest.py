"""Helpers for the CDK tests: synthesize once per module, read the template, render intrinsics."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii prints a banner for an end-of-life Node (20 here) on every start; it is noise in test
# output. The variable lists the silenced major versions.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from constructs import IConstruct

from infra.app import build_app
from infra.stack import ServerlessMcpStack

REPO_ROOT = Path(__file__).resolve().parents[2]
# Unit tests never bundle (no pip, no network): the asset is the source folder as is.
NO_BUNDLING: dict[str, object] = {"aws:cdk:bundling-stacks": []}
# The authorization front's routes (AuthorizationType NONE, to the front's alias).
FRONT_ROUTES = {
    ("GET", "/.well-known/oauth-authorization-server/oauth"),
    ("GET", "/.well-known/openid-configuration/oauth"),
    ("GET", "/oauth/{proxy+}"),
    ("POST", "/oauth/{proxy+}"),
}
# CORS preflights: OPTIONS answered by a MOCK integration, no authorizer (tests/infra/test_cors.py).
PRM_PREFLIGHT_ROUTES = {
    ("OPTIONS", "/.well-known/oauth-protected-resource"),
    ("OPTIONS", "/.well-known/oauth-protected-resource/mcp"),
}
FRONT_PREFLIGHT_ROUTES = {
    ("OPTIONS", "/.well-known/oauth-authorization-server/oauth"),
    ("OPTIONS", "/.well-known/openid-configuration/oauth"),
    ("OPTIONS", "/oauth/{proxy+}"),
}
PREFLIGHT_ROUTES = PRM_PREFLIGHT_ROUTES | FRONT_PREFLIGHT_ROUTES
PRM_ROOT = "/.well-known/oauth-protected-resource"
MCP_VERBS = ("POST", "GET", "DELETE")


def cdk_json_context() -> dict[str, object]:
    """The feature flags from cdk.json, so tests synthesize what `npx cdk deploy` deploys."""
    data: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())
    return dict(data.get("context", {}))


@dataclass
class Synth:
    stack: ServerlessMcpStack
    template: Template
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    outdir: Path
    template_path: Path

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == kind}

    def id_of(self, kind: str, fragment: str) -> str:
        """Logical id of the one resource of `kind` whose id contains `fragment`."""
        found = [key for key in self.of_type(kind) if fragment in key]
        assert len(found) == 1, (kind, fragment, found)
        return found[0]

    def one(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.of_type(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))

    def validation_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.outdir / "validation-report.json").read_text())
        return report


def synthesize(outdir: Path, context: Mapping[str, object] | None = None, *, bundling: bool = False) -> Synth:
    """Synthesize the app exactly as the CLI would (cdk.json flags, cdk-nag on), env-agnostic."""
    full: dict[str, object] = {**cdk_json_context(), "aws:cdk:enable-asset-metadata": True}
    if not bundling:
        full.update(NO_BUNDLING)
    full.update(context or {})
    app, stack = build_app(full, env={}, outdir=str(outdir))
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    raw: dict[str, Any] = artifact.template
    return Synth(
        stack=stack,
        template=Template.from_json(raw),
        resources=raw["Resources"],
        outputs=raw.get("Outputs", {}),
        outdir=outdir,
        template_path=outdir / artifact.template_file,
    )


def synthesize_bundled(outdir: Path) -> Synth:
    """Synthesize with bundling on: pip installs each function's dependencies for Lambda and the
    bytecode is compiled, as `cdk deploy` does. pip's cache lives in `.cache/pip` in the repository
    (ignored by git through `.cache/.gitignore`), so a second run downloads nothing."""
    cache = REPO_ROOT / ".cache"
    cache.mkdir(exist_ok=True)
    (cache / ".gitignore").write_text("*\n")
    previous = os.environ.get("PIP_CACHE_DIR")
    os.environ["PIP_CACHE_DIR"] = str(cache / "pip")
    try:
        return synthesize(outdir, bundling=True)
    finally:
        if previous is None:
            os.environ.pop("PIP_CACHE_DIR", None)
        else:
            os.environ["PIP_CACHE_DIR"] = previous


def render(value: object) -> str:
    """A CloudFormation value as readable text: Fn::Join joined, Ref as ${Ref}, GetAtt as ${A.B}."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(render(item) for item in value)
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Fn::Join":
            separator, parts = arg
            return str(separator).join(render(part) for part in parts)
        if key == "Ref":
            return "${" + str(arg) + "}"
        if key == "Fn::GetAtt":
            return "${" + ".".join(str(a) for a in arg) + "}"
        if key == "Fn::Select":
            return "${Select " + json.dumps(arg) + "}"
    return json.dumps(value, sort_keys=True)


def statements(synth: Synth) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement in the template (managed, inline and role policies), with its owner."""
    for key, resource in synth.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in props["PolicyDocument"]["Statement"]:
                yield key, statement
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield key, statement


def statements_about(synth: Synth, *prefixes: str) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """(owner, statement, actions) for every statement with an action of these services ("kms:")."""
    for owner, statement in statements(synth):
        actions = as_list(statement["Action"])
        if any(action.startswith(prefixes) for action in actions):
            yield owner, statement, actions


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def api_routes(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    """{(HTTP method, path): method properties} for every API Gateway method."""
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path_of(resource_id: object) -> str:
        if isinstance(resource_id, dict) and "Fn::GetAtt" in resource_id:
            return ""  # the root resource
        assert isinstance(resource_id, dict), resource_id
        assert "Ref" in resource_id, resource_id
        props = resources[resource_id["Ref"]]["Properties"]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    routes: dict[tuple[str, str], dict[str, Any]] = {}
    for method in synth.of_type("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        routes[(props["HttpMethod"], path_of(props["ResourceId"]) or "/")] = props
    return routes


# Several MCP servers (tests/infra/test_servers.py): the registry may list more than the primary
# (/mcp); each other server adds its MCP methods and its path-inserted metadata (GET and OPTIONS).
def server_paths(synth: Synth) -> tuple[str, ...]:
    """Every MCP server's path, the primary (/mcp) first."""
    return tuple(server.path for server in synth.stack.functions.servers)


def mcp_routes(synth: Synth) -> set[tuple[str, str]]:
    """The authorized MCP methods of every server."""
    return {(verb, path) for path in server_paths(synth) for verb in MCP_VERBS}


def other_server_metadata_routes(synth: Synth) -> set[tuple[str, str]]:
    """GET and OPTIONS on the metadata of every server but the primary (whose routes are listed above)."""
    return {(verb, PRM_ROOT + path) for path in server_paths(synth)[1:] for verb in ("GET", "OPTIONS")}


def logical_id(synth: Synth, construct: IConstruct) -> str:
    """The logical id of an L2 construct's CloudFormation resource."""
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement), construct.node.path
    return synth.stack.get_logical_id(child)


def alias_ids(synth: Synth) -> dict[str, str]:
    """{server path: logical id of its `live` alias}."""
    return {server.path: logical_id(synth, server.alias) for server in synth.stack.functions.servers}


def lint(template_path: Path) -> list[str]:
    """cfn-lint findings, except the documented ignore (W3005: CDK writes DependsOn that a GetAtt
    already implies, for the function's role; harmless)."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(template_path, ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"]))
    return [str(match) for match in matches]


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default stack, synthesized once per worker for the modules in the
    `infra-stack-default` xdist group (test_stack_default.py, test_oauth_front.py)."""
    return synthesize(tmp_path_factory.mktemp("cdk-default"))
