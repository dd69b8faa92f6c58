"""evaluation_gate.evaluation_decision: every case of contract §2 and §3, on the pure module."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation_gate.evaluation_decision import NOT_READ, EvaluationInputs, decide
from evaluation_gate_fixtures import (
    CONTRACT_EVALUATION,
    CONTRACT_POLICY,
    evaluation,
    policy,
)
from function_kit.decision_record import DecisionRecord


def run(
    report: Any = CONTRACT_EVALUATION,
    repository_policy: Any = CONTRACT_POLICY,
    floors: dict[str, Any] | str | None = None,
    errors: tuple[str, ...] = (),
) -> DecisionRecord:
    raw_floors = json.dumps(floors) if isinstance(floors, dict) else floors
    return decide(EvaluationInputs(report, repository_policy, raw_floors, errors), job_id="job")


def outcome(record: DecisionRecord, rule_id: str) -> str:
    (rule,) = [rule for rule in record.rules if rule.rule_id == rule_id]
    return rule.outcome


def test_the_contract_example_passes() -> None:
    record = run()
    assert record.passed, record.verdict_line()
    assert [rule.rule_id for rule in record.rules] == [
        "metrics.log_loss.max",
        "metrics.roc_auc.min",
        "champion.roc_auc.max_regression",
    ]
    (champion_rule,) = [r for r in record.rules if r.rule_id.startswith("champion")]
    assert champion_rule.value == -0.004 and champion_rule.bound == -0.005
    assert "improvement_low = -0.004 (delta ci_low -0.004, higher is better) >= -0.005" in champion_rule.reason


@pytest.mark.parametrize(
    ("edits", "rule_id", "expected"),
    [
        ({"metrics.roc_auc.min": 0.991}, "metrics.roc_auc.min", "passed"),  # inclusive
        ({"metrics.roc_auc.min": 0.9910001}, "metrics.roc_auc.min", "failed"),
        (
            {"metrics.log_loss.max": 0.081},
            "metrics.log_loss.max",
            "passed",
        ),  # inclusive
        ({"metrics.log_loss.max": 0.0809}, "metrics.log_loss.max", "failed"),
        ({"metrics.roc_auc.max": 0.99}, "metrics.roc_auc.max", "failed"),
        (
            {"champion.roc_auc.max_regression": 0.004},
            "champion.roc_auc.max_regression",
            "passed",
        ),  # inclusive
        (
            {"champion.roc_auc.max_regression": 0.0039},
            "champion.roc_auc.max_regression",
            "inconclusive",  # the margin lies inside the interval,
        ),
        (
            {"champion.roc_auc": {"min_improvement": 0.001}},
            "champion.roc_auc.min_improvement",
            "inconclusive",  # the margin lies inside the interval,
        ),
        # lower is better: improvement_low = -delta.ci_high = -0.001
        (
            {"champion.log_loss": {"max_regression": 0.001}},
            "champion.log_loss.max_regression",
            "passed",
        ),
        (
            {"champion.log_loss": {"max_regression": 0.0009}},
            "champion.log_loss.max_regression",
            "inconclusive",  # the margin lies inside the interval,
        ),
        (
            {"champion.log_loss": {"max_regression": 0}},
            "champion.log_loss.max_regression",
            "inconclusive",  # the margin lies inside the interval,
        ),
    ],
)
def test_bounds_are_inclusive_and_directional(edits: dict, rule_id: str, expected: str) -> None:
    record = run(repository_policy=policy(**edits))
    assert outcome(record, rule_id) == expected
    assert record.passed is (expected == "passed")


def test_min_improvement_passes_when_the_lower_end_clears_it() -> None:
    report = evaluation(
        **{
            "champion.comparison.deltas.roc_auc": {
                "value": 0.01,
                "ci_low": 0.003,
                "ci_high": 0.02,
            },
            "champion.metrics.roc_auc.value": 0.981,
        }
    )
    assert run(report, policy(**{"champion.roc_auc": {"min_improvement": 0.003}})).passed
    assert not run(report, policy(**{"champion.roc_auc": {"min_improvement": 0.0031}})).passed


def test_lower_is_better_min_improvement_uses_minus_ci_high() -> None:
    report = evaluation(
        **{
            "champion.comparison.deltas.log_loss": {
                "value": -0.02,
                "ci_low": -0.03,
                "ci_high": -0.01,
            },
            "champion.metrics.log_loss.value": 0.101,
        }
    )
    record = run(report, policy(champion={"log_loss": {"min_improvement": 0.01}}))
    assert record.passed
    assert record.rules[-1].value == 0.01


def test_failure_reason_names_metric_value_bound_and_source() -> None:
    record = run(
        evaluation(
            **{
                "metrics.roc_auc.value": 0.93,
                "metrics.roc_auc.ci_low": 0.9,
                "champion.metrics.roc_auc.value": 0.928,
            }
        )
    )
    assert not record.passed
    assert record.verdict_line() == "Evaluation gate FAILED: roc_auc = 0.93 < min 0.95 (repository)"


def test_no_champion_skips_champion_rules_with_a_note() -> None:
    record = run(evaluation(champion=None))
    assert record.passed
    assert outcome(record, "champion.roc_auc.max_regression") == "skipped"
    assert any("no champion (first release): champion rules skipped" in note for note in record.notes)


def test_only_champion_rules_and_no_champion_fails_closed() -> None:
    record = run(
        evaluation(champion=None),
        {"version": 1, "champion": {"roc_auc": {"max_regression": 0.01}}},
    )
    assert not record.passed
    assert "no rule was evaluated" in record.errors[0]


@pytest.mark.parametrize(
    ("report", "cause"),
    [
        (
            evaluation(**{"metrics.roc_auc": ...}),
            "metrics.roc_auc.min: metric roc_auc is absent from evaluation.json metrics",
        ),
        (
            evaluation(**{"metrics.roc_auc.value": "0.99"}),
            "metrics.roc_auc.value: '0.99' is not a finite number",
        ),
        (
            evaluation(**{"metrics.roc_auc.value": None}),
            "metrics.roc_auc.value: None is not a finite number",
        ),
        (
            evaluation(**{"metrics.roc_auc.value": True}),
            "metrics.roc_auc.value: True is not a finite number",
        ),
        (
            evaluation(**{"metrics.roc_auc.value": float("nan")}),
            "metrics.roc_auc.value: nan is not a finite number",
        ),
        (
            evaluation(**{"metrics.log_loss.value": float("inf")}),
            "metrics.log_loss.value: inf is not a finite number",
        ),
        (
            evaluation(**{"metrics.roc_auc.value": ...}),
            "metrics.roc_auc.value: missing",
        ),
        (
            evaluation(**{"metrics.roc_auc.ci_low": 0.995}),
            "metrics.roc_auc: ci_low <= value <= ci_high does not hold (0.995 <= 0.991 <= 0.997)",
        ),
        (
            evaluation(**{"metrics.roc_auc.ci_high": ...}),
            "metrics.roc_auc: ci_low and ci_high must be given together",
        ),
        (
            evaluation(**{"metrics.roc_auc.higher_is_better": "yes"}),
            "metrics.roc_auc.higher_is_better: 'yes' is not true or false",
        ),
        (
            evaluation(schema_version=2),
            "evaluation.json: schema_version: 2 is not a supported version (supported: 1)",
        ),
        (
            evaluation(schema_version="1"),
            "schema_version: '1' is not a supported version",
        ),
        (evaluation(schema_version=...), "schema_version: missing"),
        (evaluation(problem_type="ranking"), "problem_type: 'ranking' is not one of"),
        (evaluation(metrics={}), "metrics: expected a non-empty object of metrics"),
        (
            evaluation(champion=...),
            "champion: missing (use null when there is no production model)",
        ),
        (evaluation(champion=[]), "champion: expected an object or null, got list"),
        (
            evaluation(**{"champion.comparison.deltas.roc_auc": ...}),
            "champion.roc_auc.max_regression: champion.comparison.deltas.roc_auc is missing while a champion exists",
        ),
        (
            evaluation(**{"champion.comparison": ...}),
            "champion.comparison: missing or not an object while a champion exists",
        ),
        (
            evaluation(**{"champion.comparison.deltas.roc_auc.ci_low": "low"}),
            "champion.comparison.deltas.roc_auc.ci_low: 'low' is not a finite number",
        ),
        (
            evaluation(**{"champion.comparison.deltas.roc_auc.ci_high": 0.001}),
            "champion.comparison.deltas.roc_auc: ci_low <= value <= ci_high does not hold",
        ),
        (
            evaluation(**{"champion.metrics.roc_auc.higher_is_better": False}),
            "champion.metrics.roc_auc.higher_is_better is False, but metrics.roc_auc.higher_is_better is True",
        ),
        (
            evaluation(**{"champion.metrics.roc_auc": ...}),
            "metric roc_auc is absent from evaluation.json champion.metrics",
        ),
        (
            evaluation(**{"champion.comparison.method": "bootstrap"}),
            "champion.comparison.method: 'bootstrap' is not 'paired_bootstrap'",
        ),
        (
            evaluation(**{"champion.comparison.confidence": 95}),
            "champion.comparison.confidence: 95 is not a number in (0, 1)",
        ),
        ([], "evaluation.json: expected a JSON object at the top level, got list"),
        (
            None,
            "evaluation.json: expected a JSON object at the top level, got NoneType",
        ),
    ],
)
def test_bad_reports_fail_closed_naming_the_cause(report: Any, cause: str) -> None:
    record = run(report)
    assert not record.passed
    causes = [*record.errors, *(rule.reason for rule in record.failed_rules)]
    assert any(cause in text for text in causes), causes


@pytest.mark.parametrize(
    ("repository_policy", "cause"),
    [
        (
            policy(version=2),
            "release-policy.json: version: 2 is not a supported policy version",
        ),
        (
            policy(**{"metrics.roc_auc.mni": 1}),
            "release-policy.json: metrics.roc_auc.mni: unknown key",
        ),
        (
            policy(**{"metrics.roc_auc.min": float("nan")}),
            "metrics.roc_auc.min: nan is not a finite number",
        ),
        (
            "version: 1",
            "release-policy.json: expected a mapping at the top level, got str",
        ),
    ],
)
def test_bad_policies_fail_closed(repository_policy: Any, cause: str) -> None:
    record = run(repository_policy=repository_policy)
    assert not record.passed and record.rules == ()
    assert any(cause in error for error in record.errors), record.errors


def test_unread_inputs_fail_with_the_reading_error() -> None:
    record = run(
        NOT_READ,
        NOT_READ,
        errors=("evaluation.json is missing from the root of the input artifact(s): X",),
    )
    assert not record.passed
    assert record.errors == ("evaluation.json is missing from the root of the input artifact(s): X",)


def test_platform_floors_tighten_and_are_credited() -> None:
    record = run(
        floors={
            "version": 1,
            "metrics": {"roc_auc": {"min": 0.995}, "recall": {"min": 0.5}},
        }
    )
    assert not record.passed
    assert "roc_auc = 0.991 < min 0.995 (platform floor)" in record.verdict_line()
    assert "metrics.recall.min: metric recall is absent from evaluation.json metrics" in record.verdict_line()
    assert record.policy is not None
    assert record.policy["metrics"]["roc_auc"] == {"min": {"value": 0.995, "source": "platform floor"}}
    assert record.policy["metrics"]["log_loss"] == {"max": {"value": 0.25, "source": "repository"}}


def test_a_looser_repository_bound_does_not_override_the_floor() -> None:
    floors = {"version": 1, "champion": {"roc_auc": {"max_regression": 0.001}}}
    record = run(
        repository_policy=policy(**{"champion.roc_auc.max_regression": 0.5}),
        floors=floors,
    )
    assert outcome(record, "champion.roc_auc.max_regression") == "inconclusive"


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        (
            "{not json",
            "PLATFORM_FLOORS: not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)",
        ),
        (
            '{"version": 2}',
            "PLATFORM_FLOORS: version: 2 is not a supported policy version",
        ),
        (
            '{"version": 1, "metrics": {"roc_auc": {"minimum": 1}}}',
            "PLATFORM_FLOORS: metrics.roc_auc.minimum: unknown key",
        ),
    ],
)
def test_malformed_platform_floors_fail_closed(raw: str, cause: str) -> None:
    record = run(floors=raw)
    assert not record.passed
    assert any(error.startswith(cause) for error in record.errors), record.errors


def test_blank_floors_mean_none_and_say_so() -> None:
    record = run(floors="  ")
    assert record.passed
    assert "no platform floors configured: the repository policy alone applies" in record.notes


def test_contradictory_merged_bounds_fail_with_a_note() -> None:
    record = run(floors={"version": 1, "metrics": {"roc_auc": {"max": 0.9}}})
    assert not record.passed
    assert any("no value can pass" in note for note in record.notes)


def test_record_carries_inputs_and_champion_note() -> None:
    record = run()
    assert record.inputs["problem_type"] == "binary_classification"
    assert record.inputs["champion_model_package_arn"].endswith("model-package/example/3")
    assert any("paired_bootstrap (2000 resamples) at confidence 0.95" in note for note in record.notes)
    assert json.loads(record.to_json())["decision"] == "passed"


# Property-based: tightening never turns a fail into a pass; merged floors are never looser.

unit = st.floats(min_value=0, max_value=1, allow_nan=False)
small = st.floats(min_value=0, max_value=0.2, allow_nan=False)
positive = st.floats(min_value=1e-6, max_value=0.2, allow_nan=False)


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    value, spread = draw(unit), draw(small)
    delta_low, delta_width = draw(st.floats(-0.2, 0.2)), draw(small)
    return evaluation(
        **{
            "metrics.roc_auc": {
                "value": value,
                "higher_is_better": True,
                "ci_low": value - spread,
                "ci_high": value + spread,
            },
            "metrics.log_loss.value": draw(unit),
            "champion.comparison.deltas.roc_auc": {
                "value": delta_low + delta_width / 2,
                "ci_low": delta_low,
                "ci_high": delta_low + delta_width,
            },
            "champion.comparison.deltas.log_loss": {
                "value": -delta_low,
                "ci_low": -delta_low - delta_width,
                "ci_high": -delta_low,
            },
        }
    )


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    champion_rule = draw(st.sampled_from(["max_regression", "min_improvement"]))
    return {
        "version": 1,
        "metrics": {"roc_auc": {"min": draw(unit)}, "log_loss": {"max": draw(unit)}},
        "champion": {
            "roc_auc": {champion_rule: draw(positive)},
            "log_loss": {"max_regression": draw(small)},
        },
    }


TIGHTENINGS = {
    "metrics.roc_auc.min": +1,
    "metrics.log_loss.max": -1,
    "champion.log_loss.max_regression": -1,
}


@settings(max_examples=150, deadline=None)
@given(reports(), policies(), st.sampled_from(sorted(TIGHTENINGS)), st.floats(0, 0.3))
def test_tightening_a_bound_never_turns_a_fail_into_a_pass(report, base_policy, path, amount) -> None:
    section, name, key = path.split(".")
    tightened = json.loads(json.dumps(base_policy))
    new_value = tightened[section][name][key] + TIGHTENINGS[path] * amount
    if key == "max_regression":
        new_value = max(new_value, 0.0)
    tightened[section][name][key] = new_value
    if not run(report, base_policy).passed:
        assert not run(report, tightened).passed


@settings(max_examples=150, deadline=None)
@given(reports(), policies(), policies())
def test_passing_with_floors_implies_passing_each_side_alone(report, repository_policy, floors) -> None:
    merged = run(report, repository_policy, floors=floors)
    if merged.passed:
        assert run(report, repository_policy).passed
        assert run(report, floors).passed
