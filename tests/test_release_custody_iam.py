"""Release data is out of reach of every role that runs a commit's code (issue 18, part 1).

The commit's code runs in the Build stage (its tests, `pip install` of its
requirements) and in the pull-request checks. Release data (models,
evaluation outputs, decision records, captured data) lives in the release
bucket, which only the platform's own steps write and nobody but a
break-glass role may delete from; the Build role may put its own output
artifact in the artifact store and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.components.release_pipeline import artifact_object_pattern
from stacks.components.release_store import DELETE_ACTIONS, break_glass_role_name
from tests.synthesis_fixtures import SynthesizedApp, cdk_json_config

WRITES = ("s3:Put", "s3:Delete", "s3:Abort", "s3:Restore", "s3:Replicate", "s3:*")


def resources_of(synthesized: SynthesizedApp, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synthesized.pipeline["Resources"].items() if r["Type"] == kind}


def bucket_id(synthesized: SynthesizedApp, prefix: str) -> str:
    (logical_id,) = [k for k in resources_of(synthesized, "AWS::S3::Bucket") if k.startswith(prefix)]
    return logical_id


def project_role(synthesized: SynthesizedApp, buildspec: str) -> str:
    (project,) = [
        r
        for r in resources_of(synthesized, "AWS::CodeBuild::Project").values()
        if f"buildspecs/{buildspec}" in r["Properties"]["Description"]
    ]
    return project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]


def function_role(synthesized: SynthesizedApp, handler: str) -> str:
    (function,) = [
        r
        for r in resources_of(synthesized, "AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == f"{handler}.handler.handler"
    ]
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def allowed(synthesized: SynthesizedApp, role: str) -> list[tuple[str, str]]:
    """(action, resource as JSON) for every Allow statement of every policy attached to `role`."""
    pairs = []
    for policy in resources_of(synthesized, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            pairs += [(a, json.dumps(r, sort_keys=True)) for a in actions for r in resources]
    return pairs


def commit_running_roles(synthesized: SynthesizedApp) -> dict[str, str]:
    return {
        "Build stage": project_role(synthesized, "ci.yml"),
        "image build": project_role(synthesized, "image.yml"),
        "pull-request checks": project_role(synthesized, "pull_request.yml"),
    }


def test_no_role_that_runs_a_commits_code_can_write_or_delete_release_data(synthesized: SynthesizedApp) -> None:
    release = bucket_id(synthesized, "ReleaseStoreBucket")
    artifacts = bucket_id(synthesized, "ArtifactStoreBucket")
    for name, role in commit_running_roles(synthesized).items():
        for action, resource in allowed(synthesized, role):
            if not action.startswith(WRITES):
                continue
            assert release not in resource, f"{name} may {action} release data"
            assert not action.startswith("s3:Delete"), f"{name} may {action} {resource}"
            if artifacts in resource:
                own = artifact_object_pattern("ImageOutput" if name == "image build" else "BuildOutput")
                assert resource.endswith(f'/{own}"]]}}'), (name, action, resource)


def test_the_build_stage_puts_only_its_own_output_artifact(synthesized: SynthesizedApp) -> None:
    role = project_role(synthesized, "ci.yml")
    artifacts = bucket_id(synthesized, "ArtifactStoreBucket")
    writes = {(a, r) for a, r in allowed(synthesized, role) if a.startswith(WRITES) and artifacts in r}
    assert writes and {a for a, _ in writes} <= {
        "s3:PutObject",
        "s3:PutObjectLegalHold",
        "s3:PutObjectRetention",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:Abort*",
    }
    assert {r for _, r in writes} == {
        json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [artifacts, "Arn"]}, "/*/BuildOutpu/*"]]}, sort_keys=True)
    }
    assert artifact_object_pattern("BuildOutput") == "*/BuildOutpu/*"


def release_bucket_policy(synthesized: SynthesizedApp) -> dict[str, dict[str, Any]]:
    release = bucket_id(synthesized, "ReleaseStoreBucket")
    (policy,) = [
        p for p in resources_of(synthesized, "AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": release}
    ]
    return {s.get("Sid", ""): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_only_the_platforms_own_steps_write_release_data(synthesized: SynthesizedApp) -> None:
    deny = release_bucket_policy(synthesized)["DenyWritesButThePlatformsOwnSteps"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"} and "s3:PutObject" in deny["Action"]
    writers = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    platform = [
        project_role(synthesized, "train.yml"),
        function_role(synthesized, "evaluation_gate"),
        function_role(synthesized, "staging_gate"),
        function_role(synthesized, "promote"),
    ]
    assert writers[:-1] == [{"Fn::GetAtt": [role, "Arn"]} for role in [*platform, *sagemaker_roles(synthesized)]]
    assert break_glass_role_name(cdk_json_config().project_name) in json.dumps(writers[-1])
    for role in commit_running_roles(synthesized).values():
        assert {"Fn::GetAtt": [role, "Arn"]} not in writers


def sagemaker_roles(synthesized: SynthesizedApp) -> list[str]:
    """The endpoints' role, then the jobs' role (the one that runs the commit's `train.py` and `evaluate.py`)."""
    roles = [
        k
        for k, r in resources_of(synthesized, "AWS::IAM::Role").items()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service") == "sagemaker.amazonaws.com"
    ]
    (serving,) = [k for k in roles if k.startswith("SageMakerExecutionRole")]
    (jobs,) = [k for k in roles if k.startswith("SageMakerExecutionJobRole")]
    assert sorted(roles) == sorted([serving, jobs])
    return [serving, jobs]


def test_nobody_but_the_break_glass_role_deletes_release_data(synthesized: SynthesizedApp) -> None:
    deny = release_bucket_policy(synthesized)["DenyDeletingReleaseData"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert sorted(deny["Action"]) == sorted(DELETE_ACTIONS)
    assert "-release-break-glass" in json.dumps(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    for role in resources_of(synthesized, "AWS::IAM::Role"):
        assert not [
            a
            for a, r in allowed(synthesized, role)
            if a.startswith("s3:Delete") and bucket_id(synthesized, "ReleaseStoreBucket") in r
        ], role


def test_the_release_bucket_is_versioned_encrypted_private_and_tls_only(synthesized: SynthesizedApp) -> None:
    props = synthesized.pipeline["Resources"][bucket_id(synthesized, "ReleaseStoreBucket")]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(props["PublicAccessBlockConfiguration"].values())
    statements = release_bucket_policy(synthesized).values()
    assert any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    assert synthesized.pipeline["Resources"][bucket_id(synthesized, "ReleaseStoreBucket")]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("where", ["models", "decision records", "data capture"])
def test_release_data_goes_to_the_release_bucket(synthesized: SynthesizedApp, where: str) -> None:
    release = {"Ref": bucket_id(synthesized, "ReleaseStoreBucket")}
    resources = synthesized.pipeline["Resources"]
    if where == "models":
        (train,) = [
            r
            for r in resources_of(synthesized, "AWS::CodeBuild::Project").values()
            if "buildspecs/train.yml" in r["Properties"]["Description"]
        ]
        variables = {v["Name"]: v["Value"] for v in train["Properties"]["Environment"]["EnvironmentVariables"]}
        assert variables["ARTIFACT_BUCKET"] == release
    elif where == "decision records":
        for handler in ("evaluation_gate", "staging_gate", "promote"):
            (function,) = [
                r
                for r in resources_of(synthesized, "AWS::Lambda::Function").values()
                if r["Properties"].get("Handler") == f"{handler}.handler.handler"
            ]
            assert function["Properties"]["Environment"]["Variables"]["RECORD_BUCKET"] == release
    else:
        text = json.dumps(resources_of(synthesized, "AWS::CodePipeline::Pipeline"))
        assert "data-capture/production" in text and json.dumps(release) in text
    assert resources  # the pipeline template was read


# -- judged as IAM judges it: the role's policy and the release bucket's policy -------------------------------

COMMIT_WRITES = [
    ("s3:PutObject", "release", "releases/run-1/training/run-1/output/model.tar.gz"),
    ("s3:PutObject", "release", "decision-records/evaluation-gate/job.json"),
    ("s3:PutObject", "release", "data-capture/production/AllTraffic/2026/11/29/20/capture.jsonl"),
    ("s3:DeleteObject", "release", "releases/run-1/training/run-1/output/model.tar.gz"),
    ("s3:DeleteObjectVersion", "release", "decision-records/evaluation-gate/job.json"),
    ("s3:PutObject", "artifacts", "ml-cicd-pipeline-Rel/TrainOutpu/AbCdE12"),
    ("s3:DeleteObject", "artifacts", "ml-cicd-pipeline-Rel/TrainOutpu/AbCdE12"),
    ("s3:DeleteObject", "artifacts", "ml-cicd-pipeline-Rel/BuildOutpu/AbCdE12"),
]


@pytest.mark.parametrize(("action", "bucket", "key"), COMMIT_WRITES)
def test_a_commits_test_that_writes_to_the_buckets_is_refused(
    synthesized: SynthesizedApp, action: str, bucket: str, key: str
) -> None:
    """What a `boto3` call from the commit's tests, installs or Dockerfile would get, role by role."""
    from tests.iam_policy_evaluation import Request, evaluate
    from tests.synthesized_roles import pipeline_world

    world = pipeline_world(synthesized.pipeline)
    name = world.physical_name(bucket_id(synthesized, "ReleaseStoreBucket" if bucket == "release" else "ArtifactStoreBucket"))
    request = Request(action, f"arn:aws:s3:::{name}/{key}")
    for role_name, role in commit_running_roles(synthesized).items():
        verdict = evaluate(world.role_statements(role), request)
        assert not verdict.allowed, f"{role_name} may {action} {key}: {verdict.reason}"


def test_the_release_bucket_policy_refuses_a_writer_it_does_not_name(synthesized: SynthesizedApp) -> None:
    """Even a role whose own policy allowed it (a future grant by mistake) is refused by the bucket."""
    from tests.iam_policy_evaluation import Request, evaluate
    from tests.synthesized_roles import pipeline_world

    world = pipeline_world(synthesized.pipeline)
    release = bucket_id(synthesized, "ReleaseStoreBucket")
    statements = [world.resolve(s) for s in release_bucket_policy(synthesized).values()]
    model = f"arn:aws:s3:::{world.physical_name(release)}/releases/run-1/model.tar.gz"
    build_role = world.get_att(project_role(synthesized, "ci.yml"), "Arn")
    train_role = world.get_att(project_role(synthesized, "train.yml"), "Arn")
    encrypted = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"}
    for principal, action, denied in (
        (build_role, "s3:PutObject", True),
        (train_role, "s3:PutObject", False),
        (train_role, "s3:DeleteObject", True),
        (build_role, "s3:DeleteObjectVersion", True),
    ):
        verdict = evaluate(
            [s for s in statements if s["Effect"] == "Deny"], Request(action, model, {**encrypted, "aws:PrincipalArn": principal})
        )
        assert verdict.reason.startswith("explicitly denied") is denied, (principal, action, verdict.reason)


# -- the SageMaker jobs run the commit's train.py and evaluate.py: what their role may write ------------------

RUN = "ml-cicd-3f2c9e1a-20261128000000"
# Each key with the one SageMaker role that may put it (None: neither).
SAGEMAKER_WRITES = [
    (f"releases/{RUN}/training/{RUN}/output/model.tar.gz", "jobs"),
    (f"releases/{RUN}/evaluation/evaluation.json", "jobs"),
    ("data-capture/production/AllTraffic/2026/11/29/20/capture.jsonl", "endpoints"),
    (f"releases/{RUN}/model/model.tar.gz", None),  # what the gates judged and production loads on scale-out
    ("releases/ml-cicd-00000000-20261001000000/model/model.tar.gz", None),  # the champion
    (f"releases/{RUN}/code/sourcedir.tar.gz", None),
    (f"releases/{RUN}/data/holdout/holdout.csv", None),
    ("decision-records/evaluation-gate/job.json", None),
]


def _sagemaker_verdicts(synthesized: SynthesizedApp, action: str, key: str) -> dict[str, tuple[bool, bool]]:
    """Per SageMaker role: (its own policy allows, the release bucket's policy denies) for `action` on `key`."""
    from tests.iam_policy_evaluation import Request, evaluate
    from tests.synthesized_roles import pipeline_world

    world = pipeline_world(synthesized.pipeline)
    release = bucket_id(synthesized, "ReleaseStoreBucket")
    bucket_statements = [world.resolve(s) for s in release_bucket_policy(synthesized).values()]
    denies = [s for s in bucket_statements if s["Effect"] == "Deny"]
    arn = f"arn:aws:s3:::{world.physical_name(release)}/{key}"
    context = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"}
    verdicts = {}
    for name, role in zip(("endpoints", "jobs"), sagemaker_roles(synthesized), strict=True):
        own = evaluate(world.role_statements(role), Request(action, arn, context))
        principal = {**context, "aws:PrincipalArn": world.get_att(role, "Arn")}
        bucket = evaluate(denies, Request(action, arn, principal))
        verdicts[name] = (own.allowed, bucket.reason.startswith("explicitly denied"))
    return verdicts


@pytest.mark.parametrize(("key", "writer"), SAGEMAKER_WRITES)
def test_the_jobs_running_a_commits_code_cannot_overwrite_a_model_the_champion_or_captured_data(
    synthesized: SynthesizedApp, key: str, writer: str | None
) -> None:
    """Both walls, judged as IAM judges them: the role's own policy, and the release bucket's policy on its own
    (which still holds if a later grant, or an attached managed policy, gave the role more)."""
    for name, (own_allows, bucket_denies) in _sagemaker_verdicts(synthesized, "s3:PutObject", key).items():
        assert own_allows is (name == writer), f"{name}' role policy on {key}"
        assert bucket_denies is (name != writer), f"the release bucket's policy on the {name}' role putting {key}"


@pytest.mark.parametrize("key", [key for key, _ in SAGEMAKER_WRITES])
def test_no_sagemaker_role_deletes_release_data(synthesized: SynthesizedApp, key: str) -> None:
    for action in DELETE_ACTIONS:
        for name, (own_allows, bucket_denies) in _sagemaker_verdicts(synthesized, action, key).items():
            assert not own_allows and bucket_denies, (name, action, key)


def test_the_train_stage_starts_the_jobs_with_the_jobs_role_only(synthesized: SynthesizedApp) -> None:
    serving, jobs = sagemaker_roles(synthesized)
    (train,) = [
        r
        for r in resources_of(synthesized, "AWS::CodeBuild::Project").values()
        if "buildspecs/train.yml" in r["Properties"]["Description"]
    ]
    variables = {v["Name"]: v["Value"] for v in train["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables["SAGEMAKER_ROLE_ARN"] == {"Fn::GetAtt": [jobs, "Arn"]}
    passed = [r for a, r in allowed(synthesized, project_role(synthesized, "train.yml")) if a == "iam:PassRole"]
    assert passed == [json.dumps({"Fn::GetAtt": [jobs, "Arn"]})] and serving not in json.dumps(passed)


def artifact_bucket_denies(synthesized: SynthesizedApp) -> list[dict[str, Any]]:
    from tests.synthesized_roles import pipeline_world

    world = pipeline_world(synthesized.pipeline)
    artifacts = bucket_id(synthesized, "ArtifactStoreBucket")
    (policy,) = [
        p for p in resources_of(synthesized, "AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": artifacts}
    ]
    return [world.resolve(s) for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]


@pytest.mark.parametrize("action", DELETE_ACTIONS)
def test_no_build_or_function_erases_the_templates_and_configurations_the_deploys_use(
    synthesized: SynthesizedApp, action: str
) -> None:
    """CDK grants the Train role and the pipeline's role `s3:DeleteObject*` on the artifact store (TrainOutput
    holds the endpoint templates and configurations); the bucket's policy refuses every such delete."""
    from tests.iam_policy_evaluation import Request, evaluate
    from tests.synthesized_roles import pipeline_world

    world = pipeline_world(synthesized.pipeline)
    artifacts = bucket_id(synthesized, "ArtifactStoreBucket")
    arn = f"arn:aws:s3:::{world.physical_name(artifacts)}/ml-cicd-pipeline-Rel/TrainOutpu/AbCdE12"
    context = {"aws:SecureTransport": "true"}
    deleters = [
        role
        for role in resources_of(synthesized, "AWS::IAM::Role")
        if evaluate(world.role_statements(role), Request(action, arn, context)).allowed
    ]
    assert project_role(synthesized, "train.yml") in deleters and any(r.startswith("ReleasePipeline") for r in deleters)
    denies = artifact_bucket_denies(synthesized)
    for role in deleters:
        verdict = evaluate(denies, Request(action, arn, {**context, "aws:PrincipalArn": world.get_att(role, "Arn")}))
        assert verdict.reason.startswith("explicitly denied"), (role, action, verdict.reason)
    break_glass = f"arn:aws:iam::{world.where.account}:role/{break_glass_role_name(cdk_json_config().project_name)}"
    assert evaluate(denies, Request(action, arn, {**context, "aws:PrincipalArn": break_glass})).reason.startswith("no statement")


# -- end to end: every principal the commit's code runs as, against everything a deploy uses ------------------

DEPLOYED = [
    ("release", f"releases/{RUN}/model/model.tar.gz"),  # the model the gates judged (its version is recorded)
    ("release", "releases/ml-cicd-00000000-20261001000000/model/model.tar.gz"),  # the champion production serves
    ("release", "decision-records/evaluation-gate/job.json"),  # the custody record the deploys are checked against
    ("release", "data-capture/production/AllTraffic/2026/11/29/20/capture.jsonl"),
    ("artifacts", "ml-cicd-pipeline-Rel/TrainOutpu/AbCdE12"),  # the endpoint templates and configurations
]
CHANGES = ("s3:PutObject", "s3:PutObjectAcl", "s3:RestoreObject", *DELETE_ACTIONS)


@pytest.mark.parametrize(("bucket", "key"), DEPLOYED)
def test_no_principal_that_runs_a_commits_code_can_change_what_is_deployed(
    synthesized: SynthesizedApp, bucket: str, key: str
) -> None:
    """IAM's whole answer (the role's policy allows and the bucket's policy does not deny), for the Build stage,
    the image build, the pull-request checks and the SageMaker jobs (as if their container held credentials)."""
    from tests.iam_policy_evaluation import Request, evaluate
    from tests.synthesized_roles import pipeline_world

    world = pipeline_world(synthesized.pipeline)
    logical = bucket_id(synthesized, "ReleaseStoreBucket" if bucket == "release" else "ArtifactStoreBucket")
    if bucket == "release":
        denies = [world.resolve(s) for s in release_bucket_policy(synthesized).values() if s["Effect"] == "Deny"]
    else:
        denies = artifact_bucket_denies(synthesized)
    arn = f"arn:aws:s3:::{world.physical_name(logical)}/{key}"
    context = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"}
    principals = {**commit_running_roles(synthesized), "SageMaker jobs": sagemaker_roles(synthesized)[1]}
    for name, role in principals.items():
        for action in CHANGES:
            own = evaluate(world.role_statements(role), Request(action, arn, context))
            refused = evaluate(denies, Request(action, arn, {**context, "aws:PrincipalArn": world.get_att(role, "Arn")}))
            assert not (own.allowed and not refused.reason.startswith("explicitly denied")), (name, action, key)
