"""The test-side IAM evaluator (tests/iam_evaluation.py) against the IAM User Guide's own rules.

Each case is a rule the guide states; the evaluator is only worth trusting where these hold.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam_evaluation import Request, Unsupported, evaluate, resolve

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/Notes"


def allow(**condition: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE, "Condition": condition}


def get(**context: Any) -> Request:
    return Request("dynamodb:GetItem", TABLE, context)


def test_no_matching_statement_is_an_implicit_deny_and_a_deny_wins() -> None:
    """ "Policy evaluation logic": explicit deny > allow > implicit deny."""
    assert evaluate([], get()) == "implicit_deny"
    assert evaluate([allow()], Request("dynamodb:Scan", TABLE)) == "implicit_deny"
    assert evaluate([allow()], Request("dynamodb:GetItem", TABLE + "2")) == "implicit_deny"
    deny = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    assert evaluate([allow(), deny], get()) == "explicit_deny"
    assert evaluate([allow()], get()) == "allow"


def test_for_all_values_is_true_when_the_key_is_absent() -> None:
    """ "The ForAllValues set operator also returns true if there are no context keys in the
    request" (IAM User Guide, multivalued context keys): why the tenant policy adds Null."""
    statement = allow(**{"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["acme"]}})
    assert evaluate([statement], get()) == "allow"
    assert evaluate([statement], get(**{"dynamodb:LeadingKeys": ["acme"]})) == "allow"
    assert evaluate([statement], get(**{"dynamodb:LeadingKeys": ["acme", "globex"]})) == "implicit_deny"
    guarded = allow(
        **{
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["acme"]},
            "Null": {"dynamodb:LeadingKeys": "false"},
        }
    )
    assert evaluate([guarded], get()) == "implicit_deny"


def test_for_any_value_needs_one_match() -> None:
    statement = allow(**{"ForAnyValue:StringEquals": {"aws:TagKeys": ["tenant"]}})
    assert evaluate([statement], get()) == "implicit_deny"
    assert evaluate([statement], get(**{"aws:TagKeys": ["other", "tenant"]})) == "allow"


def test_null_true_means_absent_and_false_means_present() -> None:
    absent = allow(Null={"aws:TokenIssueTime": "true"})
    present = allow(Null={"aws:TokenIssueTime": "false"})
    assert (evaluate([absent], get()), evaluate([present], get())) == ("allow", "implicit_deny")
    with_key = get(**{"aws:TokenIssueTime": "2026-11-22T00:00:00Z"})
    assert (evaluate([absent], with_key), evaluate([present], with_key)) == ("implicit_deny", "allow")


def test_a_policy_variable_takes_the_request_value_and_matches_nothing_when_missing() -> None:
    statement = allow(StringEquals={"dynamodb:LeadingKeys": "${aws:PrincipalTag/tenant}"})
    acme = {"aws:PrincipalTag/tenant": "acme"}
    assert evaluate([statement], get(**acme, **{"dynamodb:LeadingKeys": "acme"})) == "allow"
    assert evaluate([statement], get(**acme, **{"dynamodb:LeadingKeys": "globex"})) == "implicit_deny"
    assert (
        evaluate([statement], get(**{"dynamodb:LeadingKeys": "${aws:PrincipalTag/tenant}"}))
        == "implicit_deny"
    )


def test_key_names_are_case_insensitive_and_values_are_not() -> None:
    statement = allow(StringEquals={"aws:PrincipalTag/tenant": "acme"})
    assert evaluate([statement], get(**{"AWS:principaltag/TENANT": "acme"})) == "allow"
    assert evaluate([statement], get(**{"aws:PrincipalTag/tenant": "ACME"})) == "implicit_deny"


def test_a_negated_operator_holds_for_a_missing_key() -> None:
    statement = allow(StringNotEquals={"aws:PrincipalTag/tenant": "acme"})
    assert evaluate([statement], get()) == "allow"
    assert evaluate([statement], get(**{"aws:PrincipalTag/tenant": "acme"})) == "implicit_deny"


def test_a_trust_policy_matches_its_principal() -> None:
    role = "arn:aws:iam::123456789012:role/Mcp"
    trust = {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "sts:AssumeRole"}
    assert evaluate([trust], Request("sts:AssumeRole", principal=role)) == "allow"
    assert evaluate([trust], Request("sts:AssumeRole", principal=role + "2")) == "implicit_deny"


@pytest.mark.parametrize(
    "statement",
    [
        allow(NumericLessThan={"aws:MultiFactorAuthAge": "3600"}),
        allow(StringEqualsIfExists={"aws:PrincipalTag/tenant": "acme"}),
        {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
    ],
)
def test_what_it_does_not_implement_is_refused_not_guessed(statement: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        evaluate([statement], Request("dynamodb:GetItem", TABLE, {"aws:PrincipalTag/tenant": "acme"}))


def test_template_intrinsics_resolve_to_arns() -> None:
    resources = {"Tbl": {"Type": "AWS::DynamoDB::Table"}, "Role": {"Type": "AWS::IAM::Role"}}
    assert (
        resolve({"Fn::GetAtt": ["Tbl", "Arn"]}, resources)
        == "arn:aws:dynamodb:us-east-1:123456789012:table/Tbl"
    )
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x"]]}
    assert resolve({"A": [joined, {"Fn::GetAtt": ["Role", "Arn"]}]}, resources) == {
        "A": ["arn:aws:x", "arn:aws:iam::123456789012:role/Role"]
    }
    with pytest.raises(Unsupported):
        resolve({"Fn::Sub": "${AWS::Region}"}, resources)
    logs = {"Logs": {"Type": "AWS::Logs::LogGroup"}}
    assert (
        resolve({"Fn::GetAtt": ["Logs", "Arn"]}, logs)
        == "arn:aws:aws-logs-loggroup:us-east-1:123456789012:Logs"
    )
