"""The CodeCommit repository data scientists commit to, seeded with the sample project."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

__all__ = ["MODEL_REPO_DIR", "ModelRepository"]

MODEL_REPO_DIR = Path(__file__).resolve().parents[2] / "model_repo"
# Local by-products that must never reach the seeded repository (and would make the asset hash drift).
_SEED_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".pytest_cache", "**/.pytest_cache", ".ruff_cache", "**/.DS_Store",
                  "**/*.egg-info", "build", "dist", ".venv"]


class ModelRepository(Construct):
    """A CodeCommit repository whose first commit on the release branch is `model_repo/`."""

    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str, release_branch: str,
                 description: str) -> None:
        super().__init__(scope, construct_id)
        seed = s3_assets.Asset(self, "Seed", path=str(MODEL_REPO_DIR), exclude=_SEED_EXCLUDES)
        self.repository = codecommit.Repository(
            self, "Repository",
            repository_name=repository_name,
            description=description,
            code=codecommit.Code.from_asset(seed, release_branch),
        )
        # The repository holds the team's model history: never deleted with the stack.
        self.repository.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
