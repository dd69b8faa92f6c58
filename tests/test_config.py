"""Configuration: defaults, `-c` overrides, and a one-line refusal of every bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stacks.config import AppConfig, ConfigError, load_config
from tests.synthesis_fixtures import ROOT, cdk_json_context


def test_cdk_json_configuration_is_valid_and_complete() -> None:
    config = load_config(cdk_json_context())
    assert config.project_name == "ml-cicd"
    assert config.staging.mode == "serverless"
    assert config.require_manual_approval is True
    assert config.platform_floors["metrics"]["roc_auc"] == {"min": 0.9, "on": "interval"}
    assert config.platform_floors["evaluation"]["min_confidence"] == 0.95
    assert config.pipeline_env.account is None and config.pipeline_env.region is None


def test_empty_context_gives_the_documented_defaults() -> None:
    assert load_config({}) == AppConfig()


def test_dotted_overrides_are_parsed_as_json() -> None:
    config = load_config(
        {
            "ml-cicd": {"require_manual_approval": True},
            "ml-cicd.require_manual_approval": "false",
            "ml-cicd.production.instance_count": "3",
            "ml-cicd.staging.mode": "instances",
            "ml-cicd.environments.production.region": "eu-west-1",
        }
    )
    assert config.require_manual_approval is False
    assert config.production.instance_count == 3
    assert config.staging.mode == "instances"
    assert config.production_env.region == "eu-west-1"


def test_the_configuration_object_is_frozen() -> None:
    with pytest.raises(AttributeError):
        AppConfig().project_name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"platform_floors": {"champion": {"roc_auc": {"max_regression": -0.01}}}},
            "ml-cicd.platform_floors.champion.roc_auc.max_regression: -0.01 must be >= 0",
        ),
        (
            {"platform_floors": {"champion": {"roc_auc": {"min_improvement": 0}}}},
            "ml-cicd.platform_floors.champion.roc_auc.min_improvement",
        ),
        ({"platform_floors": {"staging": {"max_p95_latency_ms": -1}}}, "ml-cicd.platform_floors.staging.max_p95_latency_ms"),
        ({"platform_floors": {"staging": {"max_error_rate": 2}}}, "ml-cicd.platform_floors.staging.max_error_rate"),
        ({"platform_floors": {"metrics": {"roc_auc": {"min": "high"}}}}, "ml-cicd.platform_floors.metrics.roc_auc.min"),
        (
            {"platform_floors": {"metrics": {"roc_auc": {"at_least": 0.9}}}},
            "ml-cicd.platform_floors.metrics.roc_auc.at_least: unknown key",
        ),
        ({"platform_floors": {"metrics": []}}, "ml-cicd.platform_floors.metrics"),
        ({"platform_floors": {"version": 2}}, "ml-cicd.platform_floors.version"),
        (
            {"training_instance_type": "m5.large"},
            "ml-cicd.training_instance_type: 'm5.large' is not allowed; allowed: a SageMaker instance type",
        ),
        ({"production": {"instance_type": "c5.xlarge"}}, "ml-cicd.production.instance_type"),
        ({"require_manual_approval": "yes"}, "ml-cicd.require_manual_approval: 'yes' is not a boolean; allowed: true or false"),
        ({"use_spot_training": 1}, "ml-cicd.use_spot_training: 1 is not a boolean"),
        ({"approvals": 2}, "ml-cicd.approvals: unknown key; allowed keys:"),
        ({"staging": {"memory": 2048}}, "ml-cicd.staging.memory: unknown key"),
        ({"staging": {"mode": "lambda"}}, "ml-cicd.staging.mode: 'lambda' is not allowed; allowed: serverless, instances"),
        ({"staging": {"serverless_memory_mb": 1000}}, "ml-cicd.staging.serverless_memory_mb"),
        ({"canary": {"size_percent": 0}}, "ml-cicd.canary.size_percent: 0 is out of range"),
        ({"canary": {"traffic_routing": "all_at_once"}}, "ml-cicd.canary.traffic_routing"),
        ({"production": {"min_capacity": 5, "max_capacity": 2}}, "ml-cicd.production.min_capacity"),
        ({"notification_email": "not-an-address"}, "ml-cicd.notification_email"),
        ({"project_name": "ML_CICD"}, "ml-cicd.project_name"),
        ({"log_retention_days": 10}, "ml-cicd.log_retention_days"),
        ({"environments": {"staging": {"account": "123"}}}, "ml-cicd.environments.staging.account"),
        ({"deployment_window": "9-17"}, "ml-cicd.deployment_window"),
    ],
)
def test_bad_values_are_refused_with_a_one_line_message_naming_the_key(overrides: dict, expected: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"ml-cicd": overrides})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("invalid configuration ml-cicd")
    assert "allowed" in message
    if expected:
        assert expected in message


def test_a_metric_floor_may_be_any_finite_number_but_not_nan() -> None:
    assert load_config({"ml-cicd": {"platform_floors": {"metrics": {"log_loss": {"max": 0.3}}}}})
    with pytest.raises(ConfigError, match="not a finite number"):
        load_config({"ml-cicd": {"platform_floors": {"metrics": {"log_loss": {"max": float("nan")}}}}})


def test_the_app_exits_non_zero_with_one_line_and_no_traceback_on_bad_configuration() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), "ml-cicd.use_spot_training": "yes"})}
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: invalid configuration ml-cicd.use_spot_training: 'yes' is not a boolean; allowed: true or false"]
