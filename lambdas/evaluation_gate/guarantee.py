"""What a bootstrap interval can resolve, and the rigour rules (contract §2 `evaluation`). Pure.

- `resolution`: when a rule judged on an interval fails but its threshold lies
  inside the interval, the holdout cannot tell; this says by how much the true
  value must clear the threshold to pass 80 % of the time (the minimum
  detectable difference, MDD) and how many holdout rows would resolve the
  observed difference (widths scale as 1/sqrt(n)).
- `rigour_rules`: the report's holdout rows, interval confidence and
  resamples, and the holdout's reuse count, against the policy's
  `evaluation` floors.
- `guarantee_note`: the exact statement of what a pass means, for the record.

The simulation figures quoted here come from `bench/bench_gate_simulation.py`
and are repeated in docs/evaluation-gate.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from contracts.evaluation_report import EvaluationReport
from contracts.release_policy import Bound, MergedPolicy
from function_kit.decision_record import (
    OUTCOME_FAILED,
    OUTCOME_PASSED,
    OUTCOME_SKIPPED,
    RuleResult,
    format_number,
)

__all__ = [
    "DELTA_TOLERANCE",
    "MEASURED_UNDER_COVERAGE",
    "POWER",
    "Resolution",
    "guarantee_note",
    "holdout_reuse_count",
    "resolution",
    "rigour_rules",
]

POWER = 0.8
"""The pass probability the minimum detectable difference is stated for."""

DELTA_TOLERANCE = 1e-5
"""|delta - (challenger - champion)| allowed before the report contradicts itself.

`evaluate.py` rounds every number to 6 decimals, so an honest delta is off by
at most 1e-6; 1e-5 leaves room for other writers' rounding and is far below
any margin worth gating on.
"""


MEASURED_UNDER_COVERAGE = (
    "measured false-accept rate of a challenger truly worse by exactly the margin (bench/bench_gate_simulation.py, "
    "1,500 simulated holdouts per cell, 95 % Wilson intervals): 6.4 % [5.3, 7.8] at 171 rows and 4.0 % [3.1, 5.1] "
    "at 684 rows for roc_auc max_regression 0.01 at AUC 0.99, 7.3 % [6.1, 8.8] for roc_auc max_regression 0.02 "
    "at 171 rows, against the nominal 2.5 %"
)
"""The study's figures, for the record's `guarantee:` note (docs/evaluation-gate.md quotes the same cells)."""


class Resolution(NamedTuple):
    """What the holdout can resolve for one interval-judged rule."""

    minimum_detectable: float
    """True margin above the threshold needed to pass with probability `POWER`."""
    rows_needed: int | None
    """Holdout rows at which the observed margin would be that MDD; None when it is <= 0."""

    def text(self, rows: int) -> str:
        """The record's wording."""
        mdd = format_number(round(self.minimum_detectable, 6))
        needed = (
            f"about {self.rows_needed} rows would resolve the observed difference"
            if self.rows_needed is not None
            else "the point estimate itself is on the wrong side: more rows would not make it pass"
        )
        return (
            f"inconclusive at this holdout size ({rows} rows): the margin lies inside the interval; "
            f"minimum detectable difference {mdd} (the true value must clear the bound by this much "
            f"to pass {POWER:.0%} of the time); {needed}"
        )


def resolution(
    *, low: float, high: float, point: float, threshold: float, confidence: float | None, rows: int | None
) -> Resolution | None:
    """The MDD and rows needed for a rule `pessimistic end >= threshold` (oriented so larger is better).

    `low`/`high` are the interval's ends in that orientation. None when the
    interval is degenerate or the holdout size or confidence is unknown.
    """
    if confidence is None or rows is None or not high > low:
        return None
    from statistics import NormalDist  # only for an inconclusive rule: keeps the gate's cold start short

    z_interval = NormalDist().inv_cdf((1 + confidence) / 2)
    standard_error = (high - low) / 2 / z_interval
    mdd = standard_error * (z_interval + NormalDist().inv_cdf(POWER))
    gap = point - threshold
    needed = math.ceil(rows * (mdd / gap) ** 2) if gap > 0 else None
    return Resolution(mdd, needed)


def _skipped(rule_id: str, bound: Bound, operator: str, reason: str) -> RuleResult:
    return RuleResult(rule_id, None, None, bound.value, operator, OUTCOME_SKIPPED, reason, bound.source)


def _compare(rule_id: str, value: Any, bound: Bound, operator: str, what: str, missing: str) -> RuleResult:
    if value is None:
        return RuleResult(rule_id, None, None, bound.value, operator, OUTCOME_FAILED, f"{rule_id}: {missing}", bound.source)
    held = value >= bound.value if operator == ">=" else value <= bound.value
    relation = operator if held else ("<" if operator == ">=" else ">")
    reason = f"{what} = {format_number(value)} {relation} {rule_id} {format_number(bound.value)} ({bound.source})"
    return RuleResult(
        rule_id, None, value, bound.value, operator, OUTCOME_PASSED if held else OUTCOME_FAILED, reason, bound.source
    )


def _interval_settings(report: EvaluationReport, sources: set[str]) -> dict[str, list[Any]]:
    """Confidence and resamples of every interval a rule read (None where the report is silent)."""
    found: dict[str, list[Any]] = {"confidence": [], "resamples": []}
    if "champion" in sources and report.champion is not None:
        found["confidence"].append(report.champion.confidence)
        found["resamples"].append(report.champion.resamples)
    if "metrics" in sources:
        intervals = report.intervals or {}
        found["confidence"].append(intervals.get("confidence"))
        found["resamples"].append(intervals.get("resamples"))
    return found


def rigour_rules(
    report: EvaluationReport, policy: MergedPolicy, *, interval_sources: set[str], holdout_reuse: int | None
) -> list[RuleResult]:
    """The `evaluation` floors judged on the report (and the holdout's reuse count)."""
    rules: list[RuleResult] = []
    settings = _interval_settings(report, interval_sources)
    for key, bound in policy.evaluation.items():
        rule_id = f"evaluation.{key}"
        if key == "min_holdout_rows":
            rules.append(
                _compare(
                    rule_id, report.rows, bound, ">=", "holdout rows", "evaluation.json dataset.rows is missing or not a count"
                )
            )
        elif key == "max_holdout_reuse":
            rules.append(
                _compare(
                    rule_id,
                    holdout_reuse,
                    bound,
                    "<=",
                    "earlier candidates on this holdout",
                    "the Train stage did not say how often this holdout was used (release.json holdout_reuse)",
                )
            )
        else:
            what = key.removeprefix("min_")
            values = settings[what]
            if not values:
                rules.append(_skipped(rule_id, bound, ">=", f"{rule_id}: skipped, no rule reads an interval"))
            elif any(value is None for value in values):
                rules.append(
                    _compare(
                        rule_id,
                        None,
                        bound,
                        ">=",
                        what,
                        f"evaluation.json does not state the {what} of an interval a rule reads "
                        "(intervals or champion.comparison)",
                    )
                )
            else:
                rules.append(_compare(rule_id, min(values), bound, ">=", f"interval {what}", ""))
    return rules


def guarantee_note(confidence: Any, rows: int | None, holdout_reuse: int | None) -> str:
    """What a pass means, exactly (the record's note; docs/evaluation-gate.md explains it)."""
    level = (
        f"{format_number(round((1 - confidence) / 2, 6))} one-sided nominal level per rule"
        if isinstance(confidence, (int, float)) and 0 < confidence < 1
        else "an unstated level"
    )
    reuse = (
        f"this holdout judged {holdout_reuse} earlier candidate(s): each try is another chance for a worse model "
        "to pass (up to 1 - (1 - a)^k over k tries at level a)"
        if holdout_reuse is not None
        else "how often this holdout was used before is unknown"
    )
    return (
        f"guarantee: each interval rule reads one end of a two-sided percentile-bootstrap interval, a {level}; "
        f"at small holdouts ({rows if rows is not None else 'unknown'} rows here) the percentile bootstrap "
        f"under-covers: {MEASURED_UNDER_COVERAGE} (docs/evaluation-gate.md); "
        f"a model passes only if every rule passes; {reuse}"
    )


def holdout_reuse_count(release: Any, holdout_sha256: Any) -> tuple[int | None, str | None]:
    """`release.json` `holdout_reuse.earlier_candidates` for this holdout, or why it is unusable."""
    if not isinstance(release, Mapping) or "holdout_reuse" not in release:
        return None, None
    reuse = release["holdout_reuse"]
    if not isinstance(reuse, Mapping):
        return None, "release.json holdout_reuse: expected an object"
    count, sha256 = reuse.get("earlier_candidates"), reuse.get("holdout_sha256")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 2**31:
        return None, f"release.json holdout_reuse.earlier_candidates: {str(count)[:40]!r} is not a count"
    if sha256 != holdout_sha256:
        return None, (
            "release.json holdout_reuse.holdout_sha256 does not match evaluation.json dataset.sha256: "
            "the count is for another holdout"
        )
    return count, None
