"""The rehearsal's report.md says which verdict blocked a release: an inconclusive evaluation gate is not a failure."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation_gate.evaluation_decision import EvaluationInputs, decide
from evaluation_gate_fixtures import CONTRACT_EVALUATION, policy
from rehearsal.report import render_report
from rehearsal.runner import GateOutcome, RehearsalOptions, RehearsalResult


def _blocked_by(repository_policy: dict) -> str:
    record = json.loads(decide(EvaluationInputs(CONTRACT_EVALUATION, repository_policy)).to_json())
    result = RehearsalResult(
        options=RehearsalOptions(model_repo=Path("model_repo"), out_dir=Path("out")),
        run_id="r1",
        started_at="2026-11-30T00:00:00Z",
        blocked_by="Evaluation gate",
        reason=record["verdict"],
        gates=[GateOutcome(gate="Evaluation gate", passed=False, message=record["verdict"], record=record, invocations=1)],
    )
    return render_report(result)


def test_an_inconclusive_gate_is_reported_as_inconclusive() -> None:
    # improvement interval [-0.004, 0.008]: the threshold -0.0039 lies inside it.
    report = _blocked_by(policy(**{"champion.roc_auc.max_regression": 0.0039}))
    assert report.startswith("# Release rehearsal r1: ❔ BLOCKED: INCONCLUSIVE at this holdout size")
    assert "### Evaluation gate: ❔ inconclusive at this holdout size (blocked)" in report
    assert "| ❔ | `champion.roc_auc.max_regression` |" in report
    assert "Evaluation gate INCONCLUSIVE (blocked: the holdout cannot resolve a rule)" in report


def test_a_failed_gate_is_reported_as_blocked() -> None:
    report = _blocked_by(policy(**{"metrics.roc_auc.min": 0.999}))
    assert report.startswith("# Release rehearsal r1: ❌ BLOCKED")
    assert "### Evaluation gate: ❌ blocked" in report
