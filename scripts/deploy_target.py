"""Deploy a stage's target stack into its own account with plain CloudFormation (run by `make deploy-target`).

    python -m scripts.deploy_target STAGE --bucket NAME --release-bucket NAME --key-arn ARN [--cdk-out cdk.out] [--profile P]

STAGE is `staging` or `production`. The template, its stack name and its
account come from the synthesized cloud assembly (`cdk.out/assembly-Targets/`,
written by `make synth` when the stage's account differs from the pipeline's).
`--bucket` and `--key-arn` are the pipeline stack's `ArtifactBucketName` and
`ArtifactKeyArn` outputs. The credentials in use must be the target account's:
the script checks `sts:GetCallerIdentity` against the synthesized account and
refuses otherwise, so a staging target never lands in production by mistake.
No CDK bootstrap is needed in the target account: the template has no assets
and no bootstrap-version rule. Errors are one line; exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

__all__ = ["DeployTargetError", "TargetTemplate", "deploy_target", "find_target", "main"]

STAGES = ("staging", "production")


class DeployTargetError(Exception):
    """A refusal or failure, as one line."""


@dataclass(frozen=True)
class TargetTemplate:
    stage: str
    stack_name: str
    account: str
    region: str | None
    template_body: str


def find_target(cdk_out: Path, stage: str) -> TargetTemplate:
    """The stage's synthesized target stack (raises DeployTargetError when there is none)."""
    manifest_path = cdk_out / "assembly-Targets" / "manifest.json"
    if not manifest_path.is_file():
        raise DeployTargetError(
            f"{manifest_path} does not exist: no stage deploys into another account "
            "(set environments.<stage>.account, then make synth)"
        )
    manifest = json.loads(manifest_path.read_text())
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        if artifact.get("type") != "aws:cloudformation:stack" or not properties.get("stackName", "").endswith(f"-{stage}-target"):
            continue
        _, _, location = artifact["environment"].partition("aws://")
        account, _, region = location.partition("/")
        return TargetTemplate(
            stage=stage,
            stack_name=properties["stackName"],
            account=account,
            region=None if region.startswith("unknown") else region,
            template_body=(manifest_path.parent / properties["templateFile"]).read_text(),
        )
    raise DeployTargetError(f"the {stage} stage deploys into the pipeline account: it has no target stack")


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "DELETE_COMPLETE"


def deploy_target(session: Any, target: TargetTemplate, *, bucket: str, key_arn: str, release_bucket: str) -> dict[str, str]:
    """Create or update the target stack; returns its outputs. Refuses the wrong account's credentials."""
    caller = session.client("sts").get_caller_identity()["Account"]
    if caller != target.account:
        raise DeployTargetError(
            f"the credentials in use are account {caller}'s; the {target.stage} target stack "
            f"belongs in account {target.account}: use that account's credentials (--profile)"
        )
    cloudformation = session.client("cloudformation")
    request = {
        "StackName": target.stack_name,
        "TemplateBody": target.template_body,
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "Parameters": [
            {"ParameterKey": "ArtifactBucketName", "ParameterValue": bucket},
            {"ParameterKey": "ReleaseBucketName", "ParameterValue": release_bucket},
            {"ParameterKey": "ArtifactKeyArn", "ParameterValue": key_arn},
        ],
    }
    if _stack_exists(cloudformation, target.stack_name):
        try:
            cloudformation.update_stack(**request)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
        else:
            cloudformation.get_waiter("stack_update_complete").wait(StackName=target.stack_name)
    else:
        cloudformation.create_stack(**request)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=target.stack_name)
    stack = cloudformation.describe_stacks(StackName=target.stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts.deploy_target", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--bucket", required=True, help="the pipeline stack's ArtifactBucketName output")
    parser.add_argument("--release-bucket", required=True, help="the pipeline stack's ReleaseBucketName output")
    parser.add_argument("--key-arn", required=True, help="the pipeline stack's ArtifactKeyArn output")
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
    parser.add_argument("--profile", default=None, help="an AWS profile of the target account")
    args = parser.parse_args(argv)
    try:
        import boto3

        target = find_target(args.cdk_out, args.stage)
        session = boto3.Session(profile_name=args.profile, region_name=target.region)
        outputs = deploy_target(session, target, bucket=args.bucket, key_arn=args.key_arn, release_bucket=args.release_bucket)
    except (DeployTargetError, ClientError, BotoCoreError, WaiterError) as error:
        print(f"deploy-target: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"deploy-target: {target.stack_name} is deployed in account {target.account}")
    for name, value in sorted(outputs.items()):
        print(f"  {name} = {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
