"""contracts.release_policy: strict parsing with exact key paths, and merging where the stricter bound wins."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.release_policy import (
    PLATFORM_FLOOR,
    REPOSITORY,
    Bound,
    PolicyError,
    ReleasePolicy,
    merge,
    parse_release_policy,
)

CONTRACT_EXAMPLE = {
    "version": 1,
    "metrics": {"roc_auc": {"min": 0.95}, "log_loss": {"max": 0.25}},
    "champion": {"roc_auc": {"max_regression": 0.005}},
    "staging": {"max_p95_latency_ms": 200, "max_error_rate": 0.0},
}


def test_the_contract_example_parses() -> None:
    policy = parse_release_policy(CONTRACT_EXAMPLE)
    assert policy.metrics == {"roc_auc": {"min": 0.95}, "log_loss": {"max": 0.25}}
    assert policy.champion == {"roc_auc": {"max_regression": 0.005}}
    assert policy.staging == {"max_p95_latency_ms": 200, "max_error_rate": 0.0}
    assert parse_release_policy(policy.to_dict()) == policy


def test_sections_are_optional_and_null_means_empty() -> None:
    assert parse_release_policy({"version": 1, "champion": None}) == ReleasePolicy()


def with_change(path: str, value: object) -> dict:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in CONTRACT_EXAMPLE.items()}
    data["metrics"] = {k: dict(v) for k, v in CONTRACT_EXAMPLE["metrics"].items()}
    data["champion"] = {k: dict(v) for k, v in CONTRACT_EXAMPLE["champion"].items()}
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("version", 2, "version: 2 is not a supported policy version"),
        ("version", True, "version: True is not a supported policy version"),
        ("version", "1", "version: '1' is not a supported policy version"),
        ("version", DELETE, "version: missing"),
        ("gates", {}, "gates: unknown key"),
        (
            "metrics.roc_auc.mni",
            0.9,
            r"metrics\.roc_auc\.mni: unknown key \(allowed: min, max, on, higher_is_better\)",
        ),
        (
            "metrics.roc_auc.min",
            "0.95",
            r"metrics\.roc_auc\.min: '0\.95' is not a finite number",
        ),
        (
            "metrics.roc_auc.min",
            float("nan"),
            r"metrics\.roc_auc\.min: nan is not a finite number",
        ),
        (
            "metrics.roc_auc.min",
            None,
            r"metrics\.roc_auc\.min: None is not a finite number",
        ),
        (
            "metrics.roc_auc.min",
            False,
            r"metrics\.roc_auc\.min: False is not a finite number",
        ),
        ("metrics.roc_auc", {}, r"metrics\.roc_auc: sets no bound"),
        ("metrics.roc_auc", 0.95, r"metrics\.roc_auc: expected a mapping"),
        ("metrics.roc_auc.max", 0.5, r"metrics\.roc_auc: min 0\.95 is above max 0\.5"),
        (
            "metrics.bad name",
            {"min": 1},
            r"metrics\.bad name: 'bad name' is not a valid metric name",
        ),
        ("metrics", [1], r"metrics: expected a mapping, got list"),
        (
            "champion.roc_auc.max_regression",
            -0.1,
            r"champion\.roc_auc\.max_regression: -0\.1 must be >= 0",
        ),
        (
            "champion.roc_auc.min_improvement",
            0,
            r"champion\.roc_auc\.min_improvement: 0 must be > 0",
        ),
        (
            "champion.roc_auc.min",
            0.9,
            r"champion\.roc_auc\.min: unknown key \(allowed: max_regression, min_improvement, higher_is_better\)",
        ),
        (
            "staging.max_p95_latency_ms",
            0,
            r"staging\.max_p95_latency_ms: 0 must be > 0",
        ),
        (
            "staging.max_error_rate",
            1.5,
            r"staging\.max_error_rate: 1\.5 must be within \[0, 1\]",
        ),
        ("staging.p99", 1, r"staging\.p99: unknown key"),
    ],
)
def test_bad_policies_are_rejected_with_the_key_path(path: str, value: object, message: str) -> None:
    with pytest.raises(PolicyError, match="^release-policy.json: " + message):
        parse_release_policy(with_change(path, value))


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(PolicyError, match="expected a mapping at the top level, got list"):
        parse_release_policy([])


def test_origin_names_the_source() -> None:
    with pytest.raises(PolicyError, match="^PLATFORM_FLOORS: version"):
        parse_release_policy({"version": 3}, origin="PLATFORM_FLOORS")


def test_merge_takes_the_stricter_bound_and_records_its_source() -> None:
    floors = parse_release_policy(
        {
            "version": 1,
            "metrics": {
                "roc_auc": {"min": 0.9},
                "log_loss": {"max": 0.3},
                "recall": {"min": 0.5},
            },
            "champion": {"roc_auc": {"max_regression": 0.01, "min_improvement": 0.002}},
            "staging": {"max_p95_latency_ms": 300, "max_error_rate": 0.01},
        }
    )
    merged = merge(floors, parse_release_policy(CONTRACT_EXAMPLE))
    assert merged.metrics["roc_auc"] == {"min": Bound(0.95, REPOSITORY)}
    assert merged.metrics["log_loss"] == {"max": Bound(0.25, REPOSITORY)}
    assert merged.metrics["recall"] == {"min": Bound(0.5, PLATFORM_FLOOR)}
    assert merged.champion["roc_auc"] == {
        "max_regression": Bound(0.005, REPOSITORY),
        "min_improvement": Bound(0.002, PLATFORM_FLOOR),
    }
    assert merged.staging == {
        "max_p95_latency_ms": Bound(200, REPOSITORY),
        "max_error_rate": Bound(0.0, REPOSITORY),
    }


def test_the_repository_cannot_loosen_a_floor() -> None:
    floors = parse_release_policy(
        {
            "version": 1,
            "metrics": {"roc_auc": {"min": 0.97}},
            "staging": {"max_error_rate": 0.0},
        }
    )
    repository = parse_release_policy(
        {
            "version": 1,
            "metrics": {"roc_auc": {"min": 0.5}},
            "staging": {"max_error_rate": 0.2},
        }
    )
    merged = merge(floors, repository)
    assert merged.metrics["roc_auc"]["min"] == Bound(0.97, PLATFORM_FLOOR)
    assert merged.staging["max_error_rate"] == Bound(0.0, PLATFORM_FLOOR)


def test_equal_bounds_are_credited_to_the_floor() -> None:
    policy = parse_release_policy({"version": 1, "metrics": {"a": {"min": 0.9, "higher_is_better": True}}})
    assert merge(policy, policy).metrics["a"]["min"].source == PLATFORM_FLOOR


def test_no_floors() -> None:
    merged = merge(None, parse_release_policy(CONTRACT_EXAMPLE))
    assert merged.as_policy() == parse_release_policy(CONTRACT_EXAMPLE)
    assert merged.to_dict()["metrics"]["roc_auc"] == {"min": {"value": 0.95, "source": REPOSITORY}}


# Property-based: merging is never looser than either side, and it never drops a bound.
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-9, max_value=1e3, allow_nan=False, allow_infinity=False)
names = st.sampled_from(["roc_auc", "log_loss", "f1", "rmse"])


@st.composite
def policies(draw: st.DrawFn) -> ReleasePolicy:
    metrics = {}
    for name in draw(st.sets(names)):
        low, high = sorted(draw(st.lists(finite, min_size=2, max_size=2)))
        bounds = draw(st.sampled_from([{"min": low}, {"max": high}, {"min": low, "max": high}]))
        metrics[name] = bounds
    champion = {}
    for name in draw(st.sets(names)):
        kind = draw(st.sampled_from(["regression", "improvement", "both"]))
        bounds = {}
        if kind in ("regression", "both"):
            bounds["max_regression"] = abs(draw(finite))
        if kind in ("improvement", "both"):
            bounds["min_improvement"] = draw(positive)
        champion[name] = bounds
    staging = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "max_p95_latency_ms": positive,
                "max_error_rate": st.floats(0, 1),
            },
        )
    )
    return parse_release_policy({"version": 1, "metrics": metrics, "champion": champion, "staging": staging})


def _is_not_looser(bound_name: str, merged: float, side: float) -> bool:
    return merged >= side if bound_name in ("min", "min_improvement") else merged <= side


@given(policies(), policies())
def test_merge_is_never_looser_than_either_side(floors: ReleasePolicy, repository: ReleasePolicy) -> None:
    merged = merge(floors, repository)
    for side in (floors, repository):
        for section in ("metrics", "champion"):
            for name, bounds in getattr(side, section).items():
                for key, value in bounds.items():
                    assert _is_not_looser(key, getattr(merged, section)[name][key].value, value)
        for key, value in side.staging.items():
            assert _is_not_looser(key, merged.staging[key].value, value)


@given(policies(), policies())
def test_merged_bounds_come_from_the_side_they_name(floors: ReleasePolicy, repository: ReleasePolicy) -> None:
    merged = merge(floors, repository)
    for name, bounds in merged.metrics.items():
        for key, bound in bounds.items():
            side = floors if bound.source == PLATFORM_FLOOR else repository
            assert math.isclose(side.metrics[name][key], bound.value, rel_tol=0, abs_tol=0)


# The rigour floors (`evaluation`) and `on: interval` merge the same way: never looser than either side.
rigour = st.fixed_dictionaries(
    {},
    optional={
        "min_confidence": st.floats(0.01, 0.99),
        "min_resamples": st.integers(1, 10_000),
        "min_holdout_rows": st.integers(1, 10_000),
        "max_holdout_reuse": st.integers(0, 100),
    },
)
judged = st.dictionaries(st.sampled_from(["roc_auc", "log_loss", "accuracy"]), st.sampled_from(["point", "interval", None]))


def _rigour_policy(evaluation: dict[str, float], on: dict[str, str | None]) -> ReleasePolicy:
    metrics = {
        name: {"max" if name == "log_loss" else "min": 0.5, **({"on": choice} if choice else {})} for name, choice in on.items()
    }
    return parse_release_policy({"version": 1, "evaluation": evaluation, "metrics": metrics})


@given(rigour, judged, rigour, judged)
def test_rigour_floors_and_interval_judging_are_never_loosened_by_the_merge(
    floor_rigour: dict, floor_on: dict, repository_rigour: dict, repository_on: dict
) -> None:
    floors, repository = _rigour_policy(floor_rigour, floor_on), _rigour_policy(repository_rigour, repository_on)
    merged = merge(floors, repository)
    for side in (floors, repository):
        for key, value in side.evaluation.items():  # min_* floors: larger is stricter; max_holdout_reuse: smaller
            merged_value = merged.evaluation[key].value
            assert merged_value <= value if key == "max_holdout_reuse" else merged_value >= value
        for name, choice in side.judged_on.items():
            if choice == "interval":
                assert merged.judged_on[name].value == "interval"


@pytest.mark.parametrize(
    ("key", "floor", "looser"),
    [("min_confidence", 0.95, 0.5), ("min_resamples", 1000, 10), ("min_holdout_rows", 150, 40), ("max_holdout_reuse", 10, 50)],
)
def test_the_repository_cannot_loosen_a_rigour_floor(key: str, floor: float, looser: float) -> None:
    merged = merge(
        parse_release_policy({"version": 1, "evaluation": {key: floor}}),
        parse_release_policy({"version": 1, "evaluation": {key: looser}}),
    )
    assert merged.evaluation[key] == Bound(floor, PLATFORM_FLOOR)


def test_the_repository_cannot_turn_an_interval_floor_back_to_the_point_value() -> None:
    floors = parse_release_policy({"version": 1, "metrics": {"roc_auc": {"min": 0.9, "on": "interval"}}})
    repository = parse_release_policy({"version": 1, "metrics": {"roc_auc": {"min": 0.97, "on": "point"}}})
    merged = merge(floors, repository)
    assert merged.judged_on["roc_auc"].value == "interval" and merged.judged_on["roc_auc"].source == PLATFORM_FLOOR
    assert merged.metrics["roc_auc"]["min"] == Bound(0.97, REPOSITORY)
