"""The CodeCommit repository data scientists commit to, seeded with the sample project."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks.seed_content import MODEL_REPO_DIR, SEED_EXCLUDES

__all__ = ["MODEL_REPO_DIR", "ModelRepository"]


class ModelRepository(Construct):
    """A CodeCommit repository whose first commit on the release branch is `model_repo/`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, repository_name: str, release_branch: str, description: str
    ) -> None:
        super().__init__(scope, construct_id)
        seed = s3_assets.Asset(self, "Seed", path=str(MODEL_REPO_DIR), exclude=list(SEED_EXCLUDES))
        self.repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            description=description,
            code=codecommit.Code.from_asset(seed, release_branch),
        )
        # The repository holds the team's model history: never deleted with the stack.
        self.repository.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
