"""Production deployment behaviour against what AWS checks: the bake, the rollback alarms, who can read them,
and a failed first creation (issues 11 and 19). The deployment window: tests/test_deployment_window.py."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from policy_sentry.querying.actions import get_action_data

from stacks.components.rollback_alarms import MAX_5XX_ERROR_RATE_PERCENT, MIN_INVOCATIONS_PER_MINUTE, PERIOD_SECONDS
from stacks.config import MAX_DEPLOYMENT_TIMEOUT_SECONDS, MAX_WAIT_SECONDS
from tests.synthesis_fixtures import SynthesizedApp, cdk_json_config

# Values the templates carry from the configuration are read from it (cdk.json), never restated here.
CONFIG = cdk_json_config()
PRODUCTION_STACK = f"{CONFIG.project_name}-production-endpoint"


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == kind}


def _production_stage(synthesized: SynthesizedApp) -> dict[str, Any]:
    (pipeline,) = _of_type(synthesized.pipeline, "AWS::CodePipeline::Pipeline").values()
    (stage,) = [s for s in pipeline["Stages"] if s["Name"] == "DeployProd"]
    return stage


def _deployment_config(synthesized: SynthesizedApp) -> dict[str, Any]:
    (endpoint,) = _of_type(synthesized.production, "AWS::SageMaker::Endpoint").values()
    return endpoint["DeploymentConfig"]


def _blue_green_shape() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker").shape_for("BlueGreenUpdatePolicy")


# -- finding 5: the bake is SageMaker's, every wait within SageMaker's limits ------------------------------


def test_the_bake_is_sagemakers_termination_wait_with_the_rollback_alarms_armed(synthesized: SynthesizedApp) -> None:
    policy = _deployment_config(synthesized)["BlueGreenUpdatePolicy"]
    assert policy["TerminationWaitInSeconds"] == CONFIG.canary.bake_minutes * 60
    assert _deployment_config(synthesized)["AutoRollbackConfiguration"]["Alarms"]


def test_the_blue_green_policy_is_within_the_service_models_limits(synthesized: SynthesizedApp) -> None:
    policy = _deployment_config(synthesized)["BlueGreenUpdatePolicy"]
    members = _blue_green_shape().members
    for name in ("TerminationWaitInSeconds", "MaximumExecutionTimeoutInSeconds"):
        limits = members[name].metadata
        assert limits["min"] <= policy[name] <= limits["max"], name
    wait = members["TrafficRoutingConfiguration"].members["WaitIntervalInSeconds"].metadata
    assert wait["min"] <= policy["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"] <= wait["max"]
    # SageMaker: the timeout "should be larger than the total waiting time specified in TerminationWaitInSeconds
    # and WaitIntervalInSeconds" (a canary waits after each of its two steps).
    waits = 2 * policy["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"] + policy["TerminationWaitInSeconds"]
    assert policy["MaximumExecutionTimeoutInSeconds"] > waits


def test_the_configuration_limits_are_the_service_models() -> None:
    members = _blue_green_shape().members
    assert members["TerminationWaitInSeconds"].metadata["max"] == MAX_WAIT_SECONDS
    assert members["TrafficRoutingConfiguration"].members["WaitIntervalInSeconds"].metadata["max"] == MAX_WAIT_SECONDS
    assert members["MaximumExecutionTimeoutInSeconds"].metadata["max"] == MAX_DEPLOYMENT_TIMEOUT_SECONDS


def test_production_has_no_stage_condition_with_undocumented_semantics(synthesized: SynthesizedApp) -> None:
    stage = _production_stage(synthesized)
    assert stage["OnFailure"]["Result"] == "ROLLBACK"
    assert "OnSuccess" not in stage
    (pipeline,) = _of_type(synthesized.pipeline, "AWS::CodePipeline::Pipeline").values()
    rules = [
        rule
        for s in pipeline["Stages"]
        for key in ("BeforeEntry", "OnSuccess", "OnFailure")
        for condition in s.get(key, {}).get("Conditions", [])
        for rule in condition["Rules"]
    ]
    # Should a CloudWatchAlarm rule come back, it must carry every parameter the rule reference lists.
    for rule in rules:
        if rule["RuleTypeId"]["Provider"] == "CloudWatchAlarm":
            assert {"AlarmName", "AlarmStates"} <= set(rule["Configuration"])


def test_production_alarms_are_defined_once_in_the_endpoint_stack(synthesized: SynthesizedApp) -> None:
    assert not _of_type(synthesized.pipeline, "AWS::CloudWatch::Alarm")
    assert not _of_type(synthesized.pipeline, "AWS::CloudWatch::CompositeAlarm")
    assert not _of_type(synthesized.production, "AWS::CloudWatch::CompositeAlarm")


# -- finding 11: the alarms reflect model failure -----------------------------------------------------------


def _rollback_alarms(synthesized: SynthesizedApp) -> list[dict[str, Any]]:
    names = [a["AlarmName"]["Ref"] for a in _deployment_config(synthesized)["AutoRollbackConfiguration"]["Alarms"]]
    return [synthesized.production["Resources"][name]["Properties"] for name in names]


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    if "MetricName" in alarm:
        return {alarm["MetricName"]}
    return {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}


def test_client_errors_never_roll_a_deployment_back(synthesized: SynthesizedApp) -> None:
    used = set().union(*(_metric_names(alarm) for alarm in _rollback_alarms(synthesized)))
    assert "InvocationModelErrors" not in used  # counts every non-2XX answer, 4XX included
    assert "Invocation4XXErrors" not in used
    assert used == {"Invocation5XXErrors", "Invocations", "ModelLatency"}


def test_the_error_alarm_is_a_5xx_rate_over_a_minimum_of_requests(synthesized: SynthesizedApp) -> None:
    (rate,) = [a for a in _rollback_alarms(synthesized) if "Metrics" in a]
    (expression,) = [q for q in rate["Metrics"] if q.get("ReturnData")]
    assert expression["Expression"] == f"IF(invocations >= {MIN_INVOCATIONS_PER_MINUTE}, 100 * errors / invocations, 0)"
    stats = {
        q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"], q["MetricStat"]["Period"])
        for q in rate["Metrics"]
        if "MetricStat" in q
    }
    assert PERIOD_SECONDS == 60  # one-minute datapoints: the alarms count minutes
    assert stats == {
        "errors": ("Invocation5XXErrors", "Sum", PERIOD_SECONDS),
        "invocations": ("Invocations", "Sum", PERIOD_SECONDS),
    }
    assert rate["Threshold"] == MAX_5XX_ERROR_RATE_PERCENT > 0
    assert rate["EvaluationPeriods"] == rate["DatapointsToAlarm"] >= 2
    assert rate["TreatMissingData"] == "notBreaching"


def test_the_latency_alarm_compares_microseconds(synthesized: SynthesizedApp) -> None:
    (latency,) = [a for a in _rollback_alarms(synthesized) if a.get("MetricName") == "ModelLatency"]
    assert latency["ExtendedStatistic"] == "p99" and latency["Period"] == PERIOD_SECONDS
    assert latency["Threshold"] == CONFIG.production.p99_latency_alarm_ms * 1000  # ModelLatency is in microseconds


# -- issue 19: whoever evaluates the alarms can read them ---------------------------------------------------


def _statement_resources(synthesized: SynthesizedApp, role_prefix: str, action: str) -> list[str]:
    """The resources of `action` in the role's policies, with the account's pseudo parameters filled in."""
    names = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"}
    found = []
    for policy in _of_type(synthesized.pipeline, "AWS::IAM::Policy").values():
        if not any(r["Ref"].startswith(role_prefix) for r in policy.get("Roles", [])):
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] == "Allow" and action in actions:
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                for resource in resources:
                    parts = resource["Fn::Join"][1] if isinstance(resource, dict) else [resource]
                    found.append("".join(names[p["Ref"]] if isinstance(p, dict) else p for p in parts))
    return found


def _alarm_arn_as_iam_names_it(alarm_name: str, account: str = "111122223333") -> str:
    """The alarm's ARN in the format the IAM Service Authorization Reference gives for DescribeAlarms."""
    (data,) = get_action_data("cloudwatch", "DescribeAlarms")["cloudwatch"]
    arn_format = data["resource_arn_format"]
    assert arn_format == "arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:${AlarmName}"
    return (
        arn_format.replace("${Partition}", "aws")
        .replace("${Region}", "eu-west-1")
        .replace("${Account}", account)
        .replace("${AlarmName}", alarm_name)
    )


@pytest.mark.parametrize("role", ["SageMakerExecutionRole", "EndpointDeployRole"])
def test_the_roles_that_evaluate_the_rollback_alarms_can_read_them(synthesized: SynthesizedApp, role: str) -> None:
    # The DescribeAlarms reference documents one resource type, alarm; composite alarms are returned only to
    # callers allowed on `*`. So every alarm evaluated must be a metric alarm, and its ARN (CloudFormation
    # names it <stack name>-<logical id>-<suffix>) must match a resource of the role's DescribeAlarms grant.
    resources = _statement_resources(synthesized, role, "cloudwatch:DescribeAlarms")
    assert resources and "*" not in resources
    alarms = _deployment_config(synthesized)["AutoRollbackConfiguration"]["Alarms"]
    for alarm in alarms:
        logical_id = alarm["AlarmName"]["Ref"]
        assert synthesized.production["Resources"][logical_id]["Type"] == "AWS::CloudWatch::Alarm"
        arn = _alarm_arn_as_iam_names_it(f"{PRODUCTION_STACK}-{logical_id}-1A2B3C4D5E6F")
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources), (arn, resources)


def _production_roles_in_its_account(synthesized: SynthesizedApp) -> dict[str, list[dict[str, Any]]]:
    """Cross-account: the execution and deploy roles DeployProd names, as the production target stack makes them."""
    (pipeline,) = _of_type(synthesized.pipeline, "AWS::CodePipeline::Pipeline").values()
    (action,) = [a for s in pipeline["Stages"] if s["Name"] == "DeployProd" for a in s["Actions"] if a["Name"] == "Deploy"]
    overrides = "".join(p for p in action["Configuration"]["ParameterOverrides"]["Fn::Join"][1] if isinstance(p, str))
    execution_arn = overrides.split('"ExecutionRoleArn":"')[1].split('"')[0]
    names = {"execution": execution_arn.split("/")[-1], "deploy": action["Configuration"]["RoleArn"].split("/")[-1]}
    target = synthesized.templates["production-target"]["Resources"]
    statements: dict[str, list[dict[str, Any]]] = {}
    for use, name in names.items():
        (role,) = [k for k, r in target.items() if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == name]
        statements[use] = [
            s
            for r in target.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        ]
    return statements


@pytest.mark.parametrize("use", ["execution", "deploy"])
def test_in_a_production_account_the_roles_that_evaluate_the_rollback_alarms_can_read_them(
    synthesized_cross_account: SynthesizedApp, use: str
) -> None:
    """The same check in the production account (README "Accounts"): the target stack's roles, its account's alarms."""
    account = "333333333333"
    statements = _production_roles_in_its_account(synthesized_cross_account)[use]
    resources = [
        resource
        for s in statements
        if s["Effect"] == "Allow"
        and "cloudwatch:DescribeAlarms" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert resources and "*" not in resources
    for alarm in _deployment_config(synthesized_cross_account)["AutoRollbackConfiguration"]["Alarms"]:
        logical_id = alarm["AlarmName"]["Ref"]
        assert synthesized_cross_account.production["Resources"][logical_id]["Type"] == "AWS::CloudWatch::Alarm"
        arn = _alarm_arn_as_iam_names_it(f"{PRODUCTION_STACK}-{logical_id}-1A2B3C4D5E6F", account)
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources), (arn, resources)


# -- finding 9: a failed first creation does not block later releases -------------------------------------


def _deploy_configuration(synthesized: SynthesizedApp, stage: str) -> dict[str, Any]:
    (pipeline,) = _of_type(synthesized.pipeline, "AWS::CodePipeline::Pipeline").values()
    (action,) = [a for s in pipeline["Stages"] if s["Name"] == stage for a in s["Actions"] if a["Name"] == "Deploy"]
    return action["Configuration"]


def test_staging_is_replaced_when_a_failed_create_left_it_unusable(synthesized: SynthesizedApp) -> None:
    assert _deploy_configuration(synthesized, "DeployStaging")["ActionMode"] == "REPLACE_ON_FAILURE"


def test_production_is_never_replaced_and_the_pipeline_cannot_delete_it(synthesized: SynthesizedApp) -> None:
    assert _deploy_configuration(synthesized, "DeployProd")["ActionMode"] == "CREATE_UPDATE"
    deletable = _statement_resources(synthesized, "ReleasePipelineRole", "cloudformation:DeleteStack")
    assert deletable == [f"arn:aws:cloudformation:eu-west-1:111122223333:stack/{CONFIG.project_name}-staging-endpoint/*"]


def test_the_cost_estimate_prices_the_math_alarm_per_metric(synthesized: SynthesizedApp) -> None:
    from scripts.cost_estimate import idle_monthly_cost

    (line,) = [c for c in idle_monthly_cost({"production": synthesized.production}) if "alarm" in c.item]
    assert line.quantity == 3  # Invocation5XXErrors and Invocations in the rate alarm, ModelLatency


def test_cloudformations_endpoint_update_outlasts_the_longest_deployment_allowed() -> None:
    """CloudFormation waits for the deployment (bake included) within its update handler's timeout."""
    import cfnlint

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    resource_file = json.loads((schemas / "providers" / "us-east-1.json").read_text())["AWS::SageMaker::Endpoint"]
    schema = json.loads((schemas / "resources" / f"{resource_file}.json").read_text())
    assert schema["handlers"]["update"]["timeoutInMinutes"] * 60 > MAX_DEPLOYMENT_TIMEOUT_SECONDS
