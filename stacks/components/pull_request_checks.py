"""Pull-request checks: the Build stage's checks on every pull request into the release branch.

An EventBridge rule on the repository's `CodeCommit Pull Request State Change`
events (created, source branch updated) starts a CodeBuild project at the
pull request's source commit. Its buildspec (`buildspecs/pull_request.yml`)
runs the same commands as `buildspecs/ci.yml`. When the build ends, a second
rule invokes the `pull_request_reporter` function, which posts the result on
the pull request as a comment and an approval state (APPROVE or REVOKE) for
the revision checked. Only that function may comment and approve: the build,
which runs the pull request's own code, holds no such permission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.build_project import BuildProject, BuildProjectProps
from stacks.components.gate_function import GateFunction, GateFunctionProps
from stacks.service_limits import PULL_REQUEST_CHECKS_BUILDSPEC, pull_request_checks_summary

__all__ = ["PULL_REQUEST_EVENTS", "PullRequestChecks", "PullRequestChecksProps"]

PULL_REQUEST_EVENTS = ("pullRequestCreated", "pullRequestSourceBranchUpdated")
# What the build learns from the event, as environment variable overrides.
_EVENT_VARIABLES = {
    "PULL_REQUEST_ID": "$.detail.pullRequestId",
    "REVISION_ID": "$.detail.revisionId",
    "SOURCE_COMMIT": "$.detail.sourceCommit",
    "DESTINATION_COMMIT": "$.detail.destinationCommit",
}


@dataclass(frozen=True, kw_only=True)
class PullRequestChecksProps:
    """The repository and release branch watched, and the build's environment."""

    project_name: str
    repository: codecommit.IRepository
    release_branch: str
    encryption_key: kms.IKey
    log_retention: logs.RetentionDays
    environment: Mapping[str, str] = field(default_factory=dict)


class PullRequestChecks(Construct):
    """EventBridge rule -> CodeBuild project that checks a pull request and posts the verdict on it."""

    def __init__(self, scope: Construct, construct_id: str, *, props: PullRequestChecksProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        self.build = BuildProject(
            self,
            "Build",
            props=BuildProjectProps(
                buildspec=PULL_REQUEST_CHECKS_BUILDSPEC,
                description=pull_request_checks_summary(project_name=p.project_name, release_branch=p.release_branch),
                encryption_key=p.encryption_key,
                log_retention=p.log_retention,
                environment={**p.environment, "REPOSITORY_NAME": p.repository.repository_name},
            ),
            source=codebuild.Source.code_commit(repository=p.repository),
        )
        self.project = self.build.project
        self.role = self.build.role
        self.rule = self._start_on_pull_requests(p)
        self.reporter = self._reporter(p)
        self.reporter_role = self.reporter.role
        self.project.on_state_change(
            "Finished",
            description="A pull-request checks build ended: post its verdict on the pull request.",
            event_pattern=events.EventPattern(detail={"build-status": ["SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"]}),
            target=targets.LambdaFunction(self.reporter.function, retry_attempts=0),
        )

    def _start_on_pull_requests(self, p: PullRequestChecksProps) -> events.Rule:
        """The rule that starts the build at a pull request's source commit, with the pull request's identity."""
        rule = events.Rule(
            self,
            "Rule",
            description=f"A pull request into {p.release_branch} was opened or updated: run the checks on it.",
            event_pattern=events.EventPattern(
                source=["aws.codecommit"],
                detail_type=["CodeCommit Pull Request State Change"],
                resources=[p.repository.repository_arn],
                detail={
                    "event": list(PULL_REQUEST_EVENTS),
                    "destinationReference": [f"refs/heads/{p.release_branch}"],
                    "pullRequestStatus": ["Open"],
                },
            ),
        )
        rule.add_target(
            targets.CodeBuildProject(
                self.project,
                event=events.RuleTargetInput.from_object(
                    {
                        "sourceVersion": events.EventField.from_path("$.detail.sourceCommit"),
                        "environmentVariablesOverride": [
                            {"name": name, "value": events.EventField.from_path(path), "type": "PLAINTEXT"}
                            for name, path in _EVENT_VARIABLES.items()
                        ],
                    }
                ),
            )
        )
        return rule

    def _reporter(self, p: PullRequestChecksProps) -> GateFunction:
        """The function that posts the verdict: the only one allowed to comment and approve."""
        reporter = GateFunction(
            self,
            "Reporter",
            props=GateFunctionProps(
                name="pull_request_reporter",
                description=f"{p.project_name}: posts the pull-request checks' verdict (comment, approval) on the pull request.",
                log_retention=p.log_retention,
                encryption_key=p.encryption_key,
                timeout=cdk.Duration.minutes(1),
                # The reporter trusts only builds this rule started (CodeBuild records `rule/<name>` as initiator).
                environment={
                    "REPOSITORY_NAME": p.repository.repository_name,
                    "CHECKS_PROJECT_NAME": self.project.project_name,
                    "CHECKS_RULE_NAME": self.rule.rule_name,
                },
                answers_codepipeline_jobs=False,
            ),
        )
        role = reporter.role
        p.encryption_key.grant_decrypt(role)  # its environment is KMS-encrypted
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PostResultOnPullRequest",
                actions=["codecommit:PostCommentForPullRequest", "codecommit:UpdatePullRequestApprovalState"],
                resources=[p.repository.repository_arn],
            )
        )
        # Provenance before a verdict: who started the build and which commit it checked, and the pull
        # request's current revision (lambdas/pull_request_reporter/build_provenance.py).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ConfirmBuildProvenance",
                actions=["codebuild:BatchGetBuilds"],
                resources=[self.project.project_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPullRequestRevision",
                actions=["codecommit:GetPullRequest"],
                resources=[p.repository.repository_arn],
            )
        )
        return reporter
