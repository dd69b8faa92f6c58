"""The three drift cases of issue 12: one verdict everywhere, chosen deliberately (docs/contracts.md).

Each document goes to every reader of a release policy: the app's synth-time validation of the
platform floors (`stacks/config.py`), the Build stage's validator (`release_tools.validate_policy`,
from YAML), the functions' parser of `release-policy.json` and of `PLATFORM_FLOORS`
(`contracts.release_policy`, `contracts.platform_floors`) and the published JSON Schema.

- `staging.max_p95_latency_ms: 0` is refused everywhere: no endpoint answers in 0 ms, so a 0 ms
  bound would deploy cleanly and then block every release at the staging gate;
- a metric named with a dot (`f1.macro`) is accepted everywhere: `evaluation.json` may name such a
  metric, so the platform must be able to floor it (a `-c` override cannot reach it key by key, since
  the context path splits on dots: set the floors in cdk.json, or override `platform_floors` whole);
- a negative `min`/`max` is accepted everywhere for metric bounds (r2 and log-likelihoods can be
  negative), while champion margins stay non-negative (`max_regression >= 0`, `min_improvement > 0`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from contracts.platform_floors import parse_platform_floors
from contracts.release_policy import PolicyError, parse_release_policy
from release_tools.validate_policy import PolicyError as BuildStageError
from release_tools.validate_policy import validate_policy_file
from stacks.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "release-policy.v1.schema.json"


def _verdicts(document: dict[str, Any], tmp_path: Path) -> dict[str, bool]:
    """Accepted (True) or refused (False), by each reader."""
    verdicts: dict[str, bool] = {}
    try:
        load_config({"ml-cicd": {"platform_floors": document}})
        verdicts["synth"] = True
    except ConfigError:
        verdicts["synth"] = False
    policy_file = tmp_path / "release-policy.yaml"
    policy_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    try:
        validate_policy_file(policy_file, SCHEMA_PATH)
        verdicts["build stage"] = True
    except BuildStageError:
        verdicts["build stage"] = False
    for reader, read in (
        ("functions: release-policy.json", lambda: parse_release_policy(document)),
        ("functions: PLATFORM_FLOORS", lambda: parse_platform_floors(json.dumps(document))),
    ):
        try:
            read()
            verdicts[reader] = True
        except PolicyError:
            verdicts[reader] = False
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    verdicts["JSON Schema"] = jsonschema.Draft202012Validator(schema).is_valid(document)
    return verdicts


DRIFT_CASES = [
    pytest.param({"version": 1, "staging": {"max_p95_latency_ms": 0}}, False, id="max_p95_latency_ms-0-refused"),
    pytest.param({"version": 1, "staging": {"max_p95_latency_ms": 0.5}}, True, id="max_p95_latency_ms-positive-accepted"),
    pytest.param(
        {"version": 1, "metrics": {"f1.macro": {"min": 0.5, "higher_is_better": True}}}, True, id="dotted-metric-name-accepted"
    ),
    pytest.param({"version": 1, "metrics": {"f1.macro": {"min": 0.5}}}, False, id="metric-without-direction-refused"),
    pytest.param(
        {"version": 1, "champion": {"f1.macro": {"max_regression": 0.01, "higher_is_better": True}}},
        True,
        id="dotted-champion-metric-accepted",
    ),
    pytest.param({"version": 1, "metrics": {"r2": {"min": -0.5}}}, True, id="negative-min-accepted"),
    pytest.param({"version": 1, "metrics": {"r2": {"min": -0.5, "max": -0.1}}}, True, id="negative-max-accepted"),
    pytest.param({"version": 1, "champion": {"r2": {"max_regression": -0.01}}}, False, id="negative-max_regression-refused"),
    pytest.param({"version": 1, "champion": {"r2": {"min_improvement": 0}}}, False, id="zero-min_improvement-refused"),
]


@pytest.mark.parametrize(("document", "accepted"), DRIFT_CASES)
def test_every_reader_gives_the_drift_case_one_verdict(document: dict[str, Any], accepted: bool, tmp_path: Path) -> None:
    verdicts = _verdicts(document, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, accepted), verdicts


def test_a_dotted_floor_reaches_the_functions_unchanged() -> None:
    floors = {"version": 1, "metrics": {"f1.macro": {"min": -0.5, "higher_is_better": True}}}
    config = load_config({"ml-cicd": {"platform_floors": floors}})
    policy = parse_platform_floors(config.platform_floors_json)
    assert policy is not None and policy.metrics == {"f1.macro": {"min": -0.5}}


def test_a_dotted_name_cannot_be_overridden_key_by_key_and_says_why() -> None:
    # The -c path `ml-cicd.platform_floors.metrics.f1.macro.min` splits on every dot: `macro` is read as a key of `f1`.
    with pytest.raises(ConfigError, match=r"ml-cicd\.platform_floors\.metrics\.f1\.macro: unknown key"):
        load_config({"ml-cicd": {}, "ml-cicd.platform_floors.metrics.f1.macro.min": "0.5"})
    dotted = {"f1.macro": {"min": 0.5, "higher_is_better": True}}
    whole = json.dumps({"version": 1, "metrics": dotted})
    assert load_config({"ml-cicd": {}, "ml-cicd.platform_floors": whole}).platform_floors["metrics"] == dotted


@pytest.mark.parametrize("empty", [None, {}])
def test_no_floors_mean_none_for_the_app_and_every_function(empty: Any) -> None:
    config = load_config({"ml-cicd": {"platform_floors": empty}})
    assert config.platform_floors_json == "{}"
    assert parse_platform_floors(config.platform_floors_json) is None


def test_one_model_package_arn_rule_for_records_the_evaluation_schema_the_endpoints_and_aws(synthesized) -> None:
    """botocore's `ModelPackageArn` pattern, once: `release.json`, the champion, the endpoint parameter agree."""
    import botocore.session

    from contracts.release_record import MODEL_PACKAGE_ARN_PATTERN

    service = botocore.session.get_session().get_service_model("sagemaker")
    aws = service.shape_for("ModelPackageArn").metadata["pattern"]
    assert aws.replace("[\\S]", "\\S").replace("\\-", "-") == MODEL_PACKAGE_ARN_PATTERN.pattern
    schema = json.loads((ROOT / "schemas" / "evaluation.v1.schema.json").read_text(encoding="utf-8"))
    champion_arn = schema["$defs"]["champion"]["properties"]["model_package_arn"]
    assert champion_arn["pattern"] == MODEL_PACKAGE_ARN_PATTERN.pattern
    for template in (synthesized.staging, synthesized.production):
        assert template["Parameters"]["ModelPackageArn"]["AllowedPattern"] == MODEL_PACKAGE_ARN_PATTERN.pattern
