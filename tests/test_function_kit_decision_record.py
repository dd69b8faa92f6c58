"""function_kit.decision_record: the verdict follows from the rules, and both renderings say so."""

from __future__ import annotations

import json

from function_kit.decision_record import (
    OUTCOME_FAILED,
    OUTCOME_INCONCLUSIVE,
    OUTCOME_PASSED,
    OUTCOME_SKIPPED,
    RuleResult,
    build_record,
    format_number,
)


def rule(
    outcome: str,
    rule_id: str = "metrics.roc_auc.min",
    reason: str = "roc_auc = 0.991 >= min 0.95",
) -> RuleResult:
    return RuleResult(
        rule_id=rule_id,
        metric="roc_auc",
        value=0.991,
        bound=0.95,
        operator=">=",
        outcome=outcome,
        reason=reason,
        bound_source="repository",
    )


def test_passes_only_when_every_evaluated_rule_held() -> None:
    assert build_record(gate="Evaluation gate", rules=[rule(OUTCOME_PASSED), rule(OUTCOME_SKIPPED)]).passed
    assert not build_record(gate="Evaluation gate", rules=[rule(OUTCOME_PASSED), rule(OUTCOME_FAILED)]).passed


def test_an_input_error_fails_even_if_rules_held() -> None:
    record = build_record(gate="g", rules=[rule(OUTCOME_PASSED)], errors=["evaluation.json is missing"])
    assert not record.passed
    assert record.verdict_line() == "g FAILED: evaluation.json is missing"


def test_inconclusive_is_its_own_verdict_only_when_nothing_failed_outright() -> None:
    unresolved = rule(OUTCOME_INCONCLUSIVE, reason="roc_auc: inconclusive at this holdout size (171 rows)")
    record = build_record(gate="g", rules=[rule(OUTCOME_PASSED), unresolved])
    assert (record.passed, record.decision) == (False, "inconclusive")
    assert record.verdict_line() == (
        "g INCONCLUSIVE (blocked: the holdout cannot resolve a rule): roc_auc: inconclusive at this holdout size (171 rows)"
    )
    assert json.loads(record.to_json())["decision"] == "inconclusive"
    assert record.to_markdown().startswith("# g: ❔ INCONCLUSIVE")
    # A rule that failed outright, or an input error, makes the verdict failed.
    assert build_record(gate="g", rules=[unresolved, rule(OUTCOME_FAILED)]).decision == "failed"
    assert build_record(gate="g", rules=[unresolved], errors=["evaluation.json is missing"]).decision == "failed"


def test_nothing_evaluated_fails_closed() -> None:
    record = build_record(gate="g", rules=[rule(OUTCOME_SKIPPED)])
    assert not record.passed
    assert "no rule was evaluated" in record.errors[0]


def test_verdict_line_names_the_first_failing_rules() -> None:
    failing = [rule(OUTCOME_FAILED, f"metrics.m{i}.min", f"m{i} = 0.1 < min 0.5") for i in range(5)]
    line = build_record(gate="g", rules=failing).verdict_line(max_causes=2)
    assert line == "g FAILED: m0 = 0.1 < min 0.5; m1 = 0.1 < min 0.5; and 3 more"


def test_json_rendering_holds_every_rule_and_the_policy() -> None:
    record = build_record(
        gate="g",
        rules=[rule(OUTCOME_PASSED)],
        notes=["no champion"],
        policy={"version": 1},
        inputs={"evaluation": "s3://b/k"},
        job_id="j",
        started_at="t0",
        decided_at="t1",
    )
    data = json.loads(record.to_json())
    assert data["decision"] == "passed"
    assert data["rules"][0] == {
        "rule_id": "metrics.roc_auc.min",
        "metric": "roc_auc",
        "value": 0.991,
        "bound": 0.95,
        "operator": ">=",
        "outcome": "passed",
        "passed": True,
        "reason": "roc_auc = 0.991 >= min 0.95",
        "bound_source": "repository",
    }
    assert data["notes"] == ["no champion"] and data["policy"] == {"version": 1}


def test_json_rendering_survives_non_finite_values() -> None:
    bad = RuleResult("metrics.x.min", "x", float("nan"), 1.0, ">=", OUTCOME_FAILED, "x is NaN")
    assert json.loads(build_record(gate="g", rules=[bad]).to_json())["rules"][0]["value"] == "nan"


def test_markdown_puts_the_verdict_first_and_marks_each_rule() -> None:
    record = build_record(
        gate="Evaluation gate",
        rules=[
            rule(OUTCOME_PASSED),
            rule(OUTCOME_FAILED, "metrics.log_loss.max", "log_loss | 0.3 > max 0.25"),
        ],
        notes=["champion rules skipped"],
    )
    text = record.to_markdown()
    lines = text.splitlines()
    assert lines[0] == "# Evaluation gate: ❌ FAILED"
    assert lines[2].startswith("**Evaluation gate FAILED: log_loss \\| 0.3 > max 0.25")
    assert "| ✅ | `metrics.roc_auc.min` | 0.991 | >= 0.95 | repository |" in text
    assert "| ❌ | `metrics.log_loss.max` |" in text
    assert "- champion rules skipped" in text


def test_numbers_are_shown_exactly() -> None:
    assert format_number(0.1 + 0.2) == "0.30000000000000004"
    assert format_number(3) == "3"
    assert format_number(None) == "—"
