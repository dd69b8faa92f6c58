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
from typing import Any

__all__ = [
    "METRIC_NAME_PATTERN",
    "PLATFORM_FLOOR",
    "REPOSITORY",
    "SUPPORTED_POLICY_VERSIONS",
    "Bound",
    "MergedPolicy",
    "PolicyError",
    "ReleasePolicy",
    "is_stricter_larger",
    "merge",
    "parse_release_policy",
]

SUPPORTED_POLICY_VERSIONS = (1,)
PLATFORM_FLOOR = "platform floor"
REPOSITORY = "repository"
METRIC_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/+-]{0,127}$")

_SECTIONS = ("metrics", "champion", "staging")
_METRIC_KEYS = ("min", "max")
_CHAMPION_KEYS = ("max_regression", "min_improvement")
_STAGING_KEYS = ("max_p95_latency_ms", "max_error_rate")
_LARGER_IS_STRICTER = frozenset({"min", "min_improvement"})

Rules = Mapping[str, Mapping[str, float]]


class PolicyError(ValueError):
    """A policy is malformed; the message names the file and the exact key path."""


def is_stricter_larger(bound_name: str) -> bool:
    """True for lower bounds (`min`, `min_improvement`), where a larger value is stricter."""
    return bound_name in _LARGER_IS_STRICTER


@dataclass(frozen=True)
class ReleasePolicy:
    """A validated policy: `metrics`, `champion` (per metric) and `staging` bounds."""

    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    champion: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    staging: Mapping[str, float] = field(default_factory=dict)
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The policy in its JSON shape."""
        return {
            "version": self.version,
            "metrics": {name: dict(bounds) for name, bounds in self.metrics.items()},
            "champion": {name: dict(bounds) for name, bounds in self.champion.items()},
            "staging": dict(self.staging),
        }


@dataclass(frozen=True)
class Bound:
    """One merged bound and who set it (`PLATFORM_FLOOR` or `REPOSITORY`)."""

    value: float
    source: str


@dataclass(frozen=True)
class MergedPolicy:
    """Floors and repository policy combined; every bound carries its source."""

    metrics: Mapping[str, Mapping[str, Bound]] = field(default_factory=dict)
    champion: Mapping[str, Mapping[str, Bound]] = field(default_factory=dict)
    staging: Mapping[str, Bound] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for decision records: each bound as `{"value", "source"}`."""

        def rules(section: Mapping[str, Mapping[str, Bound]]) -> dict[str, Any]:
            return {
                name: {
                    key: {"value": b.value, "source": b.source}
                    for key, b in bounds.items()
                }
                for name, bounds in sorted(section.items())
            }

        return {
            "version": 1,
            "metrics": rules(self.metrics),
            "champion": rules(self.champion),
            "staging": {
                key: {"value": b.value, "source": b.source}
                for key, b in self.staging.items()
            },
        }

    def as_policy(self) -> ReleasePolicy:
        """The merged bounds without their sources."""
        return ReleasePolicy(
            metrics={
                n: {k: b.value for k, b in bs.items()} for n, bs in self.metrics.items()
            },
            champion={
                n: {k: b.value for k, b in bs.items()}
                for n, bs in self.champion.items()
            },
            staging={k: b.value for k, b in self.staging.items()},
        )


def _finite_number(value: Any, path: str, origin: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
    ):
        raise PolicyError(f"{origin}: {path}: {value!r} is not a finite number")
    return value


def _mapping(value: Any, path: str, origin: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PolicyError(
            f"{origin}: {path}: expected a mapping, got {type(value).__name__}"
        )
    return value


def _reject_unknown(
    mapping: Mapping[str, Any], allowed: tuple[str, ...], path: str, origin: str
) -> None:
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise PolicyError(
                f"{origin}: {where}: unknown key (allowed: {', '.join(allowed)})"
            )


def _parse_rules(
    raw: Any, section: str, allowed: tuple[str, ...], origin: str
) -> dict[str, dict[str, float]]:
    rules: dict[str, dict[str, float]] = {}
    for name, bounds_raw in _mapping(raw, section, origin).items():
        path = f"{section}.{name}"
        if not isinstance(name, str) or not METRIC_NAME_PATTERN.match(name):
            raise PolicyError(f"{origin}: {path}: {name!r} is not a valid metric name")
        if bounds_raw is None or not isinstance(bounds_raw, Mapping):
            raise PolicyError(
                f"{origin}: {path}: expected a mapping with {' and/or '.join(allowed)}"
            )
        _reject_unknown(bounds_raw, allowed, path, origin)
        bounds = {
            key: _finite_number(bounds_raw[key], f"{path}.{key}", origin)
            for key in allowed
            if key in bounds_raw
        }
        if not bounds:
            raise PolicyError(
                f"{origin}: {path}: sets no bound (expected {' and/or '.join(allowed)})"
            )
        rules[name] = bounds
    return rules


def parse_release_policy(
    data: Any, *, origin: str = "release-policy.json"
) -> ReleasePolicy:
    """Validate `data` (a parsed JSON/YAML document) as a version-1 policy.

    Raises `PolicyError` with `origin` and the exact key path of the first
    problem: unknown keys or versions, non-finite numbers, `max_regression < 0`,
    `min_improvement <= 0`, `min > max`, a rule with no bound.
    """
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"{origin}: expected a mapping at the top level, got {type(data).__name__}"
        )
    _reject_unknown(data, ("version", *_SECTIONS), "", origin)
    if "version" not in data:
        raise PolicyError(f"{origin}: version: missing (expected 1)")
    version = data["version"]
    if isinstance(version, bool) or version not in SUPPORTED_POLICY_VERSIONS:
        raise PolicyError(
            f"{origin}: version: {version!r} is not a supported policy version (supported: 1)"
        )

    metrics = _parse_rules(data.get("metrics"), "metrics", _METRIC_KEYS, origin)
    for name, bounds in metrics.items():
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise PolicyError(
                f"{origin}: metrics.{name}: min {bounds['min']!r} is above max {bounds['max']!r}: no value can pass"
            )

    champion = _parse_rules(data.get("champion"), "champion", _CHAMPION_KEYS, origin)
    for name, bounds in champion.items():
        if bounds.get("max_regression", 0) < 0:
            raise PolicyError(
                f"{origin}: champion.{name}.max_regression: {bounds['max_regression']!r} must be >= 0"
            )
        if "min_improvement" in bounds and bounds["min_improvement"] <= 0:
            raise PolicyError(
                f"{origin}: champion.{name}.min_improvement: {bounds['min_improvement']!r} must be > 0"
            )

    staging_raw = _mapping(data.get("staging"), "staging", origin)
    _reject_unknown(staging_raw, _STAGING_KEYS, "staging", origin)
    staging = {
        key: _finite_number(staging_raw[key], f"staging.{key}", origin)
        for key in _STAGING_KEYS
        if key in staging_raw
    }
    if "max_p95_latency_ms" in staging and staging["max_p95_latency_ms"] <= 0:
        raise PolicyError(
            f"{origin}: staging.max_p95_latency_ms: {staging['max_p95_latency_ms']!r} must be > 0"
        )
    if "max_error_rate" in staging and not 0 <= staging["max_error_rate"] <= 1:
        raise PolicyError(
            f"{origin}: staging.max_error_rate: {staging['max_error_rate']!r} must be within [0, 1]"
        )

    return ReleasePolicy(metrics=metrics, champion=champion, staging=staging, version=1)


def _stricter(bound_name: str, floor: float | None, repository: float | None) -> Bound:
    if floor is None:
        assert repository is not None
        return Bound(repository, REPOSITORY)
    if repository is None:
        return Bound(floor, PLATFORM_FLOOR)
    repository_tighter = (
        repository > floor if is_stricter_larger(bound_name) else repository < floor
    )
    return (
        Bound(repository, REPOSITORY)
        if repository_tighter
        else Bound(floor, PLATFORM_FLOOR)
    )


def _merge_bounds(
    floor: Mapping[str, float], repository: Mapping[str, float]
) -> dict[str, Bound]:
    keys = [*floor, *(k for k in repository if k not in floor)]
    return {key: _stricter(key, floor.get(key), repository.get(key)) for key in keys}


def _merge_rules(floors: Rules, repository: Rules) -> dict[str, dict[str, Bound]]:
    names = sorted({*floors, *repository})
    return {
        name: _merge_bounds(floors.get(name, {}), repository.get(name, {}))
        for name in names
    }


def merge(floors: ReleasePolicy | None, repository: ReleasePolicy) -> MergedPolicy:
    """Per rule the stricter bound wins; equal bounds are credited to the platform floor."""
    base = floors or ReleasePolicy()
    return MergedPolicy(
        metrics=_merge_rules(base.metrics, repository.metrics),
        champion=_merge_rules(base.champion, repository.champion),
        staging=_merge_bounds(base.staging, repository.staging),
    )
