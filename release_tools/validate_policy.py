"""Validate ``release-policy.yaml`` (contract v1) and write it as ``release-policy.json``.

Reads the YAML safely and refuses what YAML versions read differently
(:mod:`.policy_yaml`: bounded size, nesting and numbers; no aliases, no
``1:30``, ``0200``, ``yes``, ``1e3``...), checks the JSON Schema, then what a
schema cannot say with the contract's own parser (``contracts.release_policy``,
the same one the functions and the app's platform floors use: finite numbers,
``min`` not above ``max``, one direction per metric). A broken
policy stops the Build stage with one line naming the file, the YAML line,
the key path and the cause, e.g.::

    model_repo/release-policy.yaml:5: metrics.roc_auc.min: 'high' is not of type 'number'

Usage: ``python -m release_tools.validate_policy release-policy.yaml
--schema schemas/release-policy.v1.schema.json --out release-policy.json``
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from contracts.release_policy import PolicyError as ContractPolicyError
from contracts.release_policy import parse_release_policy

from .errors import ReleaseToolError, run_cli
from .policy_yaml import KeyPath, PolicyError, read_policy_yaml

__all__ = ["PolicyError", "load_policy", "main", "semantic_problems", "validate_policy_file"]


@dataclass(frozen=True)
class PolicyProblem:
    """One reason the policy is refused, at a key path."""

    path: KeyPath
    message: str


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def load_policy(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse the YAML safely (:mod:`.policy_yaml`); return the data and a key path -> line map."""
    return read_policy_yaml(path)


def semantic_problems(policy: Any) -> list[PolicyProblem]:
    """What the schema cannot express (``min`` above ``max``, one direction per metric...): the contract's
    own parser (:mod:`contracts.release_policy`, the one the functions and the app use) says it."""
    try:
        parse_release_policy(policy)
    except ContractPolicyError as error:
        return [PolicyProblem(error.path, error.cause)]
    return []


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
    schema_errors = sorted(validator.iter_errors(data), key=lambda e: (_line_of(tuple(e.absolute_path), lines), e.message))
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
