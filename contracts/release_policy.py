"""Parse, validate and merge release policies (contract §2, version 1). Pure.

A policy is the repository's `release-policy.json` or the platform floors
(same shape). `merge` combines them rule by rule so that the stricter bound
wins: the repository can tighten a floor, never loosen or drop it. Each
merged bound remembers where it came from, so a decision record can say
whether the platform or the repository set it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "BUILT_IN",
    "EVALUATION_KEYS",
    "IMAGE_SEVERITIES",
    "JUDGED_ON",
    "KNOWN_DIRECTIONS",
    "METRIC_NAME_PATTERN",
    "PLATFORM_FLOOR",
    "REPOSITORY",
    "SUPPORTED_POLICY_VERSIONS",
    "Bound",
    "Choice",
    "MergedPolicy",
    "PolicyError",
    "ReleasePolicy",
    "is_finite_number",
    "is_metric_name",
    "is_stricter_larger",
    "merge",
    "parse_release_policy",
]

SUPPORTED_POLICY_VERSIONS = (1,)
PLATFORM_FLOOR = "platform floor"
REPOSITORY = "repository"
METRIC_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/+-]{0,127}$")

BUILT_IN = "built-in table"

KNOWN_DIRECTIONS: Mapping[str, bool] = {
    # Whether a larger value is better, for well-known metrics (True: higher is
    # better). The gate takes a metric's direction from the policy
    # (`higher_is_better`), else from this table, never from the report; a
    # policy may not contradict the table. schemas/release-policy.v1.schema.json
    # states the same table (tests/test_policy_validators_agree.py holds them equal).
    "accuracy": True,
    "average_precision": True,
    "balanced_accuracy": True,
    "f1": True,
    "precision": True,
    "r2": True,
    "recall": True,
    "roc_auc": True,
    "brier_score": False,
    "log_loss": False,
    "mae": False,
    "mape": False,
    "mse": False,
    "rmse": False,
}
"""Direction of well-known metrics: the one table every validator and the gate use."""

JUDGED_ON = ("point", "interval")
"""`metrics.<name>.on`: judge `min`/`max` on the point value or on the interval's pessimistic end."""

EVALUATION_KEYS = ("min_confidence", "min_resamples", "min_holdout_rows", "max_holdout_reuse")
"""The `evaluation` section: the rigour the report must have (floors; stricter wins)."""

IMAGE_SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
"""`image.max_severity`, least to most severe: judged by the Build stage's image gate (release_tools.image_scan)."""

_SECTIONS = ("evaluation", "metrics", "champion", "staging", "image")
_METRIC_KEYS = ("min", "max")
_CHAMPION_KEYS = ("max_regression", "min_improvement")
_STAGING_KEYS = ("max_p95_latency_ms", "max_error_rate")
_METRIC_SETTINGS = ("on", "higher_is_better")
_CHAMPION_SETTINGS = ("higher_is_better",)
_LARGER_IS_STRICTER = frozenset({"min", "min_improvement", "min_confidence", "min_resamples", "min_holdout_rows"})

Rules = Mapping[str, Mapping[str, float]]


class PolicyError(ValueError):
    """A policy is malformed; the message names the file and the exact key path.

    `path` is the key path (a metric name may hold a dot, so it is a tuple, not a dotted string) and
    `cause` the message without the origin and the path: the Build stage adds the YAML line, the app's
    configuration its own key prefix.
    """

    def __init__(self, message: str, *, path: tuple[str, ...] = (), cause: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.cause = message if cause is None else cause


def _refuse(origin: str, path: tuple[str, ...], cause: str) -> PolicyError:
    """`origin: a.b.c: cause`, with the path and the cause kept apart for callers that place them."""
    where = ".".join(path)
    return PolicyError(f"{origin}: {where}: {cause}" if path else f"{origin}: {cause}", path=path, cause=cause)


def is_stricter_larger(bound_name: str) -> bool:
    """True for lower bounds (`min`, `min_improvement`, `min_*` rigour), where a larger value is stricter."""
    return bound_name in _LARGER_IS_STRICTER


@dataclass(frozen=True)
class ReleasePolicy:
    """A validated policy: `metrics`, `champion` (per metric), `staging` and `evaluation` bounds.

    `judged_on` (metric -> "point"/"interval") and `directions` (metric ->
    higher is better) hold the rules' optional `on` and `higher_is_better`.
    """

    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    champion: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    staging: Mapping[str, float] = field(default_factory=dict)
    version: int = 1
    evaluation: Mapping[str, float] = field(default_factory=dict)
    judged_on: Mapping[str, str] = field(default_factory=dict)
    directions: Mapping[str, bool] = field(default_factory=dict)
    image: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The policy in its JSON shape."""

        def rules(section: Rules, settings: tuple[str, ...]) -> dict[str, Any]:
            shaped: dict[str, Any] = {}
            for name, bounds in section.items():
                rule: dict[str, Any] = dict(bounds)
                if "on" in settings and name in self.judged_on:
                    rule["on"] = self.judged_on[name]
                if name in self.directions:
                    rule["higher_is_better"] = self.directions[name]
                shaped[name] = rule
            return shaped

        shaped: dict[str, Any] = {
            "version": self.version,
            "metrics": rules(self.metrics, _METRIC_SETTINGS),
            "champion": rules(self.champion, _CHAMPION_SETTINGS),
            "staging": dict(self.staging),
        }
        if self.evaluation:
            shaped["evaluation"] = dict(self.evaluation)
        if self.image:
            shaped["image"] = dict(self.image)
        return shaped


class Bound(NamedTuple):
    """One merged bound and who set it (`PLATFORM_FLOOR` or `REPOSITORY`)."""

    value: float
    source: str


class Choice(NamedTuple):
    """A merged non-numeric setting (`on`, `higher_is_better`) and who set it."""

    value: Any
    source: str


@dataclass(frozen=True)
class MergedPolicy:
    """Floors and repository policy combined; every bound carries its source.

    `judged_on`: per metric, "interval" when the floor or the repository asks
    for it (interval is stricter than point). `directions`: per gated metric,
    higher is better or not, from the floor, the repository or `KNOWN_DIRECTIONS`;
    a metric absent from it has no known direction. `problems`: floor and
    repository contradict each other (the gate fails closed on any).
    """

    metrics: Mapping[str, Mapping[str, Bound]] = field(default_factory=dict)
    champion: Mapping[str, Mapping[str, Bound]] = field(default_factory=dict)
    staging: Mapping[str, Bound] = field(default_factory=dict)
    evaluation: Mapping[str, Bound] = field(default_factory=dict)
    judged_on: Mapping[str, Choice] = field(default_factory=dict)
    directions: Mapping[str, Choice] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for decision records: each bound as `{"value", "source"}`."""

        def rules(section: Mapping[str, Mapping[str, Bound]]) -> dict[str, Any]:
            return {
                name: {key: {"value": b.value, "source": b.source} for key, b in bounds.items()}
                for name, bounds in sorted(section.items())
            }

        def flat(section: Mapping[str, Bound | Choice]) -> dict[str, Any]:
            return {k: {"value": b.value, "source": b.source} for k, b in section.items()}

        return {
            "version": 1,
            "evaluation": flat(self.evaluation),
            "metrics": rules(self.metrics),
            "champion": rules(self.champion),
            "staging": flat(self.staging),
            "judged_on": flat(dict(sorted(self.judged_on.items()))),
            "higher_is_better": flat(dict(sorted(self.directions.items()))),
        }

    def as_policy(self) -> ReleasePolicy:
        """The merged bounds without their sources."""
        return ReleasePolicy(
            metrics={n: {k: b.value for k, b in bs.items()} for n, bs in self.metrics.items()},
            champion={n: {k: b.value for k, b in bs.items()} for n, bs in self.champion.items()},
            staging={k: b.value for k, b in self.staging.items()},
            evaluation={k: b.value for k, b in self.evaluation.items()},
            judged_on={n: c.value for n, c in self.judged_on.items() if c.value != "point"},
            directions={n: c.value for n, c in self.directions.items() if c.source != BUILT_IN},
        )


def is_finite_number(value: Any) -> bool:
    """A JSON number that fits a float and is finite (a 400-digit integer is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _finite_number(value: Any, path: tuple[str, ...], origin: str) -> float:
    if not is_finite_number(value):
        text = repr(value)
        text = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
        raise _refuse(origin, path, f"{text} is not a finite number")
    return value


def _mapping(value: Any, path: tuple[str, ...], origin: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _refuse(origin, path, f"expected a mapping, got {type(value).__name__}")
    return value


def _reject_unknown(mapping: Mapping[str, Any], allowed: tuple[str, ...], path: tuple[str, ...], origin: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise _refuse(origin, (*path, str(key)), f"unknown key (allowed: {', '.join(allowed)})")


def is_metric_name(name: Any) -> bool:
    """Letters, digits and `_ . : @ / + -`, at most 128 characters, not starting with punctuation.

    A dot is allowed (`f1.macro`): evaluation.json may name such a metric, so a policy and a platform floor
    can gate on it. Matched whole: a name with a trailing newline is refused (`re.match` with `$` would not).
    """
    return isinstance(name, str) and METRIC_NAME_PATTERN.fullmatch(name) is not None


def _parse_rule(
    name: Any, raw: Any, path: tuple[str, ...], allowed: tuple[str, ...], settings: tuple[str, ...], origin: str
) -> dict[str, float]:
    """One rule's numeric bounds; its settings are checked by `_parse_settings`."""
    if not is_metric_name(name):
        raise _refuse(origin, path, f"{name!r} is not a valid metric name")
    if raw is None or not isinstance(raw, Mapping):
        raise _refuse(origin, path, f"expected a mapping with {' and/or '.join(allowed)}")
    _reject_unknown(raw, (*allowed, *settings), path, origin)
    bounds = {key: _finite_number(raw[key], (*path, key), origin) for key in allowed if key in raw}
    if not bounds:
        raise _refuse(origin, path, f"sets no bound (expected {' and/or '.join(allowed)})")
    return bounds


def _parse_rules(
    raw: Any,
    section: str,
    allowed: tuple[str, ...],
    settings: tuple[str, ...],
    origin: str,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]]]:
    """The section's numeric bounds, and its per-metric settings (`on`, `higher_is_better`)."""
    rules: dict[str, dict[str, float]] = {}
    chosen: dict[str, dict[str, Any]] = {}
    for name, bounds_raw in _mapping(raw, (section,), origin).items():
        rules[name] = _parse_rule(name, bounds_raw, (section, str(name)), allowed, settings, origin)
        chosen[name] = {key: bounds_raw[key] for key in settings if key in bounds_raw}
    return rules, chosen


def _check_direction(name: str, section: str, given: Any, origin: str) -> None:
    """A rule's `higher_is_better`: a boolean that agrees with the built-in table."""
    path = (section, name, "higher_is_better")
    if not isinstance(given, bool):
        raise _refuse(origin, path, f"{given!r} is not true or false")
    known = KNOWN_DIRECTIONS.get(name)
    if known is not None and known != given:
        raise _refuse(
            origin, path, f"{given} contradicts the built-in direction of {name} ({'higher' if known else 'lower'} is better)"
        )


def _parse_settings(
    metric_settings: Mapping[str, Mapping[str, Any]],
    champion_settings: Mapping[str, Mapping[str, Any]],
    origin: str,
) -> dict[str, str]:
    """`on` per metric; each `higher_is_better` a boolean that agrees with the built-in table."""
    judged_on: dict[str, str] = {}
    for name, settings in metric_settings.items():
        if "on" in settings:
            if settings["on"] not in JUDGED_ON:
                raise _refuse(origin, ("metrics", name, "on"), f"{settings['on']!r} is not point or interval")
            judged_on[name] = settings["on"]
    sections = (("metrics", metric_settings), ("champion", champion_settings))
    stated = [
        (section, name, s["higher_is_better"])
        for section, rules in sections
        for name, s in rules.items()
        if "higher_is_better" in s
    ]
    for section, name, given in stated:
        _check_direction(name, section, given, origin)
    _require_directions(sections, origin)
    return judged_on


def _require_directions(sections: tuple[tuple[str, Mapping[str, Mapping[str, Any]]], ...], origin: str) -> None:
    """A gated metric outside `KNOWN_DIRECTIONS` states `higher_is_better` in every rule that gates it.

    The gate never takes a direction from the report, so a policy that gates a
    metric whose direction nobody states is refused where it is written (the
    Build stage, the app's platform floors), not after training.
    """
    for section, rules in sections:
        for name, settings in rules.items():
            if name not in KNOWN_DIRECTIONS and "higher_is_better" not in settings:
                raise _refuse(
                    origin,
                    (section, name, "higher_is_better"),
                    f"required: {name} is not in the built-in direction table, so the policy says whether "
                    "higher is better (set higher_is_better: true or false)",
                )


def _one_direction_per_metric(
    metric_settings: Mapping[str, Mapping[str, Any]], champion_settings: Mapping[str, Mapping[str, Any]], origin: str
) -> dict[str, bool]:
    """One metric's `higher_is_better` is the same in `metrics` and `champion` (beyond a JSON Schema)."""
    directions: dict[str, bool] = {}
    for section, rules in (("metrics", metric_settings), ("champion", champion_settings)):
        for name, settings in rules.items():
            given = settings.get("higher_is_better")
            if given is None:
                continue
            if directions.get(name, given) != given:
                raise _refuse(origin, (section, name, "higher_is_better"), f"{given} contradicts metrics.{name}.higher_is_better")
            directions[name] = given
    return directions


def _is_integer(value: float) -> bool:
    return isinstance(value, int) or float(value).is_integer()


def _flat_section(raw: Any, section: str, keys: tuple[str, ...], origin: str) -> dict[str, float]:
    """A section of named numbers (`evaluation`, `staging`): known keys, finite values."""
    mapping = _mapping(raw, (section,), origin)
    _reject_unknown(mapping, keys, (section,), origin)
    return {key: _finite_number(mapping[key], (section, key), origin) for key in keys if key in mapping}


def _parse_evaluation(raw: Any, origin: str) -> dict[str, float]:
    """The `evaluation` section: rigour floors for the report."""
    values = _flat_section(raw, "evaluation", EVALUATION_KEYS, origin)
    confidence = values.get("min_confidence")
    if confidence is not None and not 0 < confidence < 1:
        raise _refuse(origin, ("evaluation", "min_confidence"), f"{confidence!r} must be within (0, 1)")
    for key, lowest in (("min_resamples", 1), ("min_holdout_rows", 1), ("max_holdout_reuse", 0)):
        if key in values and (not _is_integer(values[key]) or values[key] < lowest):
            raise _refuse(origin, ("evaluation", key), f"{values[key]!r} must be an integer >= {lowest}")
    return values


def _parse_image(raw: Any, origin: str) -> dict[str, str]:
    """The `image` section: the most severe scan finding the model's own image may carry."""
    mapping = _mapping(raw, ("image",), origin)
    _reject_unknown(mapping, ("max_severity",), ("image",), origin)
    if "max_severity" in mapping and mapping["max_severity"] not in IMAGE_SEVERITIES:
        raise _refuse(
            origin,
            ("image", "max_severity"),
            f"{str(mapping['max_severity'])[:40]!r} is not one of {', '.join(IMAGE_SEVERITIES)}",
        )
    return dict(mapping)


def _parse_staging(raw: Any, origin: str) -> dict[str, float]:
    """`staging`: `max_p95_latency_ms` > 0 (a 0 ms bound can never be met, so it is refused everywhere), an error rate in [0, 1]."""
    staging = _flat_section(raw, "staging", _STAGING_KEYS, origin)
    if "max_p95_latency_ms" in staging and staging["max_p95_latency_ms"] <= 0:
        raise _refuse(origin, ("staging", "max_p95_latency_ms"), f"{staging['max_p95_latency_ms']!r} must be > 0")
    if "max_error_rate" in staging and not 0 <= staging["max_error_rate"] <= 1:
        raise _refuse(origin, ("staging", "max_error_rate"), f"{staging['max_error_rate']!r} must be within [0, 1]")
    return staging


def _check_metric_bounds(metrics: Rules, origin: str) -> None:
    """`min`/`max` may be negative (r2 and other metrics can be); only `min` above `max` is refused."""
    for name, bounds in metrics.items():
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise _refuse(origin, ("metrics", name), f"min {bounds['min']!r} is above max {bounds['max']!r}: no value can pass")


def _check_champion_bounds(champion: Rules, origin: str) -> None:
    """Champion margins are never negative: `max_regression` >= 0, `min_improvement` > 0."""
    for name, bounds in champion.items():
        if bounds.get("max_regression", 0) < 0:
            raise _refuse(origin, ("champion", name, "max_regression"), f"{bounds['max_regression']!r} must be >= 0")
        if "min_improvement" in bounds and bounds["min_improvement"] <= 0:
            raise _refuse(origin, ("champion", name, "min_improvement"), f"{bounds['min_improvement']!r} must be > 0")


def _check_version(data: Any, origin: str) -> None:
    if not isinstance(data, Mapping):
        raise _refuse(origin, (), f"expected a mapping at the top level, got {type(data).__name__}")
    _reject_unknown(data, ("version", *_SECTIONS), (), origin)
    if "version" not in data:
        raise _refuse(origin, ("version",), "missing (expected 1)")
    version = data["version"]
    if isinstance(version, bool) or version not in SUPPORTED_POLICY_VERSIONS:
        raise _refuse(origin, ("version",), f"{version!r} is not a supported policy version (supported: 1)")


def parse_release_policy(data: Any, *, origin: str = "release-policy.json") -> ReleasePolicy:
    """Validate `data` (a parsed JSON/YAML document) as a version-1 policy.

    Raises `PolicyError` with `origin` and the exact key path of the first
    problem: unknown keys or versions, non-finite numbers, `max_regression < 0`,
    `min_improvement <= 0`, `min > max`, a rule with no bound, an `on` other
    than point/interval, a `higher_is_better` that contradicts the built-in
    table or the same metric's other rule, a gated metric outside that table
    without a `higher_is_better`, rigour floors out of range,
    `max_p95_latency_ms <= 0`. This one parser is what the functions, the Build
    stage (`release_tools.validate_policy`) and the app's configuration
    (`stacks/config.py`, platform floors) apply.
    """
    _check_version(data, origin)
    evaluation = _parse_evaluation(data.get("evaluation"), origin)
    metrics, metric_settings = _parse_rules(data.get("metrics"), "metrics", _METRIC_KEYS, _METRIC_SETTINGS, origin)
    champion, champion_settings = _parse_rules(data.get("champion"), "champion", _CHAMPION_KEYS, _CHAMPION_SETTINGS, origin)
    _check_champion_bounds(champion, origin)
    judged_on = _parse_settings(metric_settings, champion_settings, origin)
    staging, image = _parse_staging(data.get("staging"), origin), _parse_image(data.get("image"), origin)
    # Last, what a JSON Schema cannot state: a document refused for it is otherwise valid (tests/test_contracts_match_schemas.py).
    _check_metric_bounds(metrics, origin)
    directions = _one_direction_per_metric(metric_settings, champion_settings, origin)
    return ReleasePolicy(
        metrics=metrics,
        champion=champion,
        staging=staging,
        version=1,
        evaluation=evaluation,
        judged_on=judged_on,
        directions=directions,
        image=image,
    )


def _stricter(bound_name: str, floor: float | None, repository: float | None) -> Bound:
    if floor is None:
        assert repository is not None
        return Bound(repository, REPOSITORY)
    if repository is None:
        return Bound(floor, PLATFORM_FLOOR)
    repository_tighter = repository > floor if is_stricter_larger(bound_name) else repository < floor
    return Bound(repository, REPOSITORY) if repository_tighter else Bound(floor, PLATFORM_FLOOR)


def _merge_bounds(floor: Mapping[str, float], repository: Mapping[str, float]) -> dict[str, Bound]:
    keys = [*floor, *(k for k in repository if k not in floor)]
    return {key: _stricter(key, floor.get(key), repository.get(key)) for key in keys}


def _merge_rules(floors: Rules, repository: Rules) -> dict[str, dict[str, Bound]]:
    names = sorted({*floors, *repository})
    return {name: _merge_bounds(floors.get(name, {}), repository.get(name, {})) for name in names}


def _merge_judged_on(floors: ReleasePolicy, repository: ReleasePolicy) -> dict[str, Choice]:
    """Per metric with a bound: interval if either asks for it (interval is stricter than point)."""
    judged: dict[str, Choice] = {}
    for name in sorted({*floors.metrics, *repository.metrics}):
        if floors.judged_on.get(name) == "interval":
            judged[name] = Choice("interval", PLATFORM_FLOOR)
        elif repository.judged_on.get(name) == "interval":
            judged[name] = Choice("interval", REPOSITORY)
        else:
            judged[name] = Choice("point", PLATFORM_FLOOR if name in floors.judged_on else REPOSITORY)
    return judged


def _merge_directions(floors: ReleasePolicy, repository: ReleasePolicy) -> tuple[dict[str, Choice], list[str]]:
    names = sorted({*floors.metrics, *floors.champion, *repository.metrics, *repository.champion})
    directions: dict[str, Choice] = {}
    problems: list[str] = []
    for name in names:
        floor, mine = floors.directions.get(name), repository.directions.get(name)
        if floor is not None and mine is not None and floor != mine:
            problems.append(f"release-policy.json: {name}.higher_is_better is {mine}, but the platform floor says {floor}")
        if floor is not None:
            directions[name] = Choice(floor, PLATFORM_FLOOR)
        elif mine is not None:
            directions[name] = Choice(mine, REPOSITORY)
        elif name in KNOWN_DIRECTIONS:
            directions[name] = Choice(KNOWN_DIRECTIONS[name], BUILT_IN)
    return directions, problems


def merge(floors: ReleasePolicy | None, repository: ReleasePolicy) -> MergedPolicy:
    """Per rule the stricter bound wins; equal bounds are credited to the platform floor."""
    base = floors or ReleasePolicy()
    directions, problems = _merge_directions(base, repository)
    return MergedPolicy(
        metrics=_merge_rules(base.metrics, repository.metrics),
        champion=_merge_rules(base.champion, repository.champion),
        staging=_merge_bounds(base.staging, repository.staging),
        evaluation=_merge_bounds(base.evaluation, repository.evaluation),
        judged_on=_merge_judged_on(base, repository),
        directions=directions,
        problems=tuple(problems),
    )
