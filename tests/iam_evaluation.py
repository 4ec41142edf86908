"""A small, strict IAM policy evaluator for exactly the statements that keep tenants apart.

moto checks IAM actions when its enforcement is on, but ignores conditions such as
`dynamodb:LeadingKeys` (FIELD-NOTES), and no maintained PyPI package evaluates them. The npm
package `@cloud-copilot/iam-simulate` does, but it is AGPL-3.0; this template is MIT-0 and
clones must not inherit that question, so the tests carry this evaluator instead. It implements
what the IAM User Guide documents for the elements these policies use, and refuses (raises on)
anything else, so it can never answer "allow" for a construct it does not understand:

- "Policy evaluation logic": an explicit Deny wins, then an Allow, else an implicit deny.
- Action and Resource (strings or lists, `*` and `?` wildcards, case-insensitive actions);
  Principal `{"AWS": arn}` for trust policies.
- "IAM JSON policy elements: Condition operators": `StringEquals`, `StringNotEquals`,
  `StringLike`, `StringNotLike` (several values: any may match), `Null` ("true": the key is
  absent), and the set qualifiers: `ForAllValues:` is true when every request value matches a
  policy value, *and when the key is absent or empty*; `ForAnyValue:` needs at least one match.
  Every operator block and every key in it must hold (AND).
- "IAM policy elements: Variables and tags": `${key}` in a condition value or a resource is
  replaced by the request's single value of that key; a key the request lacks leaves a value
  that matches nothing.
- Context key names are case-insensitive; values compare case-sensitively (StringEquals).

CloudFormation intrinsics in a synthesized template are resolved by `resolve` into ARNs made from
the logical ids, in one fake account and region.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

ACCOUNT: Final = "123456789012"
REGION: Final = "us-east-1"
Decision = Literal["allow", "implicit_deny", "explicit_deny"]
_VARIABLE: Final = re.compile(r"\$\{([^}]+)\}")
_OPERATORS: Final = frozenset({"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "Null"})
_UNRESOLVED: Final = "\x00unresolved\x00"  # no request value can equal it
_ARN_OF: Final = {
    "AWS::DynamoDB::Table": lambda name: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
    "AWS::IAM::Role": lambda name: f"arn:aws:iam::{ACCOUNT}:role/{name}",
}


class Unsupported(ValueError):
    """The policy uses something this evaluator does not implement: no answer rather than a guess."""


@dataclass(frozen=True)
class Request:
    """One API request as IAM sees it: who, which action on which resource, and its context keys."""

    action: str
    resource: str = "*"
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    principal: str | None = None  # the caller's ARN, for trust policies

    def values(self, key: str) -> list[str] | None:
        """The request's values of `key` (case-insensitive name), or None when absent."""
        for name, value in self.context.items():
            if name.lower() == key.lower():
                return [value] if isinstance(value, str) else list(value)
        return None


def evaluate(statements: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    allowed = False
    for statement in statements:
        if not _applies(statement, request):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return "explicit_deny"
        if effect != "Allow":
            raise Unsupported(f"Effect {effect!r}")
        allowed = True
    return "allow" if allowed else "implicit_deny"


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Principal", "Condition"}
    if unknown:
        raise Unsupported(f"statement elements {sorted(unknown)}")
    principal = statement.get("Principal")
    if principal is not None and (not isinstance(principal, Mapping) or set(principal) != {"AWS"}):
        raise Unsupported(f"Principal {principal!r}")
    actions = _as_list(statement["Action"])
    if not any(fnmatch.fnmatchcase(request.action.lower(), pattern.lower()) for pattern in actions):
        return False
    if "Resource" in statement:
        resources = [_substitute(resource, request) for resource in _as_list(statement["Resource"])]
        if not any(fnmatch.fnmatchcase(request.resource, pattern) for pattern in resources):
            return False
    if principal is not None and request.principal not in _as_list(principal["AWS"]):
        return False
    return all(
        _condition(operator, key, values, request)
        for operator, block in statement.get("Condition", {}).items()
        for key, values in block.items()
    )


def _condition(operator: str, key: str, policy_values: Any, request: Request) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if base not in _OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise Unsupported(f"condition operator {operator}")
    wanted = [_substitute(str(value), request) for value in _as_list(policy_values)]
    present = request.values(key)
    if base == "Null":
        if qualifier or wanted not in (["true"], ["false"]):
            raise Unsupported(f"Null {policy_values!r}")
        return (present is None) == (wanted == ["true"])
    if qualifier == "ForAllValues":
        return not present or all(_match(base, value, wanted) for value in present)
    if qualifier == "ForAnyValue":
        return bool(present) and any(_match(base, value, wanted) for value in present or ())
    if present is None:
        return base.startswith("StringNot")  # a negated operator on a missing key holds
    if len(present) != 1:
        raise Unsupported(f"{operator} on the multivalued key {key}")
    return _match(base, present[0], wanted)


def _match(base: str, value: str, wanted: list[str]) -> bool:
    if base in ("StringEquals", "StringNotEquals"):
        hit = value in wanted
    else:
        hit = any(fnmatch.fnmatchcase(value, pattern) for pattern in wanted)
    return not hit if base.startswith("StringNot") else hit


def _substitute(text: str, request: Request) -> str:
    def value(match: re.Match[str]) -> str:
        found = request.values(match.group(1))
        return found[0] if found is not None and len(found) == 1 else _UNRESOLVED

    return _VARIABLE.sub(value, text)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def resolve(value: Any, resources: Mapping[str, Mapping[str, Any]]) -> Any:
    """A template value with its intrinsics replaced by concrete strings (GetAtt Arn, Ref, Join)."""
    if isinstance(value, list):
        return [resolve(item, resources) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Fn::GetAtt":
            logical, attribute = argument
            if attribute != "Arn":
                return f"{logical}.{attribute}"
            kind = resources[logical]["Type"]
            make = _ARN_OF.get(kind)
            # Any other resource gets an ARN of its own that matches nothing the tests name.
            return (
                make(logical)
                if make
                else f"arn:aws:{kind.lower().replace('::', '-')}:{REGION}:{ACCOUNT}:{logical}"
            )
        if name == "Ref":
            pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
            return pseudo.get(argument, argument)
        if name == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolve(part, resources)) for part in parts)
        if name.startswith("Fn::"):
            raise Unsupported(name)
    return {key: resolve(item, resources) for key, item in value.items()}
