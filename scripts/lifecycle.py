"""Tear down and redeploy ml-cicd safely: the steps around `cdk destroy` and `cdk deploy`.

`python -m scripts.lifecycle teardown [--yes]` (run by `make destroy`):
deletes the endpoint stacks the pipeline deployed, production first (they
cost money, and CloudFormation deletes them with the pipeline stack's deploy
role, which must still exist), then lists what the pipeline stack keeps when
`cdk destroy` removes it (resources with `DeletionPolicy: Retain`: the
repository, the model registry, the buckets with every release's artifacts and
decision records, the KMS key, the model image repository, the log groups) and
the `retained_release_stores` setting a redeploy needs.

`python -m scripts.lifecycle preflight` (run by `make deploy`): when the
pipeline stack does not exist but a fixed-name resource kept by an earlier
teardown does (the repository, the model package group), a create would fail
on the name; say so in one line, with what to do. A resource that a live
stack owns (a changed `project_name` is a second platform, not a rename) is
named with that stack instead.

`python -m scripts.lifecycle adoption-mapping FILE` (run by `make adopt`):
writes the `cdk import --resource-mapping` file that adopts those resources
into a new pipeline stack (keyed by logical ID; identifiers as the CloudFormation
registry schemas name them: `RepositoryId`, `ModelPackageGroupArn`), after
refusing a registry whose champion lives in a kept bucket that
`retained_release_stores` does not name (the new roles could not read it).

Every command reads the configuration from `cdk.json` and the synthesized
template from `cdk.out/` (the caller synthesizes first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from contracts.aws_errors import aws_error_code, code_or_type
from release_tools.errors import ReleaseToolError
from release_tools.model_registry import find_champion
from stacks.accounts import account_layout
from stacks.config import ConfigError, RetainedReleaseStore, load_config

__all__ = [
    "Clients",
    "adoption_mapping",
    "kept_resources",
    "main",
    "preflight",
    "refuse_resources_of_live_stacks",
    "refuse_unreadable_champion",
    "retained_release_stores_setting",
    "teardown",
]

# Fixed-name types a new stack cannot create while a kept one exists: (import identifier, name property).
_FIXED_NAME_TYPES = {
    "AWS::CodeCommit::Repository": ("RepositoryId", "RepositoryName"),
    "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupArn", "ModelPackageGroupName"),
}


class LifecycleError(RuntimeError):
    """A step that cannot go on, with a one-line reason."""


@dataclass(frozen=True)
class Clients:
    """The AWS clients the steps use (injected in tests)."""

    cloudformation: Any
    codecommit: Any
    sagemaker: Any

    @classmethod
    def from_default_session(cls) -> Clients:
        import boto3

        return cls(boto3.client("cloudformation"), boto3.client("codecommit"), boto3.client("sagemaker"))


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except Exception as error:  # noqa: BLE001 - "does not exist" is an answer; anything else propagates
        if aws_error_code(error) == "ValidationError" and "does not exist" in str(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "DELETE_COMPLETE"


def pipeline_template(cdk_out: Path, stack_name: str) -> dict[str, Any]:
    """The synthesized template of the stack called `stack_name` in `cdk_out`."""
    manifest = json.loads((cdk_out / "manifest.json").read_text(encoding="utf-8"))
    for artifact in manifest.get("artifacts", {}).values():
        props = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack" and props.get("stackName") == stack_name:
            return dict(json.loads((cdk_out / props["templateFile"]).read_text(encoding="utf-8")))
    raise LifecycleError(f"{cdk_out} has no synthesized stack {stack_name}: synthesize first")


def kept_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical ID → type of every resource CloudFormation keeps when the stack is deleted."""
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("DeletionPolicy") == "Retain"
    }


def teardown(
    clients: Clients,
    *,
    project_name: str,
    template: Mapping[str, Any],
    say: Callable[[str], None] = print,
    target_accounts: Mapping[str, str | None] | None = None,
) -> None:
    """Delete the endpoint stacks (production first), then list what the pipeline stack keeps.

    `target_accounts`: stages deployed into another account (README "Accounts"), whose stacks these
    credentials cannot delete: named, with what to run there.
    """
    cloudformation = clients.cloudformation
    for stage in ("production", "staging"):
        name = f"{project_name}-{stage}-endpoint"
        account = (target_accounts or {}).get(stage)
        if account:
            say(
                f"teardown: {name} is in account {account}: delete it, then {project_name}-{stage}-target, "
                "with that account's credentials"
            )
            continue
        if not _stack_exists(cloudformation, name):
            say(f"teardown: {name}: not deployed")
            continue
        say(f"teardown: deleting {name} (its endpoint stops serving and billing)")
        cloudformation.delete_stack(StackName=name)
        _wait_for_deletion(cloudformation, name)
    pipeline = f"{project_name}-pipeline"
    if not _stack_exists(cloudformation, pipeline):
        say(f"teardown: {pipeline}: not deployed")
        return
    kept = kept_resources(template)
    resources = cloudformation.describe_stack_resources(StackName=pipeline)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "?") for r in resources}
    say(f"teardown: `cdk destroy` keeps these resources of {pipeline} (DeletionPolicy Retain):")
    for logical_id, kind in sorted(kept.items(), key=lambda item: (item[1], item[0])):
        if logical_id in physical:
            say(f"  kept: {kind} {physical[logical_id]}")
    setting = retained_release_stores_setting(template, physical, str(resources[0]["StackId"])) if resources else []
    if setting:
        say(
            "teardown: to redeploy with `make adopt` and keep the registry's models readable, set "
            f"ml-cicd.retained_release_stores in cdk.json to {json.dumps(setting)}"
        )


def _wait_for_deletion(cloudformation: Any, name: str) -> None:
    """Wait until stack `name` is deleted; a stack that cannot be deleted is one line naming its status."""
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 120})
    except WaiterError as error:
        stacks = (error.last_response or {}).get("Stacks") or [{}]
        status = stacks[0].get("StackStatus", "unknown")
        reason = stacks[0].get("StackStatusReason", str(error))
        raise LifecycleError(
            f"{name} was not deleted ({status}: {reason}); fix what its events in the CloudFormation console name, "
            "then run `make destroy` again (nothing else was deleted)"
        ) from None


def retained_release_stores_setting(
    template: Mapping[str, Any], physical: Mapping[str, str], stack_id: str
) -> list[dict[str, str]]:
    """The `retained_release_stores` value for the kept buckets encrypted with a kept KMS key (their release data).

    A key's physical ID is its key ID; its ARN takes the partition, region and account of the stack's ID.
    """
    partition, region, account = stack_id.split(":")[1], stack_id.split(":")[3], stack_id.split(":")[4]
    kept = kept_resources(template)
    setting = []
    for logical_id, kind in sorted(kept.items()):
        if kind != "AWS::S3::Bucket" or logical_id not in physical:
            continue
        rules = template["Resources"][logical_id].get("Properties", {}).get("BucketEncryption", {})
        for rule in rules.get("ServerSideEncryptionConfiguration", []):
            key = rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID", {})
            key_id = physical.get(key.get("Fn::GetAtt", [""])[0]) if isinstance(key, dict) else None
            if key_id:
                arn = f"arn:{partition}:kms:{region}:{account}:key/{key_id}"
                setting.append({"bucket": physical[logical_id], "kms_key_arn": arn})
    return setting


def _existing_identifier(clients: Clients, kind: str, resource: Mapping[str, Any]) -> str | None:
    """The import identifier of the kept resource a new stack would collide with, or None."""
    props = resource.get("Properties", {})
    try:
        if kind == "AWS::CodeCommit::Repository":
            metadata = clients.codecommit.get_repository(repositoryName=props["RepositoryName"])
            return str(metadata["repositoryMetadata"]["repositoryId"])
        group = clients.sagemaker.describe_model_package_group(ModelPackageGroupName=props["ModelPackageGroupName"])
        return str(group["ModelPackageGroupArn"])
    except Exception as error:  # noqa: BLE001 - "does not exist" is an answer; anything else propagates
        if aws_error_code(error) in ("RepositoryDoesNotExistException", "ValidationException"):
            return None
        raise


def adoption_mapping(clients: Clients, template: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """`cdk import --resource-mapping` content: kept fixed-name resources that exist, by logical ID."""
    mapping: dict[str, dict[str, str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] not in _FIXED_NAME_TYPES:
            continue
        identifier_name = _FIXED_NAME_TYPES[resource["Type"]][0]
        identifier = _existing_identifier(clients, resource["Type"], resource)
        if identifier is not None:
            mapping[logical_id] = {identifier_name: identifier}
    return mapping


def _live_owner(cloudformation: Any, physical_id: str) -> str | None:
    """The stack that owns the resource `physical_id` and still exists, or None.

    DescribeStackResources with a PhysicalResourceId returns "the associated resources of the stack that
    the resource belongs to", for running and deleted stacks ("For deleted stacks, DescribeStackResources
    returns resource information for up to 90 days"): the owner's own status tells the two apart.
    """
    try:
        resources = cloudformation.describe_stack_resources(PhysicalResourceId=physical_id)["StackResources"]
    except Exception as error:  # noqa: BLE001 - "no stack owns it" is an answer; anything else propagates
        if aws_error_code(error) == "ValidationError":
            return None
        raise
    if not resources:
        return None
    stacks = cloudformation.describe_stacks(StackName=resources[0]["StackId"])["Stacks"]
    return str(stacks[0]["StackName"]) if stacks and stacks[0]["StackStatus"] != "DELETE_COMPLETE" else None


def _resource_label(template: Mapping[str, Any], logical_id: str) -> str:
    resource = template["Resources"][logical_id]
    return f"{resource['Type'].split('::')[-1]} {resource['Properties'][_FIXED_NAME_TYPES[resource['Type']][1]]}"


def refuse_resources_of_live_stacks(
    clients: Clients, template: Mapping[str, Any], mapping: Mapping[str, Mapping[str, str]]
) -> None:
    """Refuse, in one line, to adopt a resource another live stack owns (a changed project_name, not a teardown)."""
    for logical_id, identifier in sorted(mapping.items()):
        owner = _live_owner(clients.cloudformation, next(iter(identifier.values())))
        if owner:
            raise LifecycleError(
                f"{_resource_label(template, logical_id)} belongs to the live stack {owner}, not to a teardown: a new "
                "project_name deploys a second platform beside it, it does not rename one; set project_name back, or "
                'give this one its own repository_name (README "Operating ml-cicd")'
            )


def refuse_unreadable_champion(
    clients: Clients,
    template: Mapping[str, Any],
    mapping: Mapping[str, Mapping[str, str]],
    retained: Sequence[RetainedReleaseStore],
) -> None:
    """Refuse, in one line, to adopt a registry whose champion lives in a bucket the new roles may not read."""
    resources = template.get("Resources", {})
    groups = [
        resources[logical_id]["Properties"]["ModelPackageGroupName"]
        for logical_id in sorted(mapping)
        if resources[logical_id]["Type"] == "AWS::SageMaker::ModelPackageGroup"
    ]
    readable = {store.bucket for store in retained}
    for group in groups:
        try:
            champion = find_champion(clients.sagemaker, group)
        except ReleaseToolError as error:
            raise LifecycleError(str(error)) from None
        bucket = urlparse(champion.model_data_url).netloc if champion else ""
        if champion and bucket not in readable:
            raise LifecycleError(
                f"the champion {champion.model_package_arn} of the kept registry has its model in s3://{bucket}/, which "
                f'the new stack\'s roles cannot read: add {{"bucket": "{bucket}", "kms_key_arn": "<the key `make destroy` '
                'listed>"} to ml-cicd.retained_release_stores in cdk.json, then run `make adopt` again'
            )


def preflight(clients: Clients, *, project_name: str, template: Mapping[str, Any]) -> None:
    """Refuse, in one line, a first deploy that would collide with resources kept by a teardown."""
    stack = f"{project_name}-pipeline"
    if _stack_exists(clients.cloudformation, stack):
        return
    mapping = adoption_mapping(clients, template)
    if mapping:
        refuse_resources_of_live_stacks(clients, template, mapping)
        names = ", ".join(sorted(_resource_label(template, logical_id) for logical_id in mapping))
        raise LifecycleError(
            f"{stack} does not exist but {names} kept by an earlier teardown do: run `make adopt` to import "
            "them into the new stack, then `make deploy` (or choose another project_name/repository_name)"
        )


def _context(cdk_json: Path) -> Mapping[str, Any]:
    return dict(json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {}))


def main(argv: list[str] | None = None, *, clients: Clients | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.lifecycle", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("teardown", "preflight", "adoption-mapping"))
    parser.add_argument("mapping_file", nargs="?", help="adoption-mapping: where to write the mapping")
    parser.add_argument("--yes", action="store_true", help="teardown: do not ask for confirmation")
    parser.add_argument("--cdk-json", type=Path, default=Path("cdk.json"))
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
    args = parser.parse_args(argv)
    try:
        config = load_config(_context(args.cdk_json))
        template = pipeline_template(args.cdk_out, f"{config.project_name}-pipeline")
        if args.command == "teardown" and not args.yes and not _confirmed(config.project_name):
            print("teardown: not confirmed; nothing was changed", file=sys.stderr)
            return 1
        aws = clients or Clients.from_default_session()
        if args.command == "teardown":
            teardown(aws, project_name=config.project_name, template=template, target_accounts=account_layout(config).targets)
        elif args.command == "preflight":
            preflight(aws, project_name=config.project_name, template=template)
        else:
            _write_adoption_mapping(aws, template, config.retained_release_stores, args.mapping_file)
    except (ConfigError, LifecycleError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {code_or_type(error)}: {error}", file=sys.stderr)
        return 2
    return 0


def _write_adoption_mapping(
    clients: Clients, template: Mapping[str, Any], retained: Sequence[RetainedReleaseStore], mapping_file: str | None
) -> None:
    """`make adopt`'s mapping, after refusing what the new stack could not own or read."""
    if not mapping_file:
        raise LifecycleError("adoption-mapping needs the file to write")
    mapping = adoption_mapping(clients, template)
    refuse_resources_of_live_stacks(clients, template, mapping)
    refuse_unreadable_champion(clients, template, mapping, retained)
    Path(mapping_file).write_text(json.dumps(mapping, indent=2) + "\n", encoding="utf-8")
    print(f"adopt: {len(mapping)} kept resource(s) to import: {', '.join(sorted(mapping)) or 'none'}")


def _confirmed(project_name: str) -> bool:
    print(
        f"This deletes the {project_name} endpoint stacks and then the pipeline stack. Type {project_name!r} to go on: ",
        end="",
        flush=True,
    )
    try:
        return sys.stdin.readline().strip() == project_name
    except (OSError, KeyboardInterrupt):
        return False


if __name__ == "__main__":
    sys.exit(main())
