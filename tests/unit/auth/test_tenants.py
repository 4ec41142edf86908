"""Tenant ids and the claim rule: what a token may name as its tenant, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.auth.errors import AuthError, ReasonCode
from app.auth.tenants import MAX_TENANT_LENGTH, TenantRule, check_tenant_id, is_tenant_id

GROUPS = TenantRule("cognito:groups", "tenant:")


@pytest.mark.parametrize(
    "tenant",
    ["acme", "a", "ACME-eu_1.prod", "72f988bf-86f1-41af-91ab-2d7cd011db47", "0" * MAX_TENANT_LENGTH],
)
def test_plain_tenant_ids_are_valid(tenant: str) -> None:
    assert is_tenant_id(tenant)
    assert check_tenant_id(tenant) == tenant


@pytest.mark.parametrize(
    "tenant",
    [
        "",
        "-acme",  # must start with a letter or digit
        ".acme",
        "acme corp",
        "acme:eu",  # never mistaken for a group prefix
        "acme/eu",
        "ac\u00e9me",  # ASCII only: one spelling per tenant
        "acme\n",
        "0" * (MAX_TENANT_LENGTH + 1),
        "${aws:PrincipalTag/tenant}",  # never an IAM policy variable
        "*",
        None,
        7,
        ["acme"],
    ],
)
def test_anything_else_is_refused_without_echoing_it(tenant: Any) -> None:
    assert not is_tenant_id(tenant)
    with pytest.raises(ValueError, match="DEFAULT_TENANT must be 1-64 characters") as caught:
        check_tenant_id(tenant, "DEFAULT_TENANT")
    if isinstance(tenant, str) and tenant:
        assert tenant not in str(caught.value)


@given(st.text(max_size=80))
def test_a_valid_tenant_id_is_a_valid_sts_session_tag_value(text: str) -> None:
    """What STS accepts as a session tag value ("Pass session tags in AWS STS", IAM User Guide):
    at most 256 characters of letters, digits, spaces and _ . : / = + - @."""
    if is_tenant_id(text):
        assert len(text) <= 256
        assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in text)


def test_a_string_claim_names_the_tenant() -> None:
    assert TenantRule("tenant").tenant_of({"tenant": "acme"}) == "acme"
    assert TenantRule("custom:tenant").tenant_of({"custom:tenant": "acme", "tenant": "other"}) == "acme"
    assert TenantRule("tenant").tenant_of({"sub": "alice"}) is None


@pytest.mark.parametrize("value", ["", "acme corp", ["acme"], 7, None, {"id": "acme"}])
def test_a_string_claim_that_is_no_tenant_id_is_invalid_not_absent(value: Any) -> None:
    with pytest.raises(AuthError) as caught:
        TenantRule("tenant").tenant_of({"tenant": value})
    assert caught.value.reason is ReasonCode.INVALID_TENANT
    assert caught.value.status == 403


def test_the_one_tenant_group_names_the_tenant() -> None:
    claims = {"cognito:groups": ["admins", "tenant:acme", "us-east-1_pool_Google"]}
    assert GROUPS.tenant_of(claims) == "acme"
    assert GROUPS.tenant_of({"cognito:groups": ["admins"]}) is None
    assert GROUPS.tenant_of({"sub": "alice"}) is None


@pytest.mark.parametrize(
    "groups",
    [
        ["tenant:acme", "tenant:globex"],  # two tenants: which one would be a guess
        ["tenant:"],
        ["tenant:acme corp"],
        "tenant:acme",  # not a list
        ["tenant:x"] * 300,  # far longer than any groups claim
    ],
)
def test_groups_that_name_no_single_valid_tenant_are_invalid(groups: Any) -> None:
    with pytest.raises(AuthError) as caught:
        GROUPS.tenant_of({"cognito:groups": groups})
    assert caught.value.reason is ReasonCode.INVALID_TENANT


@pytest.mark.parametrize("rule", [TenantRule("tenant"), GROUPS])
def test_claims_for_round_trips(rule: TenantRule) -> None:
    assert rule.tenant_of(rule.claims_for("acme")) == "acme"


@pytest.mark.parametrize(("claim", "prefix"), [("", None), ("my claim", None), ("tenant", ""), ("g", "a b")])
def test_a_malformed_rule_names_the_setting(claim: str, prefix: str | None) -> None:
    with pytest.raises(ValueError, match=r"TENANT_CLAIM|TENANT_GROUP_PREFIX"):
        TenantRule(claim, prefix)
