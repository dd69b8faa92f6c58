"""The evaluation gate's decision (contract §2-§3). Pure: no boto3, no environment.

`decide` takes the parsed inputs (or the errors met reading them) and returns
a `DecisionRecord`. Semantics, exactly as the contract states:

- `min` / `max` are inclusive bounds on `metrics.<name>.value`;
- champion rules judge `improvement_low`: `delta.ci_low` for a
  higher-is-better metric, `-delta.ci_high` for a lower-is-better one;
  `max_regression: x` passes iff `improvement_low >= -x`,
  `min_improvement: x` iff `improvement_low >= x`;
- with no champion (`champion: null`) champion rules are skipped, with a note;
- platform floors are merged with the repository policy, stricter wins;
- anything unreadable, unknown or non-finite fails the gate, naming the cause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.evaluation_report import (
    EvaluationReport,
    Metric,
    read_evaluation_report,
)
from contracts.platform_floors import parse_platform_floors
from contracts.release_policy import (
    Bound,
    Choice,
    MergedPolicy,
    PolicyError,
    ReleasePolicy,
    merge,
    parse_release_policy,
)
from contracts.release_record import MODEL_PACKAGE_ARN_PATTERN
from function_kit.decision_record import (
    OUTCOME_FAILED,
    OUTCOME_INCONCLUSIVE,
    OUTCOME_PASSED,
    OUTCOME_SKIPPED,
    DecisionRecord,
    RuleResult,
    build_record,
    format_number,
)

from .guarantee import (
    DELTA_TOLERANCE,
    Resolution,
    guarantee_note,
    holdout_reuse_count,
    resolution,
    rigour_rules,
)

__all__ = [
    "GATE_TITLE",
    "MODEL_PACKAGE_ARN_PATTERN",
    "NOT_READ",
    "EvaluationInputs",
    "decide",
    "judge",
    "parse_platform_floors",
]

GATE_TITLE = "Evaluation gate"

NOT_READ: Any = object()
"""Marks an input file the handler could not read (the reason is among the errors)."""


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class _Context:
    """What every rule of one decision reads."""

    report: EvaluationReport
    policy: MergedPolicy
    metric_confidence: float | None


def _bound_text(name: str, bound: Bound) -> str:
    return f"{name} {format_number(bound.value)} ({bound.source})"


def _unusable_metric_reason(rule_id: str, metric_name: str, metric: Metric | None, where: str) -> str | None:
    if metric is None:
        return f"{rule_id}: metric {metric_name} is absent from {where}"
    if metric.problem:
        return f"{rule_id}: {metric.problem}"
    return None


def _rule(rule_id: str, name: str, value: Any, bound: float, operator: str, outcome: str, reason: str, source: str) -> RuleResult:
    return RuleResult(rule_id, name, value, bound, operator, outcome, reason, source)


def _direction_problem(rule_id: str, name: str, reported: Mapping[str, Metric], direction: Choice | None) -> str | None:
    """The policy's direction for `name` against what the report claims (report loses)."""
    if direction is None:
        return f"{rule_id}: the direction of {name} is not in the platform's table: set higher_is_better in release-policy.yaml"
    for where, metric in reported.items():
        if metric.higher_is_better != direction.value:
            return (
                f"{rule_id}: {where}.{name}.higher_is_better is {metric.higher_is_better}, but "
                f"{'higher' if direction.value else 'lower'} {name} is better ({direction.source})"
            )
    return None


def _inconclusive(
    rule_id: str, name: str, value: float, bound: Bound, operator: str, reason: str, found: Resolution | None, rows: int | None
) -> RuleResult:
    detail = found.text(rows or 0) if found else "inconclusive at this holdout size: the margin lies inside the interval"
    return _rule(rule_id, name, value, bound.value, operator, OUTCOME_INCONCLUSIVE, f"{reason}; {detail}", bound.source)


def _metric_rule(name: str, bound_name: str, bound: Bound, metric: Metric | None, context: _Context) -> RuleResult:
    rule_id = f"metrics.{name}.{bound_name}"
    operator = ">=" if bound_name == "min" else "<="
    problem = _unusable_metric_reason(rule_id, name, metric, "evaluation.json metrics")
    direction = context.policy.directions.get(name)
    if not problem and metric is not None:  # no direction in the policy or the table: fails closed
        problem = _direction_problem(rule_id, name, {"metrics": metric}, direction)
    on = context.policy.judged_on.get(name)
    on_interval = on is not None and on.value == "interval"
    if not problem and metric is not None and on is not None and on_interval and metric.ci_low is None:
        problem = f"{rule_id}: judged on the interval ({on.source}), but evaluation.json metrics.{name} has no ci_low/ci_high"
    if problem or metric is None:
        return _rule(rule_id, name, None, bound.value, operator, OUTCOME_FAILED, problem or "", bound.source)
    judged = (metric.ci_low if bound_name == "min" else metric.ci_high) if on_interval else metric.value
    held = judged >= bound.value if bound_name == "min" else judged <= bound.value
    relation = operator if held else ("<" if bound_name == "min" else ">")
    what = f"{name} {'ci_low' if bound_name == 'min' else 'ci_high'}" if on_interval else name
    reason = f"{what} = {format_number(judged)} {relation} {_bound_text(bound_name, bound)}"
    if held:
        return _rule(rule_id, name, judged, bound.value, operator, OUTCOME_PASSED, reason, bound.source)
    optimistic = metric.ci_high if bound_name == "min" else metric.ci_low
    if (
        on_interval
        and optimistic is not None
        and (optimistic >= bound.value if bound_name == "min" else optimistic <= bound.value)
    ):
        # The bound lies inside the interval: the holdout cannot tell (as for a champion rule),
        # whichever side of the bound the point value is on.
        sign = 1 if bound_name == "min" else -1
        ends = sorted((sign * metric.ci_low, sign * metric.ci_high))
        found = resolution(
            low=ends[0],
            high=ends[1],
            point=sign * metric.value,
            threshold=sign * bound.value,
            confidence=context.metric_confidence,
            rows=context.report.rows,
        )
        return _inconclusive(rule_id, name, judged, bound, operator, reason, found, context.report.rows)
    return _rule(rule_id, name, judged, bound.value, operator, OUTCOME_FAILED, reason, bound.source)


def _delta_problem(rule_id: str, name: str, report: EvaluationReport) -> str | None:
    """The delta must be challenger minus champion (within `DELTA_TOLERANCE`)."""
    assert report.champion is not None
    claimed = report.champion.deltas[name].value
    actual = report.metrics[name].value - report.champion.metrics[name].value
    if abs(claimed - actual) > DELTA_TOLERANCE:
        return (
            f"{rule_id}: champion.comparison.deltas.{name}.value {format_number(claimed)} contradicts "
            f"metrics - champion.metrics = {format_number(round(actual, 9))} (tolerance {DELTA_TOLERANCE})"
        )
    return None


def _champion_problem(rule_id: str, name: str, report: EvaluationReport, direction: Choice | None) -> str | None:
    champion = report.champion
    assert champion is not None
    problem = _unusable_metric_reason(
        rule_id, name, report.metrics.get(name), "evaluation.json metrics"
    ) or _unusable_metric_reason(rule_id, name, champion.metrics.get(name), "evaluation.json champion.metrics")
    if problem:
        return problem
    problem = _direction_problem(
        rule_id, name, {"metrics": report.metrics[name], "champion.metrics": champion.metrics[name]}, direction
    )
    if problem:
        return problem
    delta = champion.deltas.get(name)
    if delta is None:
        return f"{rule_id}: champion.comparison.deltas.{name} is missing while a champion exists"
    if delta.problem:
        return f"{rule_id}: {delta.problem}"
    return _delta_problem(rule_id, name, report)


def _missing_champion_rule(rule_id: str, name: str, threshold: float, bound: Bound, report: EvaluationReport) -> RuleResult:
    """Skipped on a first release (`champion: null`), failed when the champion block is unusable."""
    if report.champion_is_null:
        outcome, reason = OUTCOME_SKIPPED, f"{rule_id}: skipped, no champion (first release)"
    else:
        outcome, reason = OUTCOME_FAILED, f"{rule_id}: evaluation.json has no usable champion"
    return _rule(rule_id, name, None, threshold, ">=", outcome, reason, bound.source)


def _champion_rule(name: str, bound_name: str, bound: Bound, context: _Context) -> RuleResult:
    rule_id = f"champion.{name}.{bound_name}"
    threshold = -bound.value if bound_name == "max_regression" else bound.value
    report = context.report
    champion = report.champion
    if champion is None:
        return _missing_champion_rule(rule_id, name, threshold, bound, report)
    direction = context.policy.directions.get(name)
    problem = _champion_problem(rule_id, name, report, direction)
    if problem or direction is None:
        return _rule(rule_id, name, None, threshold, ">=", OUTCOME_FAILED, problem or "", bound.source)
    return _judged_champion_rule(rule_id, name, bound_name, Bound(threshold, bound.source), bound, direction.value, report)


def _judged_champion_rule(
    rule_id: str,
    name: str,
    bound_name: str,
    threshold_bound: Bound,
    bound: Bound,
    higher_is_better: bool,
    report: EvaluationReport,
) -> RuleResult:
    """The improvement's interval (oriented so higher is better) against the threshold: passed, inconclusive or failed."""
    champion = report.champion
    assert champion is not None
    threshold = threshold_bound.value
    delta = champion.deltas[name]
    sign = 1 if higher_is_better else -1
    low, high = sorted((sign * delta.ci_low, sign * delta.ci_high))
    how = (
        f"delta ci_low {format_number(delta.ci_low)}, higher is better"
        if higher_is_better
        else f"-delta ci_high {format_number(-delta.ci_high)}, lower is better"
    )
    held = low >= threshold
    reason = (
        f"{name} improvement_low = {format_number(low)} ({how}) {'>=' if held else '<'} "
        f"{format_number(threshold)} ({bound_name} {format_number(bound.value)}, {bound.source})"
    )
    if held:
        return _rule(rule_id, name, low, threshold, ">=", OUTCOME_PASSED, reason, bound.source)
    if high >= threshold:
        found = resolution(
            low=low, high=high, point=sign * delta.value, threshold=threshold, confidence=champion.confidence, rows=report.rows
        )
        return _inconclusive(rule_id, name, low, threshold_bound, ">=", reason, found, report.rows)
    return _rule(
        rule_id,
        name,
        low,
        threshold,
        ">=",
        OUTCOME_FAILED,
        f"{reason}: a regression (the whole interval is below the threshold)",
        bound.source,
    )


def _metric_rules(policy: MergedPolicy, context: _Context, notes: list[str]) -> list[RuleResult]:
    rules: list[RuleResult] = []
    for name, bounds in policy.metrics.items():
        if "min" in bounds and "max" in bounds and bounds["min"].value > bounds["max"].value:
            notes.append(
                f"metrics.{name}: {_bound_text('min', bounds['min'])} is above "
                f"{_bound_text('max', bounds['max'])}: no value can pass"
            )
        for bound_name, bound in bounds.items():
            rules.append(_metric_rule(name, bound_name, bound, context.report.metrics.get(name), context))
    return rules


def judge(
    report: EvaluationReport, policy: MergedPolicy, *, holdout_reuse: int | None = None
) -> tuple[list[RuleResult], list[str]]:
    """Every rigour, metric and champion rule of `policy` judged on `report`; returns (rules, notes)."""
    notes: list[str] = []
    intervals = report.intervals or {}
    context = _Context(report, policy, intervals.get("confidence"))
    rules = _metric_rules(policy, context, notes)
    for name, bounds in policy.champion.items():
        for bound_name, bound in bounds.items():
            rules.append(_champion_rule(name, bound_name, bound, context))
    sources = set()
    if report.champion is not None and policy.champion:
        sources.add("champion")
    if any(choice.value == "interval" for name, choice in policy.judged_on.items() if name in policy.metrics):
        sources.add("metrics")
    rules = rigour_rules(report, policy, interval_sources=sources, holdout_reuse=holdout_reuse) + rules
    skipped = [rule.rule_id for rule in rules if rule.outcome == OUTCOME_SKIPPED and rule.rule_id.startswith("champion.")]
    if skipped:
        notes.append(f"no champion (first release): champion rules skipped: {', '.join(skipped)}")
    elif report.champion is not None and policy.champion:
        champion = report.champion
        notes.append(
            f"champion {champion.model_package_arn}: compared by {champion.method} "
            f"({format_number(champion.resamples)} resamples) at confidence {format_number(champion.confidence)}"
        )
    confidence = report.champion.confidence if "champion" in sources and report.champion else intervals.get("confidence")
    if sources:
        notes.append(guarantee_note(confidence, report.rows, holdout_reuse))
    return rules, notes


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class EvaluationInputs:
    """What the handler read; `NOT_READ` for a file it could not read (its error is in `errors`)."""

    evaluation: Any = NOT_READ
    repository_policy: Any = NOT_READ
    platform_floors: str | None = None
    errors: Sequence[str] = ()
    locations: Mapping[str, Any] | None = None
    release: Any = None
    """`release.json` when read: its `holdout_reuse` says how often the holdout was used before."""


def _merged_policy(inputs: EvaluationInputs, errors: list[str], notes: list[str]) -> MergedPolicy | None:
    """The platform floors merged with the repository's policy; None (and the errors) when either is unusable."""
    policy_errors: list[str] = []
    floors: ReleasePolicy | None = None
    repository: ReleasePolicy | None = None
    try:
        floors = parse_platform_floors(inputs.platform_floors)
    except PolicyError as error:
        policy_errors.append(str(error))
    if inputs.repository_policy is not NOT_READ:
        try:
            repository = parse_release_policy(inputs.repository_policy, origin="release-policy.json")
        except PolicyError as error:
            policy_errors.append(str(error))
    errors.extend(policy_errors)
    if repository is None or policy_errors:
        return None
    merged = merge(floors, repository)
    errors.extend(merged.problems)
    if floors is None:
        notes.append("no platform floors configured: the repository policy alone applies")
    return merged


def _judged_rules(
    inputs: EvaluationInputs, merged: MergedPolicy | None, errors: list[str], notes: list[str]
) -> tuple[EvaluationReport | None, list[RuleResult], int | None]:
    """The evaluation report, the rules judged on it (none unless it and the policy are usable) and the holdout reuse."""
    if inputs.evaluation is NOT_READ:
        return None, [], None
    report = read_evaluation_report(inputs.evaluation)
    errors.extend(report.errors)
    reuse, reuse_problem = holdout_reuse_count(inputs.release, report.dataset.get("sha256"))
    if reuse_problem:
        errors.append(reuse_problem)
    if merged is None or not report.judgeable:
        return report, [], reuse
    rules, judged_notes = judge(report, merged, holdout_reuse=reuse)
    notes.extend(judged_notes)
    return report, rules, reuse


def _record_inputs(inputs: EvaluationInputs, report: EvaluationReport | None, reuse: int | None) -> dict[str, Any]:
    record_inputs: dict[str, Any] = dict(inputs.locations or {})
    if report is not None and report.judgeable:
        record_inputs.update(
            {
                "problem_type": report.problem_type,
                "model": dict(report.model),
                "dataset": dict(report.dataset),
                "champion_model_package_arn": (report.champion.model_package_arn or None) if report.champion else None,
                "holdout_reuse": reuse,
            }
        )
    return record_inputs


def decide(
    inputs: EvaluationInputs,
    *,
    job_id: str | None = None,
    started_at: str | None = None,
    decided_at: str | None = None,
) -> DecisionRecord:
    """The gate's verdict and record; fails closed on any input error."""
    errors = list(inputs.errors)
    notes: list[str] = []
    merged = _merged_policy(inputs, errors, notes)
    report, rules, reuse = _judged_rules(inputs, merged, errors, notes)
    return build_record(
        gate=GATE_TITLE,
        rules=rules,
        notes=notes,
        errors=errors,
        policy=merged.to_dict() if merged else None,
        inputs=_record_inputs(inputs, report, reuse),
        started_at=started_at,
        decided_at=decided_at,
        job_id=job_id,
    )
