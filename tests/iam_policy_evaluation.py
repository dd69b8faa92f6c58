"""A small IAM policy evaluator for identity policies, as AWS documents the evaluation logic.

Used by the handler-permission and runtime-permission checks to judge "does this
role allow this request" with IAM's semantics rather than string equality:

* an explicit `Deny` wins, otherwise one matching `Allow` allows, otherwise the
  request is implicitly denied;
* `Action`/`NotAction` match case-insensitively with `*` and `?` wildcards;
* `Resource`/`NotResource` match an ARN segment by segment (partition, service,
  region, account), and the resource part with `*`/`?` spanning `/` and `:`;
* conditions: every operator block and every key must hold (AND), any listed
  value may match (OR); `String*`, `Arn*`, `Bool`, `Null`, `...IfExists` and the
  `ForAnyValue:`/`ForAllValues:` set operators. A key absent from the request
  makes a positive operator false and a negated operator true, as the IAM
  reference ("Condition operators") says.

Only what the project's policies use is implemented; anything else raises, so
an unknown operator can never pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["Request", "Verdict", "evaluate", "glob_match", "arn_match"]

ContextValue = str | list[str]


@dataclass(frozen=True)
class Request:
    """One authorisation request: the action, the resource ARN (or `*`) and the request context keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The decision and the statements that made it (Sids or indexes)."""

    allowed: bool
    reason: str


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character."""
    return _glob(pattern, ignore_case).match(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """Match a Resource element against an ARN: segment by segment, the resource part as a whole."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return glob_match(pattern, arn)
    return all(glob_match(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _lookup(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return [str(v) for v in _as_list(value)]
    return None


_COMPARE = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringEqualsIgnoreCase": lambda expected, actual: expected.lower() == actual.lower(),
    "StringLike": lambda expected, actual: glob_match(expected, actual),
    "ArnEquals": lambda expected, actual: arn_match(expected, actual),
    "ArnLike": lambda expected, actual: arn_match(expected, actual),
    "Bool": lambda expected, actual: expected.lower() == actual.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, ContextValue]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    actual = _lookup(context, key)
    expected_values = [str(v) for v in _as_list(expected)]
    if base == "Null":
        # Null: true means "the key is absent".
        return (actual is None) == (expected_values[0].lower() == "true")
    negated = base in _NEGATED
    compare = _COMPARE.get(_NEGATED.get(base, base))
    if compare is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise NotImplementedError(f"condition operator {operator} is not implemented by this evaluator")
    if actual is None:
        return if_exists or negated or qualifier == "ForAllValues"

    def matches(value: str) -> bool:
        return any(compare(e, value) for e in expected_values)

    if qualifier == "ForAllValues":
        return all(matches(v) != negated for v in actual)
    if qualifier == "ForAnyValue":
        return any(matches(v) != negated for v in actual)
    # Single-valued key: a negated operator holds when no listed value matches.
    return all(matches(v) != negated for v in actual)


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]) -> bool:
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, block in conditions.items()
        for key, expected in block.items()
    )


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        action_ok = any(glob_match(a, request.action, ignore_case=True) for a in _as_list(statement["Action"]))
    else:
        action_ok = not any(glob_match(a, request.action, ignore_case=True) for a in _as_list(statement["NotAction"]))
    if not action_ok:
        return False
    if "Resource" in statement:
        resource_ok = any(arn_match(str(r), request.resource) for r in _as_list(statement["Resource"]))
    elif "NotResource" in statement:
        resource_ok = not any(arn_match(str(r), request.resource) for r in _as_list(statement["NotResource"]))
    else:
        resource_ok = True  # trust policies name no resource
    return resource_ok and _conditions_hold(statement.get("Condition", {}), request.context)


def evaluate(statements: Iterable[Mapping[str, Any]], request: Request) -> Verdict:
    """Evaluate identity-policy statements for one request: explicit deny > allow > implicit deny."""
    allowed_by: list[str] = []
    for index, statement in enumerate(statements):
        if not _applies(statement, request):
            continue
        name = str(statement.get("Sid") or f"statement {index}")
        if statement["Effect"] == "Deny":
            return Verdict(False, f"explicitly denied by {name}")
        allowed_by.append(name)
    if allowed_by:
        return Verdict(True, f"allowed by {', '.join(allowed_by)}")
    return Verdict(False, "no statement allows it (implicit deny)")
