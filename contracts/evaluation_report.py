"""Read an `evaluation.json` document (contract §1, version 1) into typed values. Pure.

The reader is tolerant per metric and strict overall: every problem is
collected as a one-line error naming the key path and value, so a record can
list them all, and a metric with a problem is marked unusable so no rule can
pass on it. Fields the gate does not judge (model, dataset) are carried along
for the record; the full shape is checked by `schemas/evaluation.v1.schema.json`
in the Train stage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from contracts.champion import Champion
from contracts.finite_json import keep_constant, non_finite_problem
from contracts.release_policy import is_finite_number, is_metric_name
from contracts.release_record import MODEL_PACKAGE_ARN_PATTERN

__all__ = [
    "PROBLEM_TYPES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Champion",
    "Delta",
    "EvaluationReport",
    "EvaluationFileError",
    "Metric",
    "load_evaluation_json",
    "read_evaluation_report",
]

SUPPORTED_SCHEMA_VERSIONS = (1,)
PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")
ORIGIN = "evaluation.json"


def _is_finite_number(value: Any) -> bool:
    return is_finite_number(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**53


class Metric(NamedTuple):
    """One metric of a model; `problem` is set when it cannot be used (and why)."""

    name: str
    value: Any
    higher_is_better: Any
    ci_low: Any = None
    ci_high: Any = None
    problem: str | None = None


class Delta(NamedTuple):
    """Challenger minus champion for one metric, with its bootstrap interval."""

    name: str
    value: Any
    ci_low: Any
    ci_high: Any
    problem: str | None = None


@dataclass(frozen=True)
class EvaluationReport:
    """The parts of `evaluation.json` the gate judges, plus provenance for the record."""

    problem_type: str | None
    metrics: Mapping[str, Metric]
    champion: Champion | None
    champion_is_null: bool = False
    model: Mapping[str, Any] = field(default_factory=dict)
    dataset: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    rows: int | None = None
    """`dataset.rows`: the holdout's size; None when absent or not a count."""
    intervals: Mapping[str, Any] | None = None
    """`intervals` (optional): confidence and resamples of the metrics' own intervals."""
    judgeable: bool = True
    """False when no rule can be judged at all (not an object, unknown schema_version)."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _interval_problem(path: str, value: Any, ci_low: Any, ci_high: Any) -> str | None:
    for key, item in (("value", value), ("ci_low", ci_low), ("ci_high", ci_high)):
        if key != "value" and item is None:
            continue
        if not _is_finite_number(item):
            return f"{ORIGIN}: {path}.{key}: {_short(item)} is not a finite number"
    if (ci_low is None) != (ci_high is None):
        return f"{ORIGIN}: {path}: ci_low and ci_high must be given together"
    if ci_low is not None and not ci_low <= value <= ci_high:
        return f"{ORIGIN}: {path}: ci_low <= value <= ci_high does not hold ({ci_low!r} <= {value!r} <= {ci_high!r})"
    return None


_TOP_LEVEL_KEYS = ("schema_version", "problem_type", "model", "dataset", "metrics", "intervals", "champion")
_METRIC_KEYS = ("value", "higher_is_better", "ci_low", "ci_high")
_DELTA_KEYS = ("value", "ci_low", "ci_high")
_CHAMPION_KEYS = ("model_package_arn", "metrics", "comparison")
_COMPARISON_KEYS = ("method", "resamples", "confidence", "deltas")
_INTERVALS_KEYS = ("method", "confidence", "resamples")


def _unknown_key(raw: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> str | None:
    """The first key the contract does not know (extra keys need a new version, as the schema says)."""
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            return f"{ORIGIN}: {where}: unknown key (allowed: {', '.join(allowed)})"
    return None


def _read_metric(name: Any, raw: Any, path: str) -> Metric:
    if not isinstance(raw, Mapping):
        return Metric(
            str(name),
            None,
            None,
            problem=f"{ORIGIN}: {path}: expected an object, got {type(raw).__name__}",
        )
    value, higher_is_better = raw.get("value"), raw.get("higher_is_better")
    ci_low, ci_high = raw.get("ci_low"), raw.get("ci_high")
    if "value" not in raw:
        problem: str | None = f"{ORIGIN}: {path}.value: missing"
    elif not isinstance(higher_is_better, bool):
        problem = f"{ORIGIN}: {path}.higher_is_better: {_short(higher_is_better)} is not true or false"
    else:
        problem = _interval_problem(path, value, ci_low, ci_high)
    problem = problem or _unknown_key(raw, _METRIC_KEYS, path)
    return Metric(str(name), value, higher_is_better, ci_low, ci_high, problem)


def _read_metrics(raw: Any, path: str, errors: list[str]) -> dict[str, Metric]:
    if not isinstance(raw, Mapping) or not raw:
        errors.append(f"{ORIGIN}: {path}: expected a non-empty object of metrics, got {_short(raw)}")
        return {}
    metrics = {str(name): _read_metric(name, value, f"{path}.{name}") for name, value in raw.items()}
    for name, metric in metrics.items():
        _append(errors, _name_problem(name, path) or metric.problem)
    return metrics


def _name_problem(name: str, path: str) -> str | None:
    """A metric name the contract refuses (the policy's rule: `contracts.release_policy.is_metric_name`)."""
    if is_metric_name(name):
        return None
    return f"{ORIGIN}: {path}: {_short(name)} is not a valid metric name (letters, digits and _ . : @ / + -, at most 128)"


def _read_delta(name: str, raw: Any, path: str) -> Delta:
    if not isinstance(raw, Mapping):
        return Delta(
            name,
            None,
            None,
            None,
            problem=f"{ORIGIN}: {path}: expected an object, got {type(raw).__name__}",
        )
    value, ci_low, ci_high = raw.get("value"), raw.get("ci_low"), raw.get("ci_high")
    if ci_low is None or ci_high is None:
        problem: str | None = f"{ORIGIN}: {path}: ci_low and ci_high are required"
    else:
        problem = _interval_problem(path, value, ci_low, ci_high)
    problem = problem or _unknown_key(raw, _DELTA_KEYS, path)
    return Delta(name, value, ci_low, ci_high, problem)


def _read_directions(metrics: Mapping[str, Metric], challenger: Mapping[str, Metric], errors: list[str]) -> None:
    """A metric's direction must be the same for the champion and the challenger."""
    for name, metric in metrics.items():
        mine = challenger.get(name)
        if mine is not None and isinstance(metric.higher_is_better, bool) and mine.higher_is_better != metric.higher_is_better:
            errors.append(
                f"{ORIGIN}: champion.metrics.{name}.higher_is_better is {metric.higher_is_better}, "
                f"but metrics.{name}.higher_is_better is {mine.higher_is_better}: the direction is ambiguous"
            )


def _read_deltas(raw: Any, errors: list[str]) -> dict[str, Delta]:
    if not isinstance(raw, Mapping):
        errors.append(f"{ORIGIN}: champion.comparison.deltas: missing or not an object")
        return {}
    deltas: dict[str, Delta] = {}
    for name, value in raw.items():
        delta = _read_delta(str(name), value, f"champion.comparison.deltas.{name}")
        deltas[delta.name] = delta
        problem = _name_problem(delta.name, "champion.comparison.deltas") or delta.problem
        if problem:
            errors.append(problem)
    return deltas


def _read_comparison(raw: Any, errors: list[str]) -> dict[str, Any]:
    """`champion.comparison`: the method, confidence and resamples of the paired bootstrap, and its deltas."""
    if not isinstance(raw, Mapping):
        errors.append(f"{ORIGIN}: champion.comparison: missing or not an object while a champion exists")
        return {}
    _append(errors, _unknown_key(raw, _COMPARISON_KEYS, "champion.comparison"))
    method: Any = raw.get("method")
    confidence: Any = raw.get("confidence")
    resamples: Any = raw.get("resamples")
    if method != "paired_bootstrap":
        errors.append(f"{ORIGIN}: champion.comparison.method: {_short(method)} is not 'paired_bootstrap'")
    if not _is_finite_number(confidence) or not 0 < confidence < 1:
        errors.append(f"{ORIGIN}: champion.comparison.confidence: {_short(confidence)} is not a number in (0, 1)")
    if not _is_count(resamples):
        errors.append(f"{ORIGIN}: champion.comparison.resamples: {_short(resamples)} is not a whole number >= 1")
    deltas = _read_deltas(raw.get("deltas"), errors)
    return {"method": method, "confidence": confidence, "resamples": resamples, "deltas": deltas}


def _read_champion(raw: Any, challenger: Mapping[str, Metric], errors: list[str]) -> Champion | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append(f"{ORIGIN}: champion: expected an object or null, got {type(raw).__name__}")
        return None
    _append(errors, _unknown_key(raw, _CHAMPION_KEYS, "champion"))
    arn = raw.get("model_package_arn")
    if not isinstance(arn, str) or not MODEL_PACKAGE_ARN_PATTERN.match(arn):
        errors.append(f"{ORIGIN}: champion.model_package_arn: {_short(arn)} is not a model package ARN")
    metrics = _read_metrics(raw.get("metrics"), "champion.metrics", errors)
    _read_directions(metrics, challenger, errors)
    return Champion(
        model_package_arn=arn if isinstance(arn, str) else "", metrics=metrics, **_read_comparison(raw.get("comparison"), errors)
    )


def _read_intervals(raw: Any, errors: list[str]) -> Mapping[str, Any] | None:
    """The optional top-level `intervals`: how the metrics' own intervals were computed."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append(f"{ORIGIN}: intervals: expected an object, got {type(raw).__name__}")
        return None
    _append(errors, _unknown_key(raw, _INTERVALS_KEYS, "intervals"))
    if raw.get("method", "percentile_bootstrap") != "percentile_bootstrap":
        errors.append(f"{ORIGIN}: intervals.method: {_short(raw['method'])} is not 'percentile_bootstrap'")
    confidence: Any = raw.get("confidence")
    resamples: Any = raw.get("resamples")
    if not _is_finite_number(confidence) or not 0 < confidence < 1:
        errors.append(f"{ORIGIN}: intervals.confidence: {_short(confidence)} is not a number in (0, 1)")
        return None
    if not _is_count(resamples):
        errors.append(f"{ORIGIN}: intervals.resamples: {_short(resamples)} is not a whole number >= 1")
        return None
    return {"method": raw.get("method"), "confidence": confidence, "resamples": resamples}


def _append(errors: list[str], problem: str | None) -> None:
    if problem is not None:
        errors.append(problem)


def _unjudgeable(error: str) -> EvaluationReport:
    return EvaluationReport(None, {}, None, errors=(error,), judgeable=False)


def read_evaluation_report(data: Any) -> EvaluationReport:
    """Read `data` (parsed JSON); problems are listed in `errors`, never raised."""
    errors: list[str] = []
    if not isinstance(data, Mapping):
        return _unjudgeable(f"{ORIGIN}: expected a JSON object at the top level, got {type(data).__name__}")
    if "schema_version" not in data:
        return _unjudgeable(f"{ORIGIN}: schema_version: missing (expected 1)")
    version = data["schema_version"]
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        return _unjudgeable(f"{ORIGIN}: schema_version: {_short(version)} is not a supported version (supported: 1)")
    _append(errors, _unknown_key(data, _TOP_LEVEL_KEYS, ""))
    problem_type = data.get("problem_type")
    if problem_type not in PROBLEM_TYPES:
        errors.append(f"{ORIGIN}: problem_type: {_short(problem_type)} is not one of {', '.join(PROBLEM_TYPES)}")
    metrics = _read_metrics(data.get("metrics"), "metrics", errors)
    if "champion" not in data:
        errors.append(f"{ORIGIN}: champion: missing (use null when there is no production model)")
        champion = None
    else:
        champion = _read_champion(data.get("champion"), metrics, errors)
    model, dataset = data.get("model"), data.get("dataset")
    rows = dataset.get("rows") if isinstance(dataset, Mapping) else None
    if "intervals" in data and data["intervals"] is None:  # optional: leave it out rather than write null (as the schema says)
        errors.append(f"{ORIGIN}: intervals: expected an object, got null (leave the key out when there are none)")
    intervals = _read_intervals(data.get("intervals"), errors)
    return EvaluationReport(
        problem_type=problem_type if isinstance(problem_type, str) else None,
        metrics=metrics,
        champion=champion,
        champion_is_null="champion" in data and data["champion"] is None,
        model=model if isinstance(model, Mapping) else {},
        dataset=dataset if isinstance(dataset, Mapping) else {},
        errors=tuple(errors),
        rows=rows if _is_count(rows) else None,
        intervals=intervals,
    )


class EvaluationFileError(ValueError):
    """`evaluation.json` is not a JSON document every contract reader can use; one line naming the cause."""


def load_evaluation_json(text: str | bytes) -> Any:
    """Parse `evaluation.json`; a non-finite number fails closed naming its JSON path.

    Python's `json.dump` writes NaN and Infinity by default; they are not JSON. The message says where:
    `evaluation.json: metrics.roc_auc.value is NaN, not a finite number`.
    """
    try:
        document = json.loads(text, parse_constant=keep_constant)
    except json.JSONDecodeError as error:
        raise EvaluationFileError(
            f"{ORIGIN}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except (ValueError, RecursionError) as error:  # not UTF-8, a number beyond Python's digit limit, deep nesting
        raise EvaluationFileError(f"{ORIGIN}: not valid JSON ({type(error).__name__})") from None
    problem = non_finite_problem(document)
    if problem is not None:
        raise EvaluationFileError(f"{ORIGIN}: {problem}")
    return document
