"""The training project, the SageMaker execution role and the endpoint deploy role, in bare stacks with explicit props."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from release_tools.stage_budget import stage_timeout_minutes
from stacks.components.endpoint_deploy_role import EndpointDeployRole, EndpointDeployRoleProps
from stacks.components.platform_assets import PlatformAssets
from stacks.components.rollback_alarms import grant_describe_alarms
from stacks.components.sagemaker_execution_role import SageMakerExecutionRole, SageMakerExecutionRoleProps
from stacks.components.training_project import TrainingProject, TrainingProjectProps
from tests.construct_fixtures import actions_of, bare_stack, policy_of, project_resources, statement


def _training(tmp_path: Path, **changes: object) -> tuple[cdk.Stack, Template, TrainingProject, SageMakerExecutionRole]:
    stack = bare_stack()
    r = project_resources(stack, project_name="churn")
    (tmp_path / "staging.template.json").write_text("{}")
    assets = PlatformAssets(stack, "PlatformAssets", endpoint_templates_dir=tmp_path)
    execution = SageMakerExecutionRole(
        stack, "SageMakerExecution", props=SageMakerExecutionRoleProps(bucket=r.store.bucket, key=r.store.key, release=r.release)
    )
    props: dict[str, object] = dict(
        project_name="churn",
        encryption_key=r.store.key,
        log_retention=r.retention,
        environment={"PROJECT_NAME": "churn"},
        training_instance_type="ml.c5.xlarge",
        evaluation_instance_type="ml.m5.2xlarge",
        use_spot_training=True,
        training_timeout_minutes=90,
        assets=assets,
        release_store=r.release,
        job_role=execution.job_role,
        registry=r.registry,
    )
    train = TrainingProject(stack, "TrainProject", props=TrainingProjectProps(**{**props, **changes}))  # type: ignore[arg-type]
    return stack, Template.from_stack(stack), train, execution


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.Stack, Template, TrainingProject, SageMakerExecutionRole]:
    """The training project and the execution role, synthesized once for this module."""
    return _training(tmp_path_factory.mktemp("templates"))


Training = tuple[cdk.Stack, Template, TrainingProject, SageMakerExecutionRole]


def test_the_training_project_runs_train_yml_with_the_training_settings_given(training: Training) -> None:
    _, template, _, _ = training
    variables = {"Name": Match.any_value(), "Type": "PLAINTEXT"}
    template.has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "TimeoutInMinutes": stage_timeout_minutes(90),
            "Environment": {
                "EnvironmentVariables": Match.array_with(
                    [
                        {**variables, "Name": "MODEL_PACKAGE_GROUP_NAME", "Value": "churn-models"},
                        {**variables, "Name": "TRAINING_INSTANCE_TYPE", "Value": "ml.c5.xlarge"},
                        {**variables, "Name": "EVALUATION_INSTANCE_TYPE", "Value": "ml.m5.2xlarge"},
                        {**variables, "Name": "USE_SPOT_TRAINING", "Value": "true"},
                        {**variables, "Name": "TRAINING_TIMEOUT_MINUTES", "Value": "90"},
                    ]
                )
            },
        },
    )


def test_the_training_project_runs_jobs_named_after_the_project_and_passes_the_role_to_sagemaker_only(
    training: Training,
) -> None:
    stack, template, train, execution = training
    statements = policy_of(template, stack, train.role)
    for sid in ("RunTrainingAndEvaluationJobs", "StartIsolatedTrainingAndEvaluationJobs"):
        jobs = json.dumps(statement(statements, sid)["Resource"])
        assert ":training-job/churn-*" in jobs and ":processing-job/churn-*" in jobs
    start = statement(statements, "StartIsolatedTrainingAndEvaluationJobs")
    assert start["Condition"] == {"Bool": {"sagemaker:NetworkIsolation": "true"}}
    assert sorted(start["Action"]) == ["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob"]
    assert not any(a.startswith("sagemaker:Create") for a in statement(statements, "RunTrainingAndEvaluationJobs")["Action"])
    passing = statement(statements, "PassExecutionRoleToSageMaker")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    job_role = stack.resolve(stack.get_logical_id(execution.job_role.node.default_child))
    assert passing["Resource"] == {"Fn::GetAtt": [job_role, "Arn"]}
    puts = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert [json.dumps(s["Resource"]).endswith('"/releases/*"]]}') for s in puts] == [True]


@pytest.mark.parametrize(
    ("which", "prefixes"),
    [("role", ["/data-capture/*"]), ("job_role", ["/releases/*/evaluation/*", "/releases/*/training/*"])],
)
def test_each_sagemaker_role_puts_only_what_sagemaker_uploads_for_it_and_never_deletes(
    training: Training, which: str, prefixes: list[str]
) -> None:
    """The endpoints' role: captured data; the jobs' role (the commit's code): the jobs' outputs, never a model."""
    stack, template, _, execution = training
    statements = policy_of(template, stack, getattr(execution, which))
    puts = [s["Resource"] for s in statements if "s3:PutObject" in s["Action"]]
    resources = [r for put in puts for r in (put if isinstance(put, list) else [put])]
    assert sorted(json.dumps(r).split('"')[-2] for r in resources) == prefixes
    assert not any("Delete" in action for action in actions_of(statements))


def test_the_deploy_role_manages_only_the_stacks_named_and_reads_packages_of_the_registry_account() -> None:
    stack = bare_stack(env=cdk.Environment(account="222222222222", region="eu-west-1"))
    r = project_resources(stack)
    role = EndpointDeployRole(
        stack,
        "EndpointDeployRole",
        props=EndpointDeployRoleProps(
            project_name="fraud",
            stack_names=["fraud-blue"],
            execution_role=iam.Role(stack, "Execution", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")),
            key=r.store.key,
            model_package_group_name="fraud-models",
            registry_account="111111111111",
        ),
    ).role
    template = Template.from_stack(stack)
    statements = policy_of(template, stack, role)
    packages = statement(statements, "ServeRegisteredPackages")["Resource"]
    assert packages == "arn:aws:sagemaker:eu-west-1:111111111111:model-package/fraud-models/*"
    endpoints = json.dumps(statement(statements, "ScaleEndpointVariants")["Resource"])
    assert endpoints.count(":endpoint/") == 1 and "endpoint/fraud-blue" in endpoints
    alarms = json.dumps(statement(statements, "EndpointAlarms")["Resource"])
    assert "alarm:fraud-blue-*" in alarms and "alarm:TargetTracking-endpoint/fraud-blue/variant/*" in alarms


def test_the_rollback_alarms_are_readable_by_name_prefix_of_the_production_stack() -> None:
    stack = bare_stack()
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    grant_describe_alarms(role, stack, "fraud-prod-endpoint")
    statements = policy_of(Template.from_stack(stack), stack, role)
    read = statement(statements, "ReadRollbackAlarms")
    assert read["Action"] == "cloudwatch:DescribeAlarms"
    assert json.dumps(read["Resource"]).endswith(':alarm:fraud-prod-endpoint-*"]]}')
