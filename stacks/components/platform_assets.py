"""What CodeBuild fetches from the platform: its tools, the contract schemas, the endpoint templates.

The model repository cannot change any of these: they come from the
platform's own deployment, as S3 assets, not from the commit under release.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

__all__ = ["PROJECT_ROOT", "TOOL_PACKAGES", "PlatformAssets", "only_folders"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The packages CodeBuild runs from the platform (never from the commit): `python -P -m release_tools.<tool>`.
TOOL_PACKAGES = ("release_tools", "contracts")
_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache"]


def only_folders(folders: Sequence[str]) -> list[str]:
    """Asset `exclude` patterns that keep only `folders` of the asset's directory, without bytecode or caches.

    `*` does not match names starting with a dot in CDK's glob patterns, so `.*` is excluded too.
    """
    return ["*", ".*", *[f"!{name}" for name in folders], *[f"!{name}/**" for name in folders], *_EXCLUDES]


class PlatformAssets(Construct):
    """Zipped `release_tools/` with `contracts/`, `schemas/` and endpoint templates, with their S3 URLs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint_templates_dir: Path, bootstrap_kms_key_arn: str | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.bootstrap_kms_key_arn = bootstrap_kms_key_arn
        # One asset holds `release_tools/` and `contracts/` (the buildspecs unzip it into $PLATFORM_DIR, so both are
        # top-level packages there, as in this repository); links are followed, so the asset holds files.
        self.tools = s3_assets.Asset(
            self,
            "ReleaseTools",
            path=str(PROJECT_ROOT),
            exclude=only_folders(TOOL_PACKAGES),
            follow_symlinks=cdk.SymlinkFollowMode.ALWAYS,
        )
        self.schemas = s3_assets.Asset(self, "Schemas", path=str(PROJECT_ROOT / "schemas"), exclude=_EXCLUDES)
        self.endpoint_templates = s3_assets.Asset(self, "EndpointTemplates", path=str(endpoint_templates_dir))

    @property
    def environment(self) -> dict[str, str]:
        """The CodeBuild environment variables that locate the assets."""
        return {
            "PLATFORM_TOOLS_S3_URI": self.tools.s3_object_url,
            "PLATFORM_SCHEMAS_S3_URI": self.schemas.s3_object_url,
        }

    def grant_read(self, grantee: iam.IGrantable, *, endpoint_templates: bool = False) -> None:
        """Read exactly these objects (not the whole bootstrap bucket, as `Asset.grant_read` would)."""
        assets = [self.tools, self.schemas, *([self.endpoint_templates] if endpoint_templates else [])]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPlatformAssets",
                actions=["s3:GetObject"],
                resources=[asset.bucket.arn_for_objects(asset.s3_object_key) for asset in assets],
            )
        )
        if self.bootstrap_kms_key_arn:
            # An account bootstrapped with its own key (`cdk bootstrap --bootstrap-kms-key-id`) encrypts the
            # assets with it (SSE-KMS); S3 decrypts on the reader's behalf, so the reader needs kms:Decrypt
            # on that key, and only through S3 in this region (kms:ViaService).
            stack = cdk.Stack.of(self)
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DecryptPlatformAssets",
                    actions=["kms:Decrypt"],
                    resources=[self.bootstrap_kms_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"}},
                )
            )
