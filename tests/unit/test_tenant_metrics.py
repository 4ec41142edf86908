"""`TenantToolCalls`: one metric per tenant, only when TENANT_METRICS is on (cardinality costs)."""

from __future__ import annotations

import json

import pytest

from app.core.audit import AuditEvent, Outcome, metrics_document


def call(tenant: str | None, outcome: Outcome = "ok") -> AuditEvent:
    return AuditEvent(
        source="mcp",
        action="tools/call",
        outcome=outcome,
        tenant=tenant,
        target_kind="tool",
        target="notes_list",
    )


def directives(document: str | None) -> list[list[str]]:
    assert document is not None
    return [d["Dimensions"][0] for d in json.loads(document)["_aws"]["CloudWatchMetrics"]]


def test_off_by_default_no_tenant_dimension() -> None:
    document = metrics_document(call("acme"), "Ns", 0)
    assert directives(document) == [["tool"]]
    assert "acme" not in str(document)


@pytest.mark.parametrize("outcome", ["ok", "tool_error"])
def test_on_each_tool_call_counts_for_its_tenant(outcome: Outcome) -> None:
    document = metrics_document(call("acme", outcome), "Ns", 0, tenant_metrics=True)
    assert directives(document) == [["tool"], ["tenant"]]
    values = json.loads(document or "")
    assert (values["tenant"], values["TenantToolCalls"]) == ("acme", [1])


def test_a_call_without_a_tenant_or_refused_at_the_edge_adds_no_tenant_metric() -> None:
    assert directives(metrics_document(call(None), "Ns", 0, tenant_metrics=True)) == [["tool"]]
    refused = metrics_document(call("acme", "denied"), "Ns", 0, tenant_metrics=True)
    assert refused is None
