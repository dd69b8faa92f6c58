"""The release source (CodeCommit or a connection) and the production rollback alarms, in bare stacks."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from scripts.synth_summary import summarize
from stacks.components.artifact_store import ArtifactStore
from stacks.components.platform_assets import PlatformAssets
from stacks.components.release_source import ReleaseSourceProps, add_release_source
from stacks.components.rollback_alarms import ERROR_RATE_MINUTES, LATENCY_MINUTES, PERIOD_SECONDS, RollbackAlarms
from stacks.config import SourceConfig
from tests.construct_fixtures import bare_stack


def _source(tmp_path: Path, source: SourceConfig) -> tuple[cdk.Stack, Template]:
    stack = bare_stack()
    store = ArtifactStore(stack, "ArtifactStore", project_name="fraud", retention_days=30)
    (tmp_path / "staging.template.json").write_text("{}")
    add_release_source(
        stack,
        props=ReleaseSourceProps(
            project_name="fraud",
            source=source,
            repository_name="fraud-model",
            release_branch="release",
            pull_request_approvals=2,
            encryption_key=store.key,
            log_retention=logs.RetentionDays.ONE_WEEK,
            environment={"PROJECT_NAME": "fraud"},
            assets=PlatformAssets(stack, "PlatformAssets", endpoint_templates_dir=tmp_path),
        ),
    )
    return stack, Template.from_stack(stack)


def test_a_codecommit_source_is_a_protected_checked_repository(tmp_path: Path) -> None:
    _, template = _source(tmp_path, SourceConfig())
    template.has_resource_properties("AWS::CodeCommit::Repository", {"RepositoryName": "fraud-model"})
    template.resource_count_is("Custom::ApprovalRuleTemplate", 2)
    template.has_resource_properties(
        "Custom::ApprovalRuleTemplate",
        {"TemplateName": "fraud-release-review", "Content": Match.string_like_regexp('"NumberOfApprovalsNeeded":3')},
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"detail": Match.object_like({"destinationReference": ["refs/heads/release"]})})},
    )
    template.has_output("DataScientistPolicyArn", {})
    template.resource_count_is("AWS::CodeConnections::Connection", 0)


def test_a_connection_source_has_no_codecommit_repository_and_reports_a_commit_status(tmp_path: Path) -> None:
    _, template = _source(tmp_path, SourceConfig(repository="acme/fraud", provider_type="GitHub", connection_completed=True))
    template.resource_count_is("AWS::CodeCommit::Repository", 0)
    template.resource_count_is("Custom::ApprovalRuleTemplate", 0)
    template.has_resource_properties(
        "AWS::CodeBuild::Project", {"Source": Match.object_like({"BuildStatusConfig": {"Context": "fraud/pull-request-checks"}})}
    )
    template.has_output("PullRequestStatusName", {"Value": "fraud/pull-request-checks"})


def test_a_created_connection_gets_no_webhook_until_a_person_has_completed_it(tmp_path: Path) -> None:
    """The first deploy: the connection is PENDING, so no checks project (CloudFormation would create its webhook
    through the connection); the outputs and `make synth` say what to do next (README "Step by step")."""
    stack, template = _source(tmp_path, SourceConfig(repository="acme/fraud", provider_type="GitHub"))
    template.resource_count_is("AWS::CodeConnections::Connection", 1)
    template.resource_count_is("AWS::CodeBuild::Project", 0)
    outputs = template.find_outputs("*")
    assert "source.connection_completed" in outputs["NextStep"]["Value"] and "CompleteTheConnection" in outputs
    assert "PullRequestStatusName" not in outputs and "HostChecksGuardPolicyArn" not in outputs
    assembly = stack.node.root.synth()
    text = summarize(Path(assembly.directory))
    assert "set source.connection_completed to true in cdk.json and run `make deploy` again" in text
    assert "https://<AWS::Region>.console.aws.amazon.com/codesuite/settings/connections" in text


def test_the_rollback_alarms_use_the_threshold_given_in_one_minute_datapoints() -> None:
    stack = bare_stack()
    RollbackAlarms(stack, "RollbackAlarms", endpoint_name="fraud-prd", variant_name="AllTraffic", p99_latency_alarm_ms=250)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": 250 * 1000,
            "Period": PERIOD_SECONDS,
            "EvaluationPeriods": LATENCY_MINUTES,
            "Dimensions": Match.array_with([{"Name": "EndpointName", "Value": "fraud-prd"}]),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "EvaluationPeriods": ERROR_RATE_MINUTES,
            "Metrics": Match.array_with(
                [Match.object_like({"Id": "errors", "MetricStat": Match.object_like({"Period": PERIOD_SECONDS})})]
            ),
        },
    )
