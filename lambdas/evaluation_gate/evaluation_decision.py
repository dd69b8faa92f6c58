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

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gate_kit.decision_record import (
    OUTCOME_FAILED,
    OUTCOME_PASSED,
    OUTCOME_SKIPPED,
    DecisionRecord,
    RuleResult,
    build_record,
    format_number,
)
from gate_kit.release_policy import (
    Bound,
    MergedPolicy,
    PolicyError,
    ReleasePolicy,
    merge,
    parse_release_policy,
)

from .evaluation_report import (
    Champion,
    EvaluationReport,
    Metric,
    read_evaluation_report,
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
MODEL_PACKAGE_ARN_PATTERN = re.compile(
    r"^arn:aws(-cn|-us-gov|-iso-f)?:sagemaker:[a-z0-9-]{9,16}:[0-9]{12}:model-package/\S{1,2048}$"
)


NOT_READ: Any = object()
"""Marks an input file the handler could not read (the reason is among the errors)."""


def parse_platform_floors(raw: str | None) -> ReleasePolicy | None:
    """The `PLATFORM_FLOORS` value as a policy; `None` when unset or blank. Raises `PolicyError`."""
    if raw is None or not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise PolicyError(
            f"PLATFORM_FLOORS: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    return parse_release_policy(data, origin="PLATFORM_FLOORS")


def _bound_text(name: str, bound: Bound) -> str:
    return f"{name} {format_number(bound.value)} ({bound.source})"


def _unusable_metric_reason(
    rule_id: str, metric_name: str, metric: Metric | None, where: str
) -> str | None:
    if metric is None:
        return f"{rule_id}: metric {metric_name} is absent from {where}"
    if metric.problem:
        return f"{rule_id}: {metric.problem}"
    return None


def _metric_rule(
    name: str, bound_name: str, bound: Bound, metric: Metric | None
) -> RuleResult:
    rule_id = f"metrics.{name}.{bound_name}"
    operator = ">=" if bound_name == "min" else "<="
    problem = _unusable_metric_reason(rule_id, name, metric, "evaluation.json metrics")
    if problem or metric is None:
        return RuleResult(
            rule_id,
            name,
            None,
            bound.value,
            operator,
            OUTCOME_FAILED,
            problem or "",
            bound.source,
        )
    value = metric.value
    held = value >= bound.value if bound_name == "min" else value <= bound.value
    relation = operator if held else ("<" if bound_name == "min" else ">")
    reason = (
        f"{name} = {format_number(value)} {relation} {_bound_text(bound_name, bound)}"
    )
    return RuleResult(
        rule_id,
        name,
        value,
        bound.value,
        operator,
        OUTCOME_PASSED if held else OUTCOME_FAILED,
        reason,
        bound.source,
    )


def _improvement_low(
    champion: Champion, name: str, metric: Metric
) -> tuple[float, str]:
    delta = champion.deltas[name]
    if metric.higher_is_better:
        return (
            delta.ci_low,
            f"delta ci_low {format_number(delta.ci_low)}, higher is better",
        )
    return (
        -delta.ci_high,
        f"-delta ci_high {format_number(-delta.ci_high)}, lower is better",
    )


def _champion_rule(
    name: str, bound_name: str, bound: Bound, report: EvaluationReport
) -> RuleResult:
    rule_id = f"champion.{name}.{bound_name}"
    threshold = -bound.value if bound_name == "max_regression" else bound.value

    def failed(reason: str) -> RuleResult:
        return RuleResult(
            rule_id, name, None, threshold, ">=", OUTCOME_FAILED, reason, bound.source
        )

    champion = report.champion
    if champion is None:
        if report.champion_is_null:
            return RuleResult(
                rule_id,
                name,
                None,
                threshold,
                ">=",
                OUTCOME_SKIPPED,
                f"{rule_id}: skipped, no champion (first release)",
                bound.source,
            )
        return failed(f"{rule_id}: evaluation.json has no usable champion")
    problem = _unusable_metric_reason(
        rule_id, name, report.metrics.get(name), "evaluation.json metrics"
    ) or (
        _unusable_metric_reason(
            rule_id,
            name,
            champion.metrics.get(name),
            "evaluation.json champion.metrics",
        )
    )
    if problem:
        return failed(problem)
    metric = report.metrics[name]
    if metric.higher_is_better != champion.metrics[name].higher_is_better:
        return failed(
            f"{rule_id}: challenger and champion disagree on whether higher {name} is better"
        )
    delta = champion.deltas.get(name)
    if delta is None:
        return failed(
            f"{rule_id}: champion.comparison.deltas.{name} is missing while a champion exists"
        )
    if delta.problem:
        return failed(f"{rule_id}: {delta.problem}")
    improvement_low, how = _improvement_low(champion, name, metric)
    held = improvement_low >= threshold
    relation = ">=" if held else "<"
    reason = (
        f"{name} improvement_low = {format_number(improvement_low)} ({how}) {relation} "
        f"{format_number(threshold)} ({bound_name} {format_number(bound.value)}, {bound.source})"
    )
    return RuleResult(
        rule_id,
        name,
        improvement_low,
        threshold,
        ">=",
        OUTCOME_PASSED if held else OUTCOME_FAILED,
        reason,
        bound.source,
    )


def judge(
    report: EvaluationReport, policy: MergedPolicy
) -> tuple[list[RuleResult], list[str]]:
    """Every metric and champion rule of `policy` judged on `report`; returns (rules, notes)."""
    rules: list[RuleResult] = []
    notes: list[str] = []
    for name, bounds in policy.metrics.items():
        if (
            "min" in bounds
            and "max" in bounds
            and bounds["min"].value > bounds["max"].value
        ):
            notes.append(
                f"metrics.{name}: {_bound_text('min', bounds['min'])} is above "
                f"{_bound_text('max', bounds['max'])}: no value can pass"
            )
        for bound_name, bound in bounds.items():
            rules.append(
                _metric_rule(name, bound_name, bound, report.metrics.get(name))
            )
    for name, bounds in policy.champion.items():
        for bound_name, bound in bounds.items():
            rules.append(_champion_rule(name, bound_name, bound, report))
    skipped = [rule.rule_id for rule in rules if rule.outcome == OUTCOME_SKIPPED]
    if skipped:
        notes.append(
            f"no champion (first release): champion rules skipped: {', '.join(skipped)}"
        )
    elif report.champion is not None and policy.champion:
        champion = report.champion
        notes.append(
            f"champion {champion.model_package_arn}: compared by {champion.method} "
            f"({format_number(champion.resamples)} resamples) at confidence {format_number(champion.confidence)}"
        )
    return rules, notes


@dataclass(frozen=True)
class EvaluationInputs:
    """What the handler read; `NOT_READ` for a file it could not read (its error is in `errors`)."""

    evaluation: Any = NOT_READ
    repository_policy: Any = NOT_READ
    platform_floors: str | None = None
    errors: Sequence[str] = ()
    locations: Mapping[str, Any] | None = None


def decide(
    inputs: EvaluationInputs,
    *,
    job_id: str | None = None,
    started_at: str | None = None,
    decided_at: str | None = None,
) -> DecisionRecord:
    """The gate's verdict and record; fails closed on any input error."""
    errors = list(inputs.errors)
    policy_errors: list[str] = []
    floors: ReleasePolicy | None = None
    repository: ReleasePolicy | None = None
    try:
        floors = parse_platform_floors(inputs.platform_floors)
    except PolicyError as error:
        policy_errors.append(str(error))
    if inputs.repository_policy is not NOT_READ:
        try:
            repository = parse_release_policy(
                inputs.repository_policy, origin="release-policy.json"
            )
        except PolicyError as error:
            policy_errors.append(str(error))
    errors.extend(policy_errors)

    rules: list[RuleResult] = []
    notes: list[str] = []
    merged: MergedPolicy | None = None
    report: EvaluationReport | None = None
    if repository is not None and not policy_errors:
        merged = merge(floors, repository)
        if floors is None:
            notes.append(
                "no platform floors configured: the repository policy alone applies"
            )
    if inputs.evaluation is not NOT_READ:
        report = read_evaluation_report(inputs.evaluation)
        errors.extend(report.errors)
        if merged is not None and report.judgeable:
            rules, judged_notes = judge(report, merged)
            notes.extend(judged_notes)

    record_inputs: dict[str, Any] = dict(inputs.locations or {})
    if report is not None and report.judgeable:
        record_inputs.update(
            {
                "problem_type": report.problem_type,
                "model": dict(report.model),
                "dataset": dict(report.dataset),
                "champion_model_package_arn": report.champion.model_package_arn
                if report.champion
                else None,
            }
        )
    return build_record(
        gate=GATE_TITLE,
        rules=rules,
        notes=notes,
        errors=errors,
        policy=merged.to_dict() if merged else None,
        inputs=record_inputs,
        started_at=started_at,
        decided_at=decided_at,
        job_id=job_id,
    )
