"""Validate ``release-policy.yaml`` (contract v1) and write it as ``release-policy.json``.

Checks the JSON Schema, then what a schema cannot say (finite numbers, ``min``
not above ``max``, non-negative regressions, no duplicate keys). A broken
policy stops the Build stage with one line naming the file, the YAML line,
the key path and the cause, e.g.::

    model_repo/release-policy.yaml:5: metrics.roc_auc.min: 'high' is not of type 'number'

Usage: ``python -m release_tools.validate_policy release-policy.yaml
--schema schemas/release-policy.v1.schema.json --out release-policy.json``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ReleaseToolError, run_cli

__all__ = ["PolicyError", "load_policy", "main", "semantic_problems", "validate_policy_file"]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicyProblem:
    """One reason the policy is refused, at a key path."""

    path: KeyPath
    message: str


class PolicyError(ReleaseToolError):
    """The policy file is refused; the message is the one line to print."""


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _node_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> None:
    """Record the 1-based line of every value node by key path; refuse duplicate keys."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise PolicyError(f"{source}:{key_node.start_mark.line + 1}: {_dotted(path + (key,))}: duplicate key")
            seen.add(key)
            _node_lines(value_node, path + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, path + (index,), lines, source)


def load_policy(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse the YAML; return the data and a key path -> line map."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{source}: cannot read ({exc.__class__.__name__}: {exc})") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}{where}: YAML syntax error: {problem}") from exc
    if root is None:
        raise PolicyError(f"{source}: empty file; expected a mapping with 'version: 1'")
    lines: dict[KeyPath, int] = {}
    _node_lines(root, (), lines, source)
    return data, lines


def _numbers(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, path + (str(key),))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, path + (index,))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


def _fits_a_float(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # a 400-digit integer
        return False


def _direction_problems(policy: dict[str, Any]) -> list[PolicyProblem]:
    """One metric's ``higher_is_better`` must be the same in ``metrics`` and ``champion``."""
    stated = {
        name: rule["higher_is_better"]
        for name, rule in (policy.get("metrics") or {}).items()
        if isinstance(rule, dict) and "higher_is_better" in rule
    }
    return [
        PolicyProblem(("champion", name, "higher_is_better"), f"contradicts metrics.{name}.higher_is_better")
        for name, rule in (policy.get("champion") or {}).items()
        if isinstance(rule, dict) and name in stated and rule.get("higher_is_better", stated[name]) != stated[name]
    ]


def semantic_problems(policy: dict[str, Any]) -> list[PolicyProblem]:
    """What the schema cannot express. Assumes the schema already passed."""
    problems = [
        PolicyProblem(path, f"{value!r} is not a finite number")
        for path, value in _numbers(policy, ())
        if not _fits_a_float(value)
    ]
    problems.extend(_direction_problems(policy))
    for name, bounds in (policy.get("metrics") or {}).items():
        if isinstance(bounds, dict) and "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            problems.append(PolicyProblem(("metrics", name), f"min {bounds['min']} is above max {bounds['max']}"))
    for name, rule in (policy.get("champion") or {}).items():
        if not isinstance(rule, dict):
            continue
        if rule.get("max_regression", 0) < 0:
            problems.append(PolicyProblem(("champion", name, "max_regression"), "must be >= 0"))
        if "min_improvement" in rule and rule["min_improvement"] <= 0:
            problems.append(PolicyProblem(("champion", name, "min_improvement"), "must be > 0"))
    staging = policy.get("staging") or {}
    if staging.get("max_p95_latency_ms", 1) <= 0:
        problems.append(PolicyProblem(("staging", "max_p95_latency_ms"), "must be > 0"))
    rate = staging.get("max_error_rate", 0)
    if not 0 <= rate <= 1:
        problems.append(PolicyProblem(("staging", "max_error_rate"), f"{rate} is not within [0, 1]"))
    return problems


def _line_of(path: KeyPath, lines: dict[KeyPath, int]) -> int:
    """Line of the deepest part of ``path`` present in the file."""
    while path not in lines:
        path = path[:-1]
    return lines[path]


def _load_schema(schema_path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as exc:
        raise ReleaseToolError(f"{schema_path}: unusable JSON Schema ({exc.__class__.__name__}: {exc})") from exc
    return schema


def validate_policy_file(policy_path: Path, schema_path: Path) -> dict[str, Any]:
    """Return the validated policy, or raise :class:`PolicyError` with the first problem."""
    schema = _load_schema(schema_path)
    data, lines = load_policy(policy_path)
    validator = jsonschema.validators.validator_for(schema)(schema)
    schema_errors = sorted(
        validator.iter_errors(data), key=lambda e: (_line_of(tuple(e.absolute_path), lines), e.message)
    )
    problems = [PolicyProblem(tuple(error.absolute_path), error.message) for error in schema_errors]
    if not problems:
        problems = semantic_problems(data)
    if problems:
        first = problems[0]
        raise PolicyError(f"{policy_path}:{_line_of(first.path, lines)}: {_dotted(first.path)}: {first.message}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release_tools.validate_policy", description=__doc__.splitlines()[0])
    parser.add_argument("policy", type=Path, help="release-policy.yaml")
    parser.add_argument("--schema", type=Path, required=True, help="release-policy.v1.schema.json")
    parser.add_argument("--out", type=Path, help="write the policy as JSON here")
    args = parser.parse_args(argv)
    policy = validate_policy_file(args.policy, args.schema)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(policy, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(f"{args.policy}: valid release policy v{policy.get('version')}" + (f", wrote {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("validate_policy", main))
