"""EventBridge rules that tell people what the release pipeline did, through the SNS topic."""

from __future__ import annotations

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

__all__ = ["ReleaseEvents"]


class ReleaseEvents(Construct):
    """Pipeline failures, gate verdicts, rollbacks and registry decisions, each as a readable message."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: codepipeline.IPipeline,
        topic: sns.ITopic,
        model_package_group_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._pipeline_events(pipeline, topic)
        self._registry_decisions(topic, model_package_group_name)

    @staticmethod
    def _pipeline_events(pipeline: codepipeline.IPipeline, topic: sns.ITopic) -> None:
        """Failures, gate verdicts and rollbacks of the pipeline (its rules are the pipeline's children)."""
        pipeline_name = events.EventField.from_path("$.detail.pipeline")
        execution = events.EventField.from_path("$.detail.execution-id")
        pipeline.on_state_change(
            "PipelineFailed",
            description="A release failed: tell the team which execution.",
            event_pattern=events.EventPattern(detail={"state": ["FAILED"]}),
            target=targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(
                    f"Release failed: pipeline {pipeline_name}, execution {execution}. "
                    "Open the CodePipeline console for the failed action and its message."
                ),
            ),
        )
        pipeline.on_event(
            "GateVerdict",
            description="An evaluation or staging gate decided.",
            event_pattern=events.EventPattern(
                detail_type=["CodePipeline Action Execution State Change"],
                detail={"action": ["EvaluationGate", "StagingGate", "VerifyProduction"], "state": ["SUCCEEDED", "FAILED"]},
            ),
            target=targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(
                    f"Gate {events.EventField.from_path('$.detail.action')} {events.EventField.from_path('$.detail.state')} "
                    f"in pipeline {pipeline_name}, execution {execution}. The decision record is linked in the action's details."
                ),
            ),
        )
        pipeline.on_event(
            "Rollback",
            description="A stage rolled back (DeployProd failed, including after a SageMaker auto-rollback).",
            event_pattern=events.EventPattern(
                detail_type=["CodePipeline Pipeline Execution State Change"],
                detail={"execution-trigger": {"trigger-type": ["AutomatedRollback", "ManualRollback"]}},
            ),
            target=targets.SnsTopic(
                topic,
                message=events.RuleTargetInput.from_text(
                    f"Rollback in pipeline {pipeline_name}: execution {execution} is "
                    f"{events.EventField.from_path('$.detail.state')} (redeploying the previous release)."
                ),
            ),
        )

    def _registry_decisions(self, topic: sns.ITopic, model_package_group_name: str) -> None:
        events.Rule(
            self,
            "RegistryDecision",
            description="A model package was approved (new champion) or rejected.",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": ["Approved", "Rejected"]},
            ),
            targets=[
                targets.SnsTopic(
                    topic,
                    message=events.RuleTargetInput.from_text(
                        f"Model {events.EventField.from_path('$.detail.ModelPackageArn')} is now "
                        f"{events.EventField.from_path('$.detail.ModelApprovalStatus')}."
                    ),
                )
            ],
        )
