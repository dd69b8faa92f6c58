"""Tear down and redeploy ml-cicd safely: the steps around `cdk destroy` and `cdk deploy`.

`python -m scripts.lifecycle teardown [--yes]` (run by `make destroy`):
deletes the endpoint stacks the pipeline deployed, production first (they
cost money, and CloudFormation deletes them with the pipeline stack's deploy
role, which must still exist), then lists what the pipeline stack keeps when
`cdk destroy` removes it (resources with `DeletionPolicy: Retain`: the
repository, the model registry, the buckets with every release's artifacts and
decision records, the KMS key, the log groups).

`python -m scripts.lifecycle preflight` (run by `make deploy`): when the
pipeline stack does not exist but a fixed-name resource kept by an earlier
teardown does (the repository, the model package group), a create would fail
on the name; say so in one line, with what to do.

`python -m scripts.lifecycle adoption-mapping FILE` (run by `make adopt`):
writes the `cdk import --resource-mapping` file that adopts those resources
into a new pipeline stack (keyed by logical ID; identifiers as the CloudFormation
registry schemas name them: `RepositoryId`, `ModelPackageGroupArn`).

Every command reads the configuration from `cdk.json` and the synthesized
template from `cdk.out/` (the caller synthesizes first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.aws_errors import aws_error_code
from stacks.accounts import account_layout
from stacks.config import ConfigError, load_config

__all__ = ["Clients", "adoption_mapping", "kept_resources", "main", "preflight", "teardown"]

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
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 120})
    pipeline = f"{project_name}-pipeline"
    if not _stack_exists(cloudformation, pipeline):
        say(f"teardown: {pipeline}: not deployed")
        return
    kept = kept_resources(template)
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "?")
        for r in cloudformation.describe_stack_resources(StackName=pipeline)["StackResources"]
    }
    say(f"teardown: `cdk destroy` keeps these resources of {pipeline} (DeletionPolicy Retain):")
    for logical_id, kind in sorted(kept.items(), key=lambda item: (item[1], item[0])):
        if logical_id in physical:
            say(f"  kept: {kind} {physical[logical_id]}")


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


def preflight(clients: Clients, *, project_name: str, template: Mapping[str, Any]) -> None:
    """Refuse, in one line, a first deploy that would collide with resources kept by a teardown."""
    stack = f"{project_name}-pipeline"
    if _stack_exists(clients.cloudformation, stack):
        return
    mapping = adoption_mapping(clients, template)
    if mapping:
        resources = template["Resources"]
        names = ", ".join(
            sorted(
                f"{resources[logical_id]['Type'].split('::')[-1]} "
                f"{resources[logical_id]['Properties'][_FIXED_NAME_TYPES[resources[logical_id]['Type']][1]]}"
                for logical_id in mapping
            )
        )
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
            if not args.mapping_file:
                raise LifecycleError("adoption-mapping needs the file to write")
            mapping = adoption_mapping(aws, template)
            Path(args.mapping_file).write_text(json.dumps(mapping, indent=2) + "\n", encoding="utf-8")
            print(f"adopt: {len(mapping)} kept resource(s) to import: {', '.join(sorted(mapping)) or 'none'}")
    except (ConfigError, LifecycleError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


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
