"""The `contracts` package and the published JSON Schemas give generated documents one verdict.

Hypothesis builds valid release policies and `evaluation.json` documents, and changes half of them
in one place (a value replaced by text, null, a boolean, zero, a negative or a 400-digit number; a
key renamed to a bad metric name or a typo, added or dropped) to probe every rule at its edge. What `contracts` accepts the schema accepts,
and the other way round, except for the rules a JSON Schema cannot state (its description lists them:
`min <= max`, one direction per metric, `ci_low <= value <= ci_high`); those the contract refuses and
the schema passes. A weakened copy of a schema must make the check fail (the last tests), so the
check can fail. Bounded and derandomized: a few seconds, the same examples on every run.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts.evaluation_report import read_evaluation_report
from contracts.release_policy import KNOWN_DIRECTIONS, PolicyError, parse_release_policy

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
POLICY_SCHEMA = json.loads((SCHEMAS / "release-policy.v1.schema.json").read_text(encoding="utf-8"))
EVALUATION_SCHEMA = json.loads((SCHEMAS / "evaluation.v1.schema.json").read_text(encoding="utf-8"))
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# Names: valid ones (a dot, punctuation, the built-in table's) and refused ones. No newline: Python's `re`
# (which jsonschema uses for `pattern`) lets `$` match before a final newline, ECMA-262 (the schema's regex
# dialect) does not; the contract refuses it as ECMA does (`is_metric_name` matches the whole name).
VALID_NAMES = st.sampled_from(["roc_auc", "log_loss", "r2", "f1.macro", "custom", "ndcg@10", "a/b+c:d-e", "_x", "9"])
BAD_NAMES = st.sampled_from(["", "-x", ".x", "a b", "é", "x" * 129])
FINITE = st.one_of(
    st.sampled_from([0, 1, -1, 0.5, -0.5, 1.0, 1e308, -1e308]),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(-3, 5000),
)
ODD = st.sampled_from([None, True, False, "0.5", "point", "HIGH", [], {}, 10**400, -(10**400), 1000.5, 0, -1, 2, 1.0])
UNIT = st.floats(0, 1, exclude_min=True, exclude_max=True, width=32)
COUNT = st.integers(1, 10**6)
SEVERITY = st.sampled_from(["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"])
TYPO_KEYS = st.sampled_from(["mni", "p99", "min_rows", "extra", "stderr", "Value"])


def _paths(document: dict[str, Any], frozen: tuple[str, ...]) -> list[tuple[dict[str, Any], str]]:
    """Every (mapping, key) pair of a document, depth first, outside the top-level keys in `frozen`."""
    found: list[tuple[dict[str, Any], str]] = []
    stack: list[Any] = [value for key, value in document.items() if key not in frozen]
    found += [(document, key) for key in document if key not in frozen]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found += [(node, key) for key in node]
            stack += list(node.values())
    return found


@st.composite
def _mutated(
    draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], frozen: tuple[str, ...] = (), *, always: bool = False
) -> dict[str, Any]:
    """A valid document, and half of the time one change to it: a value replaced, a key renamed, added or dropped.

    `frozen`: top-level keys left alone, and no key renamed or added at the top level. `always`: every document changed.
    """
    document = copy.deepcopy(draw(valid))  # never change a value Hypothesis may hand out again
    paths = _paths(document, frozen)
    if not paths or (not always and draw(st.booleans())):
        return document
    mapping, key = draw(st.sampled_from(paths))
    actions = ["replace", "replace", "drop"] + (["rename", "add"] if mapping is not document or not frozen else [])
    action = draw(st.sampled_from(actions))
    if action == "replace":
        mapping[key] = draw(ODD | FINITE)
    elif action == "rename":
        mapping[draw(BAD_NAMES | TYPO_KEYS)] = mapping.pop(key)
    elif action == "add":
        mapping[draw(TYPO_KEYS | VALID_NAMES)] = draw(ODD | FINITE)
    else:
        del mapping[key]
    return document


def _bounds(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """At least one of `keys` (a rule sets at least one bound)."""
    return st.fixed_dictionaries({}, optional=keys).filter(bool)


def _directed(rules: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rules whose metric is outside the built-in table state its direction, as a valid policy must."""
    return {name: rule if name in KNOWN_DIRECTIONS else {**rule, "higher_is_better": True} for name, rule in rules.items()}


VALID_POLICIES = st.fixed_dictionaries(
    {"version": st.just(1)},
    optional={
        "metrics": st.dictionaries(
            VALID_NAMES,
            _bounds({"min": FINITE, "max": FINITE}).map(dict)
            | st.fixed_dictionaries({"min": FINITE}, optional={"on": st.sampled_from(["point", "interval"])}),
            max_size=3,
        ).map(_directed),
        "champion": st.dictionaries(
            VALID_NAMES, _bounds({"max_regression": st.floats(0, 1, width=32), "min_improvement": UNIT}), max_size=2
        ).map(_directed),
        "staging": st.fixed_dictionaries(
            {}, optional={"max_p95_latency_ms": st.integers(1, 10_000), "max_error_rate": st.floats(0, 1, width=32)}
        ),
        "evaluation": st.fixed_dictionaries(
            {},
            optional={
                "min_confidence": UNIT,
                "min_resamples": COUNT,
                "min_holdout_rows": COUNT,
                "max_holdout_reuse": st.integers(0, 100),
            },
        ),
        "image": st.fixed_dictionaries({}, optional={"max_severity": SEVERITY}),
    },
)
POLICIES = _mutated(VALID_POLICIES)


def _interval(low: float, high: float) -> st.SearchStrategy[dict[str, Any]]:
    return st.lists(st.floats(low, high, width=32), min_size=3, max_size=3, unique=True).map(sorted)


VALID_METRIC = st.builds(
    lambda triple, direction, with_interval: (
        {"value": triple[1], "higher_is_better": direction}
        | ({"ci_low": triple[0], "ci_high": triple[2]} if with_interval else {})
    ),
    _interval(-10, 10),
    st.booleans(),
    st.booleans(),
)
VALID_DELTA = _interval(-1, 1).map(lambda t: {"ci_low": t[0], "value": t[1], "ci_high": t[2]})
VALID_CHAMPIONS = st.none() | st.fixed_dictionaries(
    {
        "model_package_arn": st.just("arn:aws:sagemaker:eu-west-1:111122223333:model-package/example/3"),
        "metrics": st.dictionaries(VALID_NAMES, VALID_METRIC, min_size=1, max_size=2),
        "comparison": st.fixed_dictionaries(
            {
                "method": st.just("paired_bootstrap"),
                "resamples": COUNT,
                "confidence": UNIT,
                "deltas": st.dictionaries(VALID_NAMES, VALID_DELTA, max_size=2),
            }
        ),
    }
)
VALID_EVALUATIONS = st.fixed_dictionaries(
    {
        "schema_version": st.just(1),
        "problem_type": st.sampled_from(["binary_classification", "multiclass_classification", "regression"]),
        "model": st.just({"model_data_url": "s3://bucket/model.tar.gz", "source_revision": "3f2c9e1"}),
        "dataset": st.just({"name": "holdout", "rows": 171, "sha256": "9b1f"}),
        "metrics": st.dictionaries(VALID_NAMES, VALID_METRIC, min_size=1, max_size=3),
        "champion": VALID_CHAMPIONS,
    },
    optional={
        "intervals": st.fixed_dictionaries(
            {"confidence": UNIT, "resamples": COUNT}, optional={"method": st.just("percentile_bootstrap")}
        )
    },
)
# The gate's reader does not judge `model` and `dataset` (provenance: the Train stage checks them against its own
# run, with the schema) nor unknown top-level keys; the property holds on everything else.
EVALUATIONS = _mutated(VALID_EVALUATIONS, frozen=("model", "dataset"))

# The contract refuses these and a JSON Schema cannot (the schema's description says so).
_BEYOND_THE_POLICY_SCHEMA = ("is above max", "contradicts metrics.")
_BEYOND_THE_EVALUATION_SCHEMA = ("ci_low <= value <= ci_high does not hold", "the direction is ambiguous")


@functools.cache
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_text))


def _schema_accepts(schema: dict[str, Any], document: Any) -> bool:
    return _validator(json.dumps(schema, sort_keys=True)).is_valid(document)


def _policy_verdicts(document: Any, schema: dict[str, Any]) -> tuple[bool, bool]:
    """(contract accepts, schema accepts); a refusal beyond the schema counts as the schema's verdict."""
    try:
        parse_release_policy(document)
        contract = True
    except PolicyError as error:
        contract = any(marker in error.cause for marker in _BEYOND_THE_POLICY_SCHEMA)
    return contract, _schema_accepts(schema, document)


def _evaluation_verdicts(document: Any, schema: dict[str, Any]) -> tuple[bool, bool]:
    errors = read_evaluation_report(document).errors
    contract = all(any(m in error for m in _BEYOND_THE_EVALUATION_SCHEMA) for error in errors)
    return contract, _schema_accepts(schema, document)


@PROPERTY
@given(POLICIES)
def test_contracts_and_the_policy_schema_agree(document: dict[str, Any]) -> None:
    contract, schema = _policy_verdicts(document, POLICY_SCHEMA)
    assert contract == schema, document


@PROPERTY
@given(EVALUATIONS)
def test_contracts_and_the_evaluation_schema_agree(document: dict[str, Any]) -> None:
    contract, schema = _evaluation_verdicts(document, EVALUATION_SCHEMA)
    assert contract == schema, (document, read_evaluation_report(document).errors)


class _Disagreement(Exception):
    def __init__(self, document: Any) -> None:
        super().__init__("contract and schema disagree")
        self.document = document


def _first_disagreement(strategy: st.SearchStrategy[Any], verdicts: Any, schema: dict[str, Any]) -> Any:
    """The first generated document on which contract and `schema` disagree (no shrinking), or None."""

    @settings(PROPERTY, max_examples=1000, phases=[Phase.explicit, Phase.generate])
    @given(strategy)
    def search(document: Any) -> None:
        contract, by_schema = verdicts(document, schema)
        if contract != by_schema:
            raise _Disagreement(document)

    try:
        search()
    except _Disagreement as found:
        return found.document
    return None


def test_the_property_fails_against_a_weakened_policy_schema() -> None:
    weakened = copy.deepcopy(POLICY_SCHEMA)
    weakened["$defs"]["finite_number"] = {}  # any value where a bound belongs: "high", null, true...
    assert _first_disagreement(_mutated(VALID_POLICIES, always=True), _policy_verdicts, weakened) is not None


def test_the_property_fails_against_a_weakened_evaluation_schema() -> None:
    weakened = copy.deepcopy(EVALUATION_SCHEMA)
    weakened["$defs"]["finite_number"] = {}
    changed = _mutated(VALID_EVALUATIONS, frozen=("model", "dataset"), always=True)
    assert _first_disagreement(changed, _evaluation_verdicts, weakened) is not None


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "metrics": {"roc_auc": {"min": 0.9, "max": 0.8}}},
        {
            "version": 1,
            "metrics": {"c": {"min": 1, "higher_is_better": True}},
            "champion": {"c": {"max_regression": 0, "higher_is_better": False}},
        },
    ],
)
def test_what_the_schema_cannot_say_the_contract_refuses(document: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        parse_release_policy(document)
    assert jsonschema.Draft202012Validator(POLICY_SCHEMA).is_valid(document)
