"""The gate's guarantee (issue 17): rigour floors, direction and deltas from the policy, interval bounds, inconclusive.

Unit cases name each behaviour; the hypothesis properties state the two
promises: tightening a rigour floor never turns a fail into a pass, and a report
that lies about a metric's direction or a delta never passes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.evaluation_report import read_evaluation_report
from contracts.release_policy import ReleasePolicy, merge
from evaluation_gate.evaluation_decision import EvaluationInputs, decide, judge
from evaluation_gate.guarantee import MEASURED_UNDER_COVERAGE
from evaluation_gate_fixtures import CONTRACT_EVALUATION, CONTRACT_POLICY, evaluation, policy
from function_kit.decision_record import DecisionRecord

REUSE = {"holdout_reuse": {"holdout_sha256": CONTRACT_EVALUATION["dataset"]["sha256"], "earlier_candidates": 3}}
INTERVALS = {"method": "percentile_bootstrap", "confidence": 0.95, "resamples": 2000}


def run(
    report: Any = CONTRACT_EVALUATION, repository: Any = CONTRACT_POLICY, floors: dict | None = None, release: Any = None
) -> DecisionRecord:
    return decide(EvaluationInputs(report, repository, json.dumps(floors) if floors else None, (), None, release))


def rule(record: DecisionRecord, rule_id: str):
    (found,) = [r for r in record.rules if r.rule_id == rule_id]
    return found


def floors(**evaluation_floors: Any) -> dict[str, Any]:
    return {"version": 1, "evaluation": evaluation_floors}


def test_rigour_floors_fail_closed_below_them() -> None:
    assert run(floors=floors(min_confidence=0.95, min_resamples=2000, min_holdout_rows=171)).passed
    low = evaluation(**{"champion.comparison.confidence": 0.5})
    record = run(low, floors=floors(min_confidence=0.95))
    assert not record.passed
    assert rule(record, "evaluation.min_confidence").reason == (
        "interval confidence = 0.5 < evaluation.min_confidence 0.95 (platform floor)"
    )
    assert not run(floors=floors(min_resamples=2001)).passed
    assert not run(floors=floors(min_holdout_rows=172)).passed


def test_the_repository_may_tighten_a_rigour_floor_but_not_loosen_it() -> None:
    tighter = policy(evaluation={"min_holdout_rows": 200})
    assert rule(run(repository=tighter, floors=floors(min_holdout_rows=100)), "evaluation.min_holdout_rows").outcome == "failed"
    looser = policy(evaluation={"min_holdout_rows": 10})
    assert rule(run(repository=looser, floors=floors(min_holdout_rows=172)), "evaluation.min_holdout_rows").outcome == "failed"


def test_confidence_floors_skip_when_no_rule_reads_an_interval() -> None:
    first = evaluation(champion=None)
    record = run(first, floors=floors(min_confidence=0.95))
    assert rule(record, "evaluation.min_confidence").outcome == "skipped"
    assert record.passed


def test_a_report_that_declares_log_loss_higher_is_better_fails_closed() -> None:
    lie = evaluation(**{"metrics.log_loss.higher_is_better": True, "champion.metrics.log_loss.higher_is_better": True})
    record = run(lie, policy(champion={"log_loss": {"max_regression": 0.05}}))
    assert not record.passed
    assert "higher is better" in record.verdict_line() or "lower log_loss is better" in record.verdict_line()


def test_a_delta_that_contradicts_the_two_values_fails_closed() -> None:
    lie = evaluation(**{"champion.comparison.deltas.roc_auc": {"value": 0.3, "ci_low": 0.2, "ci_high": 0.4}})
    record = run(lie)
    assert not record.passed
    assert "contradicts metrics - champion.metrics = 0.002" in record.verdict_line()


def test_a_custom_metric_needs_its_direction_in_the_policy() -> None:
    report = evaluation(**{
        "metrics.custom": {"value": 1.0, "higher_is_better": True},
        "champion.metrics.custom": {"value": 1.0, "higher_is_better": True},
        "champion.comparison.deltas.custom": {"value": 0.0, "ci_low": -0.01, "ci_high": 0.01},
    })  # fmt: skip
    unknown = run(report, policy(champion={"custom": {"max_regression": 0.05}}))
    assert "champion.custom.higher_is_better: required" in unknown.verdict_line()
    assert run(report, policy(champion={"custom": {"max_regression": 0.05, "higher_is_better": True}})).passed


def test_a_gated_metric_outside_the_table_needs_its_direction_in_the_policy() -> None:
    # The report says lower is better; nobody else says anything: refused where the policy is read.
    report = evaluation(**{"metrics.custom": {"value": 0.5, "higher_is_better": False}})
    record = run(report, policy(**{"metrics.custom": {"min": 0.4}}))
    assert not record.passed
    assert "release-policy.json: metrics.custom.higher_is_better: required: custom is not in the built-in" in (
        record.verdict_line()
    )
    assert run(report, policy(**{"metrics.custom": {"max": 0.6, "higher_is_better": False}})).passed
    # And the gate itself fails the rule closed on a merged policy that names no direction.
    rules, _ = judge(read_evaluation_report(report), merge(None, ReleasePolicy(metrics={"custom": {"min": 0.4}})))
    found = [r for r in rules if r.rule_id == "metrics.custom.min"][0]
    assert found.outcome == "failed" and "set higher_is_better in release-policy.yaml" in found.reason


def test_an_interval_bound_inside_the_interval_is_inconclusive_whichever_side_the_point_is() -> None:
    # roc_auc 0.991 [0.982, 0.997]: min 0.993 is above the point but inside the interval.
    report = evaluation(intervals=INTERVALS)
    found = rule(run(report, policy(**{"metrics.roc_auc": {"min": 0.993, "on": "interval"}})), "metrics.roc_auc.min")
    assert found.outcome == "inconclusive"
    assert "the point estimate itself is on the wrong side: more rows would not make it pass" in found.reason
    assert "minimum detectable difference 0.010721" in found.reason
    # log_loss 0.081 [0.07, 0.095] (max: the pessimistic end is ci_high): max 0.075 lies inside it.
    lower = evaluation(intervals=INTERVALS, **{"metrics.log_loss": {"value": 0.081, "ci_low": 0.07, "ci_high": 0.095,
                                                                  "higher_is_better": False}})  # fmt: skip
    found = rule(run(lower, policy(**{"metrics.log_loss": {"max": 0.075, "on": "interval"}})), "metrics.log_loss.max")
    assert found.outcome == "inconclusive" and "on the wrong side" in found.reason
    # Beyond the whole interval it is a plain failure.
    found = rule(run(report, policy(**{"metrics.roc_auc": {"min": 0.998, "on": "interval"}})), "metrics.roc_auc.min")
    assert found.outcome == "failed"


def test_a_bound_on_the_interval_reads_the_pessimistic_end() -> None:
    # roc_auc 0.991 [0.982, 0.997]: the point clears 0.985, the low end does not.
    report = evaluation(intervals=INTERVALS)
    assert run(report, policy(**{"metrics.roc_auc": {"min": 0.985}})).passed
    record = run(
        report,
        policy(**{"metrics.roc_auc": {"min": 0.985}}),
        floors={"version": 1, "metrics": {"roc_auc": {"min": 0.5, "on": "interval"}}},
    )
    found = rule(record, "metrics.roc_auc.min")
    assert found.outcome == "inconclusive" and found.value == 0.982
    assert not record.passed


def test_an_interval_bound_without_an_interval_fails_closed() -> None:
    record = run(repository=policy(**{"metrics.log_loss": {"max": 0.25, "on": "interval"}}))
    assert "has no ci_low/ci_high" in record.verdict_line()


def test_inconclusive_names_the_minimum_detectable_difference_and_rows_needed() -> None:
    # improvement interval [-0.004, 0.008], point 0.002, threshold -0.0039
    record = run(repository=policy(**{"champion.roc_auc.max_regression": 0.0039}))
    found = rule(record, "champion.roc_auc.max_regression")
    assert found.outcome == "inconclusive" and not record.passed
    assert "inconclusive at this holdout size (171 rows)" in found.reason
    assert "minimum detectable difference 0.008576" in found.reason
    assert "about 362 rows would resolve the observed difference" in found.reason


def test_a_whole_interval_below_the_threshold_is_a_regression_not_inconclusive() -> None:
    report = evaluation(**{
        "metrics.roc_auc.value": 0.95, "metrics.roc_auc.ci_low": 0.94,
        "champion.comparison.deltas.roc_auc": {"value": -0.039, "ci_low": -0.05, "ci_high": -0.03},
    })  # fmt: skip
    found = rule(run(report, policy(**{"champion.roc_auc.max_regression": 0.01})), "champion.roc_auc.max_regression")
    assert found.outcome == "failed" and "a regression" in found.reason


def test_the_record_states_the_guarantee_and_the_holdout_reuse() -> None:
    record = run(release=REUSE)
    note = [n for n in record.notes if n.startswith("guarantee:")][0]
    assert "0.025 one-sided nominal level per rule" in note
    assert "a model passes only if every rule passes" in note
    assert "this holdout judged 3 earlier candidate(s)" in note
    assert "6.4 % [5.3, 7.8] at 171 rows and 4.0 % [3.1, 5.1] at 684 rows" in note
    assert "7.3 % [6.1, 8.8] for roc_auc max_regression 0.02 at 171 rows, against the nominal 2.5 %" in note


def test_the_docs_quote_the_figures_the_record_states() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "evaluation-gate.md").read_text(encoding="utf-8")
    for figure in re.findall(r"\d+\.\d % \[[\d., ]+\]", MEASURED_UNDER_COVERAGE):
        rate, interval = figure.split(" % ")
        assert f"**{rate} %** {interval}" in docs, figure


def test_holdout_reuse_can_be_capped_and_fails_closed_when_unknown() -> None:
    assert run(release=REUSE, floors=floors(max_holdout_reuse=3)).passed
    assert not run(release=REUSE, floors=floors(max_holdout_reuse=2)).passed
    unknown = run(floors=floors(max_holdout_reuse=100))
    assert "did not say how often this holdout was used" in unknown.verdict_line()
    other = {"holdout_reuse": {"holdout_sha256": "other", "earlier_candidates": 0}}
    assert "the count is for another holdout" in run(release=other).verdict_line()


def test_a_400_digit_integer_fails_closed_naming_its_path() -> None:
    huge = 10**400
    record = run(evaluation(**{"metrics.roc_auc.value": huge}))
    assert not record.passed
    assert "evaluation.json: metrics.roc_auc.value:" in record.verdict_line()
    record = run(evaluation(**{"champion.comparison.resamples": huge}))
    assert "champion.comparison.resamples:" in record.verdict_line()
    record = run(repository=policy(**{"metrics.roc_auc.min": huge}))
    assert "release-policy.json: metrics.roc_auc.min:" in record.verdict_line()


# Properties -----------------------------------------------------------------

RIGOUR = st.fixed_dictionaries({}, optional={
    "min_confidence": st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]),
    "min_resamples": st.integers(1, 5000),
    "min_holdout_rows": st.integers(1, 500),
    "max_holdout_reuse": st.integers(0, 10),
})  # fmt: skip
REPORTS = st.fixed_dictionaries({
    "champion.comparison.confidence": st.sampled_from([0.5, 0.9, 0.95, 0.99]),
    "champion.comparison.resamples": st.integers(1, 5000),
    "dataset.rows": st.integers(1, 500),
})  # fmt: skip


def _tighter(rigour: dict[str, Any], key: str, step: float) -> dict[str, Any]:
    tighter = dict(rigour)
    if key == "max_holdout_reuse":
        tighter[key] = max(0, rigour.get(key, 10) - int(step * 10))
    elif key == "min_confidence":
        tighter[key] = min(0.999, rigour.get(key, 0.5) + step / 2)
    else:
        tighter[key] = rigour.get(key, 1) + int(step * 1000)
    return tighter


@settings(max_examples=150, deadline=None)
@given(RIGOUR, REPORTS, st.sampled_from(["min_confidence", "min_resamples", "min_holdout_rows", "max_holdout_reuse"]),
       st.floats(0, 0.9), st.integers(0, 10))  # fmt: skip
def test_tightening_a_rigour_floor_never_turns_a_fail_into_a_pass(
    rigour: dict[str, Any], edits: dict[str, Any], key: str, step: float, reuse: int
) -> None:
    report = evaluation(**edits)
    release = {"holdout_reuse": {"holdout_sha256": CONTRACT_EVALUATION["dataset"]["sha256"], "earlier_candidates": reuse}}
    before = run(report, floors=floors(**rigour), release=release)
    after = run(report, floors=floors(**_tighter(rigour, key, step)), release=release)
    assert not (after.passed and not before.passed)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["roc_auc", "log_loss"]), st.floats(-0.5, 0.5).filter(lambda d: abs(d) > 1e-4))
def test_a_report_that_lies_about_direction_or_a_delta_never_passes(metric: str, shift: float) -> None:
    generous = policy(champion={"roc_auc": {"max_regression": 1.0}, "log_loss": {"max_regression": 1.0}})
    assert run(repository=generous).passed  # the honest report passes this policy
    direction_lie = evaluation(**{
        f"metrics.{metric}.higher_is_better": metric == "log_loss",
        f"champion.metrics.{metric}.higher_is_better": metric == "log_loss",
    })  # fmt: skip
    assert not run(direction_lie, generous).passed
    delta = CONTRACT_EVALUATION["champion"]["comparison"]["deltas"][metric]
    delta_lie = evaluation(**{f"champion.comparison.deltas.{metric}": {
        "value": delta["value"] + shift, "ci_low": delta["ci_low"] + shift, "ci_high": delta["ci_high"] + shift,
    }})  # fmt: skip
    assert not run(delta_lie, generous).passed
