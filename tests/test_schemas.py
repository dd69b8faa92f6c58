"""schemas/: the contract examples validate, broken variants do not, and the schemas agree with the gate.

The schemas are what the Build and Train stages check; the gate re-checks what
its decision depends on. Every document the gate refuses must be refused by
the schema too, so a file that passed CI cannot surprise the gate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from contracts.evaluation_report import read_evaluation_report
from contracts.release_policy import PolicyError, parse_release_policy
from evaluation_gate_fixtures import (
    CONTRACT_EVALUATION,
    CONTRACT_POLICY,
    evaluation,
    policy,
)

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

CONTRACT_POLICY_YAML = """\
version: 1
metrics:                # absolute bounds on the challenger's holdout metrics
  roc_auc:  {min: 0.95}
  log_loss: {max: 0.25}
champion:               # judged against the production model, same holdout
  roc_auc:  {max_regression: 0.005}
staging:                # judged on the live staging endpoint
  max_p95_latency_ms: 200
  max_error_rate: 0.0
"""


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


EVALUATION = validator("evaluation.v1.schema.json")
POLICY = validator("release-policy.v1.schema.json")


def errors(schema: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in schema.iter_errors(document)]


def test_the_contract_evaluation_example_validates() -> None:
    assert errors(EVALUATION, CONTRACT_EVALUATION) == []
    assert errors(EVALUATION, evaluation(champion=None)) == []


def test_the_contract_policy_example_validates_from_yaml() -> None:
    document = yaml.safe_load(CONTRACT_POLICY_YAML)
    assert document == CONTRACT_POLICY
    assert errors(POLICY, document) == []


BROKEN_EVALUATIONS = {
    "schema_version 2": evaluation(schema_version=2),
    "schema_version string": evaluation(schema_version="1"),
    "schema_version true": evaluation(schema_version=True),
    "no schema_version": evaluation(schema_version=...),
    "unknown problem_type": evaluation(problem_type="ranking"),
    "value is a string": evaluation(**{"metrics.roc_auc.value": "0.99"}),
    "value is null": evaluation(**{"metrics.roc_auc.value": None}),
    "value is a bool": evaluation(**{"metrics.roc_auc.value": True}),
    "value is infinite": evaluation(**{"metrics.roc_auc.value": float("inf")}),
    "no value": evaluation(**{"metrics.roc_auc.value": ...}),
    "ci_high without ci_low": evaluation(**{"metrics.roc_auc.ci_low": ...}),
    "no direction": evaluation(**{"metrics.roc_auc.higher_is_better": ...}),
    "empty metrics": evaluation(metrics={}),
    "no champion key": evaluation(champion=...),
    "champion is a list": evaluation(champion=[]),
    "champion without comparison": evaluation(**{"champion.comparison": ...}),
    "delta without ci": evaluation(**{"champion.comparison.deltas.roc_auc.ci_low": ...}),
    "unknown method": evaluation(**{"champion.comparison.method": "bootstrap"}),
    "confidence as percent": evaluation(**{"champion.comparison.confidence": 95}),
    "top-level list": [],
}


@pytest.mark.parametrize("case", sorted(BROKEN_EVALUATIONS))
def test_broken_evaluations_are_refused_by_schema_and_gate(case: str) -> None:
    document = BROKEN_EVALUATIONS[case]
    assert errors(EVALUATION, document), f"schema accepted: {case}"
    report = read_evaluation_report(document)
    gate_refuses = bool(report.errors) or not report.judgeable
    assert gate_refuses, f"gate accepted: {case}"


@pytest.mark.parametrize(
    ("document", "only_the_gate_sees_it"),
    [
        (
            evaluation(**{"metrics.roc_auc.ci_low": 0.995}),
            "ci_low <= value <= ci_high does not hold",
        ),
        (
            evaluation(**{"champion.metrics.roc_auc.higher_is_better": False}),
            "the direction is ambiguous",
        ),
    ],
)
def test_what_json_schema_cannot_express_the_gate_checks(document: Any, only_the_gate_sees_it: str) -> None:
    assert errors(EVALUATION, document) == []
    assert any(only_the_gate_sees_it in error for error in read_evaluation_report(document).errors)


def test_the_schema_is_stricter_than_the_gate_on_provenance() -> None:
    # `model` and `dataset` are the Train stage's to check (against its own run); the gate reads them for the record.
    document = evaluation(**{"dataset.rows": 0, "model": {}})
    assert len(errors(EVALUATION, document)) == 3
    assert read_evaluation_report(document).errors == ()


def test_an_unknown_key_is_refused_by_the_schema_and_the_gate_alike() -> None:
    document = evaluation(**{"extra": 1})
    assert len(errors(EVALUATION, document)) == 1
    assert read_evaluation_report(document).errors == (
        "evaluation.json: extra: unknown key (allowed: schema_version, problem_type, model, dataset, metrics, intervals, champion)",
    )


BROKEN_POLICIES = {
    "version 2": (policy(version=2), "$.version"),
    "no version": (policy(version=...), "$"),
    "typo in a bound": (policy(**{"metrics.roc_auc.mni": 0.9}), "$.metrics.roc_auc"),
    "bound is a string": (
        policy(**{"metrics.roc_auc.min": "0.95"}),
        "$.metrics.roc_auc.min",
    ),
    "empty rule": (policy(**{"metrics.roc_auc": {}}), "$.metrics.roc_auc"),
    "negative max_regression": (
        policy(**{"champion.roc_auc.max_regression": -0.1}),
        "$.champion.roc_auc.max_regression",
    ),
    "zero min_improvement": (
        policy(**{"champion.roc_auc": {"min_improvement": 0}}),
        "$.champion.roc_auc.min_improvement",
    ),
    "champion min": (
        policy(**{"champion.roc_auc": {"min": 0.9}}),
        "$.champion.roc_auc",
    ),
    "error rate above 1": (
        policy(**{"staging.max_error_rate": 2}),
        "$.staging.max_error_rate",
    ),
    "zero latency": (
        policy(**{"staging.max_p95_latency_ms": 0}),
        "$.staging.max_p95_latency_ms",
    ),
    "unknown section": (policy(gates={}), "$"),
    "bad metric name": (policy(**{"metrics.roc auc": {"min": 1}}), "$.metrics"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_POLICIES))
def test_broken_policies_are_refused_by_schema_and_gate_at_the_same_path(
    case: str,
) -> None:
    document, path = BROKEN_POLICIES[case]
    found = errors(POLICY, document)
    assert found, f"schema accepted: {case}"
    assert any(error.startswith(f"{path}: ") for error in found), found
    with pytest.raises(PolicyError):
        parse_release_policy(document)


def test_min_above_max_is_only_caught_by_the_gate() -> None:
    document = policy(**{"metrics.roc_auc.max": 0.5})
    assert errors(POLICY, document) == []
    with pytest.raises(PolicyError, match="min 0.95 is above max 0.5"):
        parse_release_policy(document)


def test_null_sections_are_accepted_by_both() -> None:
    document = {
        "version": 1,
        "metrics": {"roc_auc": {"min": 0.9}},
        "champion": None,
        "staging": None,
    }
    assert errors(POLICY, document) == []
    parse_release_policy(document)
