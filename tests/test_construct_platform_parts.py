"""Build project, image repository, release store, release events and branch protection, in bare stacks."""

from __future__ import annotations

import json

from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from stacks.components.branch_protection import BranchProtection, BranchProtectionProps
from stacks.components.build_project import BuildProject, BuildProjectProps
from stacks.components.image_repository import CHAMPION_TAG_PREFIX, ImageRepository, ImageRepositoryProps
from stacks.components.release_events import ReleaseEvents
from stacks.components.release_store import DELETE_ACTIONS, break_glass_role_name
from tests.construct_fixtures import bare_stack, policy_of, project_resources, statement


def test_a_build_project_inlines_its_buildspec_file_with_the_environment_given() -> None:
    stack = bare_stack()
    r = project_resources(stack)
    BuildProject(
        stack,
        "ImageProject",
        props=BuildProjectProps(
            buildspec="image.yml",
            description="builds the image.",
            encryption_key=r.store.key,
            log_retention=r.retention,
            privileged=True,
            environment={"IMAGE_REPOSITORY_NAME": "fraud-image"},
        ),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::CodeBuild::Project",
        {
            "Description": "builds the image. Buildspec: buildspecs/image.yml.",
            "Source": {"Type": "CODEPIPELINE", "BuildSpec": Match.string_like_regexp("image_scan")},
            "Environment": Match.object_like(
                {
                    "PrivilegedMode": True,
                    "EnvironmentVariables": [{"Name": "IMAGE_REPOSITORY_NAME", "Type": "PLAINTEXT", "Value": "fraud-image"}],
                }
            ),
        },
    )


def test_the_image_repository_keeps_champions_and_the_last_releases_and_grants_push_to_one_role() -> None:
    stack = bare_stack()
    r = project_resources(stack)
    images = ImageRepository(
        stack, "ModelImage", props=ImageRepositoryProps(project_name="fraud", encryption_key=r.store.key, keep_release_images=7)
    )
    builder = iam.Role(stack, "Builder", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"))
    images.grant_push(builder)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ECR::Repository",
        {"ImageTagMutability": "IMMUTABLE", "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()}},
    )
    (repository,) = template.find_resources("AWS::ECR::Repository").values()
    rules = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rules[0]["selection"]["tagPrefixList"] == [CHAMPION_TAG_PREFIX]
    assert rules[1]["selection"]["countNumber"] == 7
    statements = policy_of(template, stack, builder)
    assert "ecr:PutImage" in statement(statements, "PushTheModelImage")["Action"]
    assert statement(statements, "RegistryLogin") == {
        "Sid": "RegistryLogin",
        "Action": "ecr:GetAuthorizationToken",
        "Effect": "Allow",
        "Resource": "*",
    }


def test_the_release_store_lets_only_the_break_glass_role_delete_and_only_named_writers_put() -> None:
    stack = bare_stack()
    r = project_resources(stack, project_name="churn")
    writer = iam.Role(stack, "Writer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    r.release.restrict_writes_to([writer], other_writer_arns=["arn:aws:iam::333333333333:role/capture"])
    template = Template.from_stack(stack)
    policies = template.find_resources("AWS::S3::BucketPolicy")
    (document,) = [p["Properties"]["PolicyDocument"] for p in policies.values() if "DenyDeletingReleaseData" in json.dumps(p)]
    deny = statement(document["Statement"], "DenyDeletingReleaseData")
    assert deny["Action"] == list(DELETE_ACTIONS)
    assert break_glass_role_name("churn") in json.dumps(deny["Condition"])
    writes = statement(document["Statement"], "DenyWritesButThePlatformsOwnSteps")
    allowed = json.dumps(writes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    assert "Writer" in allowed and "333333333333:role/capture" in allowed and break_glass_role_name("churn") in allowed


def test_release_events_notify_the_topic_of_failures_verdicts_rollbacks_and_the_groups_decisions() -> None:
    stack = bare_stack()
    topic = sns.Topic(stack, "Topic")
    source = codepipeline.Artifact("S")
    pipeline = codepipeline.Pipeline(
        stack,
        "Pipeline",
        stages=[
            codepipeline.StageProps(
                stage_name="Source",
                actions=[
                    actions.CodeCommitSourceAction(
                        action_name="Source", repository=codecommit.Repository(stack, "Repo", repository_name="r"), output=source
                    )
                ],
            ),
            codepipeline.StageProps(
                stage_name="Approve", actions=[actions.ManualApprovalAction(action_name="Approve", notification_topic=topic)]
            ),
        ],
    )
    ReleaseEvents(stack, "ReleaseEvents", pipeline=pipeline, topic=topic, model_package_group_name="churn-models")
    template = Template.from_stack(stack)
    patterns = [json.dumps(r["Properties"]["EventPattern"]) for r in template.find_resources("AWS::Events::Rule").values()]
    assert any('"FAILED"' in p and "Pipeline Execution State Change" in p for p in patterns)
    assert any("EvaluationGate" in p and "StagingGate" in p and "VerifyProduction" in p for p in patterns)
    assert any("AutomatedRollback" in p for p in patterns)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"detail": Match.object_like({"ModelPackageGroupName": ["churn-models"]})})},
    )


def test_branch_protection_asks_the_reviewers_given_besides_the_checks_and_fences_the_checks_build() -> None:
    stack = bare_stack()
    r = project_resources(stack)
    repository = codecommit.Repository(stack, "Repository", repository_name="churn-model")
    protection = BranchProtection(
        stack,
        "BranchProtection",
        props=BranchProtectionProps(
            project_name="churn",
            repository=repository,
            release_branch="release",
            required_approvals=3,
            checks_role=iam.Role(stack, "Reporter", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")),
            encryption_key=r.store.key,
            log_retention=r.retention,
            checks_project_arn="arn:aws:codebuild:eu-west-1:111111111111:project/checks",
        ),
    )
    assert json.loads(protection.peer_review_content)["Statements"] == [{"Type": "Approvers", "NumberOfApprovalsNeeded": 4}]
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::ApprovalRuleTemplate",
        {"TemplateName": "churn-release-review", "Description": Match.string_like_regexp("release")},
    )
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
    fence = statement(policy["Properties"]["PolicyDocument"]["Statement"], "DenyStartingOrChangingTheChecksBuild")
    assert fence["Effect"] == "Deny" and fence["Resource"] == "arn:aws:codebuild:eu-west-1:111111111111:project/checks"
