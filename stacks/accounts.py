"""Which account each release stage deploys into, and the deterministic names of the cross-account roles.

One place for the account layout (README "Accounts"): the pipeline account
holds the source, builds, gates, artifact bucket, KMS key and model registry;
staging and production may each live in an account of their own. A stage is
*cross-account* when `environments.<stage>.account` is set and differs from
`environments.pipeline.account`. Its target stack (stacks/target_account_stack.py)
creates three roles whose names are computed here, so that the pipeline stack
refers to them by ARN without any lookup, and the pipeline-account roles the
target roles trust get names computed here too.

Pure Python: importing this module does not import the CDK.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import AppConfig, ConfigError, DeploymentTarget

__all__ = [
    "DEPLOY_INPUT_ARTIFACT",
    "MODEL_ARTIFACTS",
    "STAGES",
    "AccountLayout",
    "PipelineRoleNames",
    "TargetRoleNames",
    "account_layout",
    "artifact_folder",
    "deploy_input_objects",
    "model_package_group_name",
    "pipeline_prefix",
]

STAGES = ("staging", "production")


@dataclass(frozen=True)
class TargetRoleNames:
    """The roles a stage's target stack creates in its account.

    IAM role names have at most 64 characters: a 32-character project name plus
    `-production-sagemaker-execution` is 63.
    """

    deploy: str
    execution: str
    endpoint_reader: str


@dataclass(frozen=True)
class PipelineRoleNames:
    """Pipeline-account roles the target accounts trust by ARN: named only in a cross-account layout."""

    pipeline: str
    staging_gate: str
    promote: str


def target_role_names(project_name: str, stage: str) -> TargetRoleNames:
    return TargetRoleNames(
        deploy=f"{project_name}-{stage}-deploy",
        execution=f"{project_name}-{stage}-sagemaker-execution",
        endpoint_reader=f"{project_name}-{stage}-endpoint-reader",
    )


def pipeline_role_names(project_name: str) -> PipelineRoleNames:
    return PipelineRoleNames(
        pipeline=f"{project_name}-release-pipeline",
        staging_gate=f"{project_name}-staging-gate",
        promote=f"{project_name}-promote",
    )


def model_package_group_name(project_name: str) -> str:
    """The model registry group (in the pipeline account)."""
    return f"{project_name}-models"


def pipeline_name(project_name: str) -> str:
    """The release pipeline's name in a cross-account layout (CDK generates it otherwise)."""
    return f"{project_name}-release"


def pipeline_prefix(project_name: str) -> str:
    """Where CodePipeline keeps this pipeline's artifacts in the bucket: the first 20 characters of its name.

    CodePipeline writes artifacts under `<pipeline name, truncated to 20 characters>/<artifact name,
    truncated>/<id>` (observed behaviour confirmed by AWS on re:Post, not in the user guide: README
    "Accounts" lists it among what only an account proves).
    """
    return pipeline_name(project_name)[:20]


def artifact_folder(artifact_name: str) -> str:
    """The folder CodePipeline keeps one output artifact in: its name shortened to 10 characters.

    "Although the artifact folder name might appear to be shortened, it is still unique for your pipeline"
    (AWS re:Post, CodePipeline truncates folder names): observed, not in the user guide.
    """
    return artifact_name[:10]


# The one artifact the deploy actions take as input: the Train stage's output (the endpoint templates and their
# template configurations, stacks/components/release_pipeline.py).
DEPLOY_INPUT_ARTIFACT = "TrainOutput"


def deploy_input_objects(project_name: str) -> str:
    """The artifact store keys a target account's deploy role reads: `<pipeline, 20>/TrainOutpu/*`, nothing else
    of the pipeline's artifacts (not the source, not the build output)."""
    return f"{pipeline_prefix(project_name)}/{artifact_folder(DEPLOY_INPUT_ARTIFACT)}/*"


# Where the Train stage puts each release's serving model (release_tools/release_layout.py: releases/<run>/model/
# model.tar.gz, the inference code inside it): all a target account's SageMaker execution role reads.
MODEL_ARTIFACTS = "releases/*/model/*"


@dataclass(frozen=True)
class AccountLayout:
    """The pipeline account and, per stage, the account it deploys into when that differs (else None)."""

    project_name: str
    pipeline_account: str | None
    targets: dict[str, str | None]

    @property
    def cross_account(self) -> bool:
        return any(self.targets.values())

    def target_account(self, stage: str) -> str | None:
        return self.targets[stage]

    def cross_account_stages(self) -> list[str]:
        return [stage for stage in STAGES if self.targets[stage]]

    def role_names(self, stage: str) -> TargetRoleNames:
        return target_role_names(self.project_name, stage)

    def role_arn(self, stage: str, name: str, partition: str = "aws") -> str:
        """`arn:<partition>:iam::<target account>:role/<name>` of a role in a stage's account."""
        account = self.targets[stage]
        if account is None:
            raise ValueError(f"the {stage} stage deploys into the pipeline account")
        return f"arn:{partition}:iam::{account}:role/{name}"

    @property
    def pipeline_roles(self) -> PipelineRoleNames:
        return pipeline_role_names(self.project_name)


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"invalid configuration ml-cicd.{key}: {message}")


def _check_region(stage: str, target: DeploymentTarget, pipeline: DeploymentTarget, cross_account: bool) -> None:
    """Same-region only: CodePipeline needs an artifact bucket per region for cross-region actions (not built)."""
    key = f"environments.{stage}.region"
    if target.region is not None and pipeline.region is not None and target.region != pipeline.region:
        raise _fail(
            key,
            f"{target.region} differs from environments.pipeline.region {pipeline.region}; allowed: "
            'the pipeline\'s region (cross-region releases are refused: README "Accounts")',
        )
    if cross_account and target.region is not None and pipeline.region is None:
        raise _fail(
            "environments.pipeline.region",
            f"is missing while environments.{stage} names region "
            f"{target.region}; allowed: the same region for both (cross-region releases are refused)",
        )


def account_layout(config: AppConfig) -> AccountLayout:
    """The validated layout (raises ConfigError with one line naming the key)."""
    pipeline = config.pipeline_env
    targets: dict[str, str | None] = {}
    for stage, target in (("staging", config.staging_env), ("production", config.production_env)):
        account = target.account
        if account is not None and pipeline.account is None:
            raise _fail(
                "environments.pipeline.account",
                f"is missing while environments.{stage}.account is "
                f"{account}; allowed: the pipeline's 12-digit account id (a target account is compared with it)",
            )
        cross = account is not None and account != pipeline.account
        _check_region(stage, target, pipeline, cross)
        targets[stage] = account if cross else None
    return AccountLayout(project_name=config.project_name, pipeline_account=pipeline.account, targets=targets)
