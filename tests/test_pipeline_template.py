"""The pipeline stack's template: stage order, actions, artifact flow, scoping, encryption."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Template

from stacks.accounts import model_package_group_name
from stacks.components.release_pipeline import STAGE_NAMES
from tests.synthesis_fixtures import SynthesizedApp, cdk_json_config

# Values the template carries from the configuration are read from it (cdk.json), never restated here.
CONFIG = cdk_json_config()


@pytest.fixture(scope="module")
def template(synthesized: SynthesizedApp) -> Template:
    return Template.from_json(synthesized.pipeline)


@pytest.fixture(scope="module")
def pipeline(synthesized: SynthesizedApp) -> dict[str, Any]:
    (resource,) = [r for r in synthesized.pipeline["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    return resource["Properties"]


def resources(synthesized: SynthesizedApp, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synthesized.pipeline["Resources"].items() if r["Type"] == kind}


def actions(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{s['Name']}/{a['Name']}": a for s in pipeline["Stages"] for a in s["Actions"]}


def test_stages_are_in_release_order(pipeline: dict[str, Any]) -> None:
    assert [s["Name"] for s in pipeline["Stages"]] == [
        name for name in STAGE_NAMES if name != "Approve" or CONFIG.require_manual_approval
    ]
    assert STAGE_NAMES == (
        "Source",
        "Build",
        "Train",
        "Evaluate",
        "DeployStaging",
        "TestStaging",
        "Approve",
        "DeployProd",
        "Promote",
    )


def test_pipeline_is_v2_and_triggered_by_the_release_branch(template: Template, pipeline: dict[str, Any]) -> None:
    assert pipeline["PipelineType"] == "V2"
    source = actions(pipeline)["Source/Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["BranchName"] == CONFIG.release_branch
    assert source["Configuration"]["PollForSourceChanges"] is False
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "source": ["aws.codecommit"],
                    "detail": {"event": ["referenceCreated", "referenceUpdated"], "referenceName": [CONFIG.release_branch]},
                }
            ),
        },
    )


@pytest.mark.parametrize(
    ("action", "provider", "category"),
    [
        ("Build/Build", "CodeBuild", "Build"),
        ("Train/Train", "CodeBuild", "Build"),
        ("Evaluate/EvaluationGate", "Lambda", "Invoke"),
        ("DeployStaging/Deploy", "CloudFormation", "Deploy"),
        ("TestStaging/StagingGate", "Lambda", "Invoke"),
        pytest.param(
            "Approve/Approve",
            "Manual",
            "Approval",
            marks=pytest.mark.skipif(not CONFIG.require_manual_approval, reason="no approval stage configured"),
        ),
        ("DeployProd/Deploy", "CloudFormation", "Deploy"),
        ("DeployProd/VerifyProduction", "Lambda", "Invoke"),
        ("Promote/Promote", "Lambda", "Invoke"),
    ],
)
def test_each_action_has_its_kind(pipeline: dict[str, Any], action: str, provider: str, category: str) -> None:
    type_id = actions(pipeline)[action]["ActionTypeId"]
    assert (type_id["Provider"], type_id["Category"]) == (provider, category)


def test_artifacts_flow_source_to_build_to_train_to_every_later_action(pipeline: dict[str, Any]) -> None:
    flow = {
        name: ([i["Name"] for i in a.get("InputArtifacts", [])], [o["Name"] for o in a.get("OutputArtifacts", [])])
        for name, a in actions(pipeline).items()
    }
    assert flow["Source/Source"] == ([], ["SourceOutput"])
    assert flow["Build/Build"] == (["SourceOutput"], ["BuildOutput"])
    assert flow["Build/Image"] == (["BuildOutput"], ["ImageOutput"])
    # Train reads the commit, not what the Build stage's container (the commit's install and tests) wrote.
    assert flow["Train/Train"] == (["SourceOutput", "ImageOutput"], ["TrainOutput"])
    for later in (
        "Evaluate/EvaluationGate",
        "DeployStaging/Deploy",
        "TestStaging/StagingGate",
        "DeployProd/Deploy",
        "DeployProd/VerifyProduction",
        "Promote/Promote",
    ):
        assert flow[later][0] == ["TrainOutput"], later


def test_train_exports_the_release_variables_the_gates_use(pipeline: dict[str, Any]) -> None:
    acts = actions(pipeline)
    assert acts["Train/Train"]["Namespace"] == "Train"
    assert acts["DeployStaging/Deploy"]["Namespace"] == "DeployStaging"
    assert json.loads(acts["TestStaging/StagingGate"]["Configuration"]["UserParameters"]) == {
        "endpoint_name": "#{DeployStaging.EndpointName}"
    }
    assert json.loads(acts["DeployProd/VerifyProduction"]["Configuration"]["UserParameters"]) == {
        "action": "verify_production",
        "endpoint_name": "#{DeployProd.EndpointName}",
        "endpoint_config_name": "#{DeployProd.EndpointConfigName}",
        "custody_record": "#{EvaluationGate.record_uri}",
    }
    assert json.loads(acts["Promote/Promote"]["Configuration"]["UserParameters"])["action"] == "promote"
    assert acts["DeployProd/VerifyProduction"]["RunOrder"] == 3


@pytest.mark.parametrize("stage", ["DeployStaging", "DeployProd"])
def test_each_deploy_waits_for_the_chain_of_custody_check(pipeline: dict[str, Any], stage: str) -> None:
    """CheckCustody (run order 1) refuses a TrainOutput file or model changed since the evaluation gate judged it."""
    acts = actions(pipeline)
    check = acts[f"{stage}/CheckCustody"]
    assert (check["ActionTypeId"]["Provider"], check["RunOrder"], acts[f"{stage}/Deploy"]["RunOrder"]) == ("Lambda", 1, 2)
    assert [i["Name"] for i in check["InputArtifacts"]] == ["TrainOutput"]
    assert json.loads(check["Configuration"]["UserParameters"]) == {
        "action": "verify_custody",
        "custody_record": "#{EvaluationGate.record_uri}",
    }
    assert check["Configuration"]["FunctionName"] == acts["DeployProd/VerifyProduction"]["Configuration"]["FunctionName"]


def test_actions_run_with_the_pipeline_role_not_one_role_each(pipeline: dict[str, Any]) -> None:
    assert all("RoleArn" not in action for action in actions(pipeline).values())


def test_endpoint_deploys_use_the_trained_templates_and_a_scoped_role(pipeline: dict[str, Any]) -> None:
    for stage, name in (("DeployStaging", "staging"), ("DeployProd", "production")):
        config = actions(pipeline)[f"{stage}/Deploy"]["Configuration"]
        assert config["StackName"] == f"{CONFIG.project_name}-{name}-endpoint"
        assert config["TemplatePath"] == f"TrainOutput::endpoint/{name}.template.json"
        assert config["TemplateConfiguration"] == f"TrainOutput::endpoint/{name}.config.json"
        # A failed first create may be replaced in staging, never in production (tests/test_production_guardrails.py).
        assert config["ActionMode"] == ("REPLACE_ON_FAILURE" if name == "staging" else "CREATE_UPDATE")
        assert "Capabilities" not in config  # no IAM in the endpoint stacks
        assert config["RoleArn"]["Fn::GetAtt"][0].startswith("EndpointDeployRole")


def test_production_rolls_back_on_failure(pipeline: dict[str, Any]) -> None:
    (prod,) = [s for s in pipeline["Stages"] if s["Name"] == "DeployProd"]
    assert prod["OnFailure"]["Result"] == "ROLLBACK"
    assert "OnSuccess" not in prod  # the bake is SageMaker's (tests/test_production_guardrails.py)
    assert ("BeforeEntry" in prod) == bool(CONFIG.deployment_window)


def test_artifact_bucket_is_kms_encrypted_versioned_private_logged_and_expiring(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Match.any_value()},
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": CONFIG.artifact_retention_days}})]
                )
            },
        },
    )


def test_every_bucket_denies_insecure_transport(synthesized: SynthesizedApp) -> None:
    buckets = resources(synthesized, "AWS::S3::Bucket")
    policies = resources(synthesized, "AWS::S3::BucketPolicy").values()
    protected = {
        p["Properties"]["Bucket"]["Ref"]
        for p in policies
        if any(
            s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        )
    }
    assert protected == set(buckets)


def test_key_rotates_and_topic_and_logs_are_encrypted(template: Template, synthesized: SynthesizedApp) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    for group in resources(synthesized, "AWS::Logs::LogGroup").values():
        assert "KmsKeyId" in group["Properties"] and "RetentionInDays" in group["Properties"]
    for project in resources(synthesized, "AWS::CodeBuild::Project").values():
        assert "EncryptionKey" in project["Properties"]


def test_functions_run_a_current_python_with_json_logs_from_their_folders(synthesized: SynthesizedApp) -> None:
    functions = [
        f
        for f in resources(synthesized, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].endswith(".handler.handler")
    ]
    handlers = sorted(f["Properties"]["Handler"] for f in functions)
    assert handlers == [
        "approval_rule_templates.handler.handler",
        "evaluation_gate.handler.handler",
        "promote.handler.handler",
        "pull_request_reporter.handler.handler",
        "staging_gate.handler.handler",
    ]
    for function in functions:
        props = function["Properties"]
        assert props["Runtime"] in ("python3.13", "python3.14")
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert "ZipFile" not in props["Code"]  # never inline code
        assert "S3Key" in props["Code"]


def test_functions_never_retry_an_answered_job_or_request(template: Template) -> None:
    """The four pipeline functions and the custom resource's each answer exactly once: no retry."""
    template.resource_count_is("AWS::Lambda::EventInvokeConfig", 5)
    template.all_resources_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0})


def test_evaluation_gate_gets_the_platform_floors_and_a_record_location(template: Template) -> None:
    floors = Capture()
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "evaluation_gate.handler.handler",
            "Environment": {"Variables": Match.object_like({"PLATFORM_FLOORS": floors, "RECORD_PREFIX": "decision-records/"})},
        },
    )
    assert json.loads(floors.as_string()) == json.loads(CONFIG.platform_floors_json)


def test_build_projects_keep_the_pip_cache_the_buildspecs_name(synthesized: SynthesizedApp) -> None:
    for project in resources(synthesized, "AWS::CodeBuild::Project").values():
        assert project["Properties"]["Cache"] == {"Type": "LOCAL", "Modes": ["LOCAL_CUSTOM_CACHE"]}


def test_each_build_project_has_its_own_role_and_buildspec_file(synthesized: SynthesizedApp) -> None:
    projects = resources(synthesized, "AWS::CodeBuild::Project").values()
    roles = {p["Properties"]["ServiceRole"]["Fn::GetAtt"][0] for p in projects}
    assert len(roles) == len(list(projects))
    assert {p["Properties"]["Description"].rsplit("Buildspec: ", 1)[1] for p in projects} >= {
        "buildspecs/ci.yml.",
        "buildspecs/train.yml.",
    }


def test_train_project_receives_the_platform_configuration(synthesized: SynthesizedApp) -> None:
    (train,) = [p for k, p in resources(synthesized, "AWS::CodeBuild::Project").items() if k.startswith("TrainProject")]
    env = {v["Name"]: v["Value"] for v in train["Properties"]["Environment"]["EnvironmentVariables"]}
    assert env["MODEL_PACKAGE_GROUP_NAME"] == model_package_group_name(CONFIG.project_name)
    assert env["USE_SPOT_TRAINING"] == str(CONFIG.use_spot_training).lower()
    assert env["TRAINING_INSTANCE_TYPE"] == CONFIG.training_instance_type
    assert env["EVALUATION_INSTANCE_TYPE"] == CONFIG.evaluation_instance_type
    for name in (
        "ENDPOINT_TEMPLATES_S3_URI",
        "PLATFORM_TOOLS_S3_URI",
        "PLATFORM_SCHEMAS_S3_URI",
        "KMS_KEY_ARN",
        "SAGEMAKER_ROLE_ARN",
        "ARTIFACT_BUCKET",
        "PLATFORM_FLOORS",
    ):
        assert name in env, name


def _statements(synthesized: SynthesizedApp, role_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for policy in resources(synthesized, "AWS::IAM::Policy").values():
        if any(r["Ref"].startswith(role_prefix) for r in policy["Properties"].get("Roles", [])):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_staging_gate_may_invoke_only_the_staging_endpoint(synthesized: SynthesizedApp) -> None:
    invoke = [s for s in _statements(synthesized, "StagingGateRole") if "sagemaker:InvokeEndpoint" in s["Action"]]
    assert len(invoke) == 1
    text = json.dumps(invoke[0]["Resource"])
    assert f"endpoint/{CONFIG.project_name}-staging-endpoint" in text and "production" not in text


def test_training_jobs_are_limited_to_the_project_prefix_and_pass_only_the_jobs_role(synthesized: SynthesizedApp) -> None:
    statements = _statements(synthesized, "TrainProjectRole")
    jobs = next(s for s in statements if "sagemaker:CreateTrainingJob" in s["Action"])
    prefixes = [f":{kind}/{CONFIG.project_name}-*" for kind in ("training-job", "processing-job")]
    assert all(any(prefix in json.dumps(r) for prefix in prefixes) for r in jobs["Resource"])
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"]["Fn::GetAtt"][0].startswith("SageMakerExecutionJobRole")


def test_endpoint_deploy_role_creates_only_tagged_resources(synthesized: SynthesizedApp) -> None:
    statements = _statements(synthesized, "EndpointDeployRole")
    create = next(s for s in statements if "sagemaker:CreateModel" in s["Action"])
    assert create["Condition"] == {"StringEquals": {"aws:RequestTag/ml-cicd:project": CONFIG.project_name}}


def test_stack_outputs_point_people_to_the_consoles(template: Template) -> None:
    outputs = template.find_outputs("*")
    for name in ("RepositoryCloneUrlHttp", "PipelineConsoleUrl", "ModelPackageGroupName", "NotificationTopicArn"):
        assert name in outputs and outputs[name]["Description"]


def test_notifications_cover_failures_gate_verdicts_rollbacks_and_registry(synthesized: SynthesizedApp) -> None:
    patterns = [json.dumps(r["Properties"]["EventPattern"]) for r in resources(synthesized, "AWS::Events::Rule").values()]
    assert any('"FAILED"' in p and "Pipeline Execution State Change" in p for p in patterns)
    assert any("EvaluationGate" in p and "StagingGate" in p for p in patterns)
    assert any("AutomatedRollback" in p for p in patterns)
    assert any("SageMaker Model Package State Change" in p for p in patterns)


@pytest.fixture(scope="module")
def variant(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The optional parts switched: no approval, a deployment window, no bake (one synthesis per test run)."""
    from tests.synthesis_fixtures import GITLAB_SWITCHED_OPTIONS, variant_synthesis

    app = variant_synthesis(pytestconfig, GITLAB_SWITCHED_OPTIONS)
    (resource,) = [r for r in app.pipeline["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    return resource["Properties"]


def test_approve_stage_is_absent_when_configured_off(variant: dict[str, Any]) -> None:
    assert [s["Name"] for s in variant["Stages"]] == [
        "Source",
        "Build",
        "Train",
        "Evaluate",
        "DeployStaging",
        "TestStaging",
        "DeployProd",
        "Promote",
    ]


def test_production_waits_for_its_deployment_window(variant: dict[str, Any]) -> None:
    (prod,) = [s for s in variant["Stages"] if s["Name"] == "DeployProd"]
    (condition,) = prod["BeforeEntry"]["Conditions"]
    (rule,) = condition["Rules"]
    assert condition["Result"] == "FAIL"
    assert rule["RuleTypeId"]["Provider"] == "DeploymentWindow"
    assert rule["RuleTypeId"] == {"Category": "Rule", "Owner": "AWS", "Provider": "DeploymentWindow", "Version": "1"}
    # CodePipeline's own cron format, exactly as configured: no cron(...) wrapper, seconds first.
    assert rule["Configuration"] == {"Cron": "* * 9-16 ? * MON-THU *", "TimeZone": "Europe/Paris"}
    assert "OnSuccess" not in prod and prod["OnFailure"]["Result"] == "ROLLBACK"
