"""The ECR repository for a model repository's own container image, and the build that fills it.

When a commit has a `Dockerfile` at its root, the Build stage's image build
(`buildspecs/image.yml`, its own privileged CodeBuild project: only building
an image needs Docker) builds it, tags it with the commit ID, pushes it, waits
for ECR's scan and applies the image gate (`release_tools.image_scan`,
`image.max_severity`). Training, evaluation and the endpoints then use the
image by digest, so production serves exactly the scanned image. A commit
without a `Dockerfile` releases on the prebuilt scikit-learn image as before.

The repository: KMS-encrypted with the project key, immutable tags, scan on
push, and a lifecycle that keeps the images of the last releases and every
image tagged `champion-*` (the promotion tags the champion's image).
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# The promote function tags the champion's image; one prefix for it and for the lifecycle rule that keeps it.
from contracts.image_tags import CHAMPION_TAG_PREFIX
from stacks.components.nag_acknowledgements import acknowledge

__all__ = ["CHAMPION_TAG_PREFIX", "ImageRepository", "ImageRepositoryProps", "PULL_ACTIONS"]

PULL_ACTIONS = _PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
_PUSH_ACTIONS = (
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeImageScanFindings",
)


@dataclass(frozen=True, kw_only=True)
class ImageRepositoryProps:
    """The project, its key, and how many release images to keep."""

    project_name: str
    encryption_key: kms.IKey
    keep_release_images: int


class ImageRepository(Construct):
    """One private ECR repository for the model's image; push only by the image build, pull only by SageMaker."""

    def __init__(self, scope: Construct, construct_id: str, *, props: ImageRepositoryProps) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=props.encryption_key,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            image_scan_on_push=True,
            # Images of released models: kept with the stack's other release data.
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                # "An image that matches the tagging requirements of a rule cannot be expired by a rule with a
                # lower priority" (ECR user guide, lifecycle policies): champion images are never expired.
                ecr.LifecycleRule(
                    rule_priority=1,
                    description="Keep every image that served as champion.",
                    tag_status=ecr.TagStatus.TAGGED,
                    tag_prefix_list=[CHAMPION_TAG_PREFIX],
                    max_image_count=9999,
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"Keep the images of the last {props.keep_release_images} releases.",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=props.keep_release_images,
                ),
            ],
        )

    def grant_push(self, role: iam.IRole) -> None:
        """Push and scan results for this repository (plus the registry token, which has no resource)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="PushTheModelImage", actions=list(_PUSH_ACTIONS), resources=[self.repository.repository_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="RegistryLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        acknowledge(
            role,
            resources={
                "*": "ecr:GetAuthorizationToken (registry login) has no resource-level "
                "permission; push is scoped to the model image repository."
            },
        )

    def grant_pull(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="PullTheModelImage", actions=list(_PULL_ACTIONS), resources=[self.repository.repository_arn])
        )

    def grant_champion_tagging(self, role: iam.IRole) -> None:
        """The promotion adds a `champion-*` tag to the served image (a new tag; immutable tags are never moved)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagTheChampionImage",
                actions=["ecr:BatchGetImage", "ecr:PutImage"],
                resources=[self.repository.repository_arn],
            )
        )
