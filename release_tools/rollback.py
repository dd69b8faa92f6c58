"""Roll production back to the previous champion: one command, for an operator's laptop.

    python -m release_tools.rollback --stack-name <production endpoint stack> [--region R] [--dry-run] [--reason TEXT]

The stack's `ModelPackageArn` parameter names what production serves, which
must be the current champion (the latest Approved package of its group). The
Promote action recorded the champion it replaced as the `previous_champion`
metadata of the current one. The command updates the stack with its previous
template and `ModelPackageArn=<previous champion>`, waits for the update, then
marks the rolled-back package `Rejected` (so the previous champion is the
latest Approved again) and says so on both packages. See
docs/promotion-and-rollback.md.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from .errors import ReleaseToolError, run_cli
from .model_package_metadata import customer_metadata, metadata_keys
from .model_registry import find_champion

__all__ = [
    "PREVIOUS_CHAMPION_KEY",
    "SUPERSEDED_KEYS",
    "RollbackPlan",
    "main",
    "plan_rollback",
    "run_rollback",
]

# Written by the promote function (lambdas/promote/champion_promotion.py); a test keeps them equal.
PREVIOUS_CHAMPION_KEY = "previous_champion"
SUPERSEDED_KEYS = ("superseded_by", "superseded_at")
NO_PREVIOUS_CHAMPION = "none"
PARAMETER = "ModelPackageArn"
_SETTLED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


@dataclass(frozen=True)
class RollbackPlan:
    """What the rollback changes."""

    stack_name: str
    current: str
    previous: str
    group: str
    other_parameters: tuple[str, ...]
    capabilities: tuple[str, ...]


def _aws(what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"{what} failed: {exc}") from None


def plan_rollback(cloudformation: Any, sagemaker: Any, stack_name: str) -> RollbackPlan:
    """Read the stack and the registry; refuse unless the rollback target is unambiguous."""
    stacks = _aws(f"DescribeStacks {stack_name}", cloudformation.describe_stacks, StackName=stack_name)["Stacks"]
    stack = stacks[0]
    if stack["StackStatus"] not in _SETTLED:
        raise ReleaseToolError(f"stack {stack_name} is {stack['StackStatus']}: wait until it settles")
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    current = parameters.get(PARAMETER)
    if not current:
        raise ReleaseToolError(f"stack {stack_name} has no {PARAMETER} parameter: is it a production endpoint stack?")
    package = _aws(f"DescribeModelPackage {current}", sagemaker.describe_model_package, ModelPackageName=current)
    group = package.get("ModelPackageGroupName") or ""
    champion = find_champion(sagemaker, group)
    if champion is None or champion.model_package_arn != current:
        latest = champion.model_package_arn if champion else "no Approved package"
        raise ReleaseToolError(
            f"stack {stack_name} serves {current}, but the champion of group {group} is {latest}: "
            "production and the registry disagree, resolve that first"
        )
    previous = (package.get("CustomerMetadataProperties") or {}).get(PREVIOUS_CHAMPION_KEY)
    if not previous or previous == NO_PREVIOUS_CHAMPION:
        raise ReleaseToolError(
            f"{current} records no previous champion ({PREVIOUS_CHAMPION_KEY}): nothing to roll back to"
        )
    target = _aws(f"DescribeModelPackage {previous}", sagemaker.describe_model_package, ModelPackageName=previous)
    if target.get("ModelApprovalStatus") != "Approved":
        raise ReleaseToolError(
            f"previous champion {previous} is {target.get('ModelApprovalStatus')}, not Approved: will not deploy it"
        )
    return RollbackPlan(
        stack_name=stack_name,
        current=current,
        previous=previous,
        group=group,
        other_parameters=tuple(key for key in parameters if key != PARAMETER),
        capabilities=tuple(stack.get("Capabilities", [])),
    )


def _timestamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds").replace("+00:00", "Z")


def _metadata(sagemaker: Any, arn: str) -> dict[str, str]:
    package = _aws(f"DescribeModelPackage {arn}", sagemaker.describe_model_package, ModelPackageName=arn)
    return dict(package.get("CustomerMetadataProperties") or {})


def run_rollback(
    cloudformation: Any,
    sagemaker: Any,
    *,
    stack_name: str,
    dry_run: bool,
    reason: str,
    now: datetime,
    say: Callable[[str], None] = print,
    waiter_config: Mapping[str, int] | None = None,
) -> RollbackPlan:
    """Plan, then (unless `dry_run`) update the stack, wait, and record the rollback in the registry."""
    plan = plan_rollback(cloudformation, sagemaker, stack_name)
    say(f"stack {plan.stack_name} serves {plan.current} (champion of {plan.group})")
    say(f"previous champion: {plan.previous}")
    if dry_run:
        say(f"dry run: would update {plan.stack_name} to {PARAMETER}={plan.previous} and reject {plan.current}")
        return plan
    _aws(
        f"UpdateStack {stack_name}",
        cloudformation.update_stack,
        StackName=stack_name,
        UsePreviousTemplate=True,
        Parameters=[
            {"ParameterKey": PARAMETER, "ParameterValue": plan.previous},
            *({"ParameterKey": key, "UsePreviousValue": True} for key in plan.other_parameters),
        ],
        Capabilities=list(plan.capabilities),
    )
    say(f"updating stack {stack_name} to {PARAMETER}={plan.previous} (previous template)...")
    try:
        cloudformation.get_waiter("stack_update_complete").wait(
            StackName=stack_name, WaiterConfig=dict(waiter_config or {"Delay": 15, "MaxAttempts": 240})
        )
    except WaiterError as exc:
        raise ReleaseToolError(
            f"stack {stack_name} did not reach UPDATE_COMPLETE ({exc}); {plan.current} was NOT rejected"
        ) from None
    say(f"stack {stack_name} is UPDATE_COMPLETE: production serves {plan.previous}")
    stamp = _timestamp(now)
    description = f"Rolled back from production at {stamp}: {reason}; production serves {plan.previous} again"
    _aws(
        f"UpdateModelPackage {plan.current}",
        sagemaker.update_model_package,
        ModelPackageArn=plan.current,
        ModelApprovalStatus="Rejected",
        ApprovalDescription=description[:1024],
        CustomerMetadataProperties=customer_metadata({
            **_metadata(sagemaker, plan.current),
            "rolled_back_at": stamp,
            "rolled_back_to": plan.previous,
        }),
    )
    say(f"rejected {plan.current}: {reason}")
    reinstated = {k: v for k, v in _metadata(sagemaker, plan.previous).items() if k not in SUPERSEDED_KEYS}
    _aws(
        f"UpdateModelPackage {plan.previous}",
        sagemaker.update_model_package,
        ModelPackageArn=plan.previous,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties=customer_metadata(
            {**reinstated, "reinstated_at": stamp, "reinstated_after": plan.current}
        ),
        CustomerMetadataPropertiesToRemove=metadata_keys(SUPERSEDED_KEYS),
    )
    say(f"{plan.previous} is the champion again (latest Approved in {plan.group})")
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release_tools.rollback", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", required=True, help="the production endpoint stack")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    parser.add_argument("--reason", default=None, help="why (recorded on the rejected package)")
    args = parser.parse_args(argv)
    import boto3

    session = boto3.Session(region_name=args.region)
    reason = args.reason or f"rolled back by {getpass.getuser()} with release_tools.rollback"
    run_rollback(
        session.client("cloudformation"),
        session.client("sagemaker"),
        stack_name=args.stack_name,
        dry_run=args.dry_run,
        reason=reason,
        now=datetime.now(UTC),
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("rollback", main))
