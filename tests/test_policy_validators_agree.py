"""The three policy validators and the JSON Schema agree on every document, new keys included.

Each document below goes to all four: the contract's parser (`contracts.release_policy`),
the Build stage's `release_tools.validate_policy` (schema + semantic checks, from
YAML), the platform-floor validation of `stacks/config.py`, and the JSON Schema
alone. Either all accept it or all refuse it. The built-in direction table is
stated once in code and once in the schema; they must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from contracts.release_policy import KNOWN_DIRECTIONS, PolicyError, parse_release_policy
from release_tools.validate_policy import PolicyError as FileError
from release_tools.validate_policy import validate_policy_file
from stacks.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "release-policy.v1.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())

VALID: list[dict[str, Any]] = [
    {"version": 1},
    {"version": 1, "metrics": {"roc_auc": {"min": 0.9}}},
    {"version": 1, "metrics": {"roc_auc": {"min": 0.9, "on": "interval"}}},
    {"version": 1, "metrics": {"log_loss": {"max": 0.2, "on": "point", "higher_is_better": False}}},
    {"version": 1, "metrics": {"custom": {"min": 1, "higher_is_better": True}},
     "champion": {"custom": {"max_regression": 0.1, "higher_is_better": True}}},
    {"version": 1, "evaluation": {"min_confidence": 0.95, "min_resamples": 2000,
                                  "min_holdout_rows": 150, "max_holdout_reuse": 0}},
    {"version": 1, "evaluation": {}, "champion": {"roc_auc": {"max_regression": 0.02}}},
]  # fmt: skip

INVALID: list[dict[str, Any]] = [
    {"version": 1, "metrics": {"roc_auc": {"min": 0.9, "on": "lower_end"}}},
    {"version": 1, "metrics": {"roc_auc": {"on": "interval"}}},
    {"version": 1, "metrics": {"log_loss": {"max": 0.2, "higher_is_better": True}}},
    {"version": 1, "champion": {"roc_auc": {"max_regression": 0.01, "higher_is_better": False}}},
    {"version": 1, "champion": {"rmse": {"max_regression": 0.01, "higher_is_better": True}}},
    {"version": 1, "metrics": {"roc_auc": {"min": 0.9, "higher_is_better": "yes"}}},
    {"version": 1, "evaluation": {"min_confidence": 1.0}},
    {"version": 1, "evaluation": {"min_confidence": 0}},
    {"version": 1, "evaluation": {"min_resamples": 0}},
    {"version": 1, "evaluation": {"min_resamples": 1000.5}},
    {"version": 1, "evaluation": {"min_holdout_rows": 10**400}},
    {"version": 1, "metrics": {"roc_auc": {"min": 10**400}}},
    {"version": 1, "champion": {"roc_auc": {"max_regression": -(10**400)}}},
    {"version": 1, "evaluation": {"max_holdout_reuse": -1}},
    {"version": 1, "evaluation": {"min_rows": 100}},
    {"version": 1, "evaluation": {"min_resamples": True}},
    # A gated metric outside the built-in table states its direction (the gate never takes it from the report).
    {"version": 1, "champion": {"custom": {"max_regression": 0.1}}},
    {"version": 1, "metrics": {"custom": {"min": 0.4}}},
    {"version": 1, "metrics": {"custom": {"min": 0.4, "higher_is_better": True}}, "champion": {"custom": {"max_regression": 0.1}}},
]  # fmt: skip


# What a JSON Schema cannot say (its description lists it): the three validators refuse it.
BEYOND_THE_SCHEMA: list[dict[str, Any]] = [
    {"version": 1, "metrics": {"custom": {"min": 1, "higher_is_better": True}},
     "champion": {"custom": {"max_regression": 0.1, "higher_is_better": False}}},
    {"version": 1, "metrics": {"roc_auc": {"min": 0.9, "max": 0.8}}},
]  # fmt: skip


def _gate(document: dict[str, Any]) -> bool:
    try:
        parse_release_policy(document)
    except PolicyError:
        return False
    return True


def _build(document: dict[str, Any], tmp_path: Path) -> bool:
    path = tmp_path / "release-policy.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        validate_policy_file(path, SCHEMA_PATH)
    except FileError:
        return False
    return True


def _config(document: dict[str, Any]) -> bool:
    try:
        load_config({"ml-cicd": {"platform_floors": document}})
    except ConfigError:
        return False
    return True


def _schema(document: dict[str, Any]) -> bool:
    return not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document))


@pytest.mark.parametrize("document", VALID, ids=[json.dumps(d)[:60] for d in VALID])
def test_every_validator_accepts(document: dict[str, Any], tmp_path: Path) -> None:
    assert (_gate(document), _build(document, tmp_path), _config(document), _schema(document)) == (True,) * 4


@pytest.mark.parametrize("document", INVALID, ids=[json.dumps(d)[:60] for d in INVALID])
def test_every_validator_refuses(document: dict[str, Any], tmp_path: Path) -> None:
    assert (_gate(document), _build(document, tmp_path), _config(document), _schema(document)) == (False,) * 4


@pytest.mark.parametrize("document", BEYOND_THE_SCHEMA, ids=[json.dumps(d)[:60] for d in BEYOND_THE_SCHEMA])
def test_every_validator_refuses_what_the_schema_cannot_say(document: dict[str, Any], tmp_path: Path) -> None:
    assert (_gate(document), _build(document, tmp_path), _config(document), _schema(document)) == (
        False, False, False, True,
    )  # fmt: skip


def test_the_schema_states_the_built_in_direction_table() -> None:
    table = SCHEMA["$defs"]["known_directions"]["properties"]
    assert {name: rule["properties"]["higher_is_better"]["const"] for name, rule in table.items()} == dict(KNOWN_DIRECTIONS)


def test_a_config_error_names_the_key_path() -> None:
    with pytest.raises(ConfigError, match=r"ml-cicd\.platform_floors\.evaluation\.min_confidence: 1\.5 must be within"):
        load_config({"ml-cicd": {"platform_floors": {"version": 1, "evaluation": {"min_confidence": 1.5}}}})
