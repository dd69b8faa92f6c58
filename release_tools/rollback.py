"""Roll production back to the previous champion: one command, for an operator's laptop.

    python -m release_tools.rollback --stack-name <production endpoint stack> [--region R] [--dry-run] [--reason TEXT]
        [--production-profile P | --production-role-arn ARN]   (production in its own account: README "Accounts")

The stack's `ModelPackageArn` parameter names what production serves, which
must be the current champion (the latest Approved package of its group). The
Promote action recorded the champion it replaced as the `previous_champion`
metadata of the current one. The command updates the stack with its previous
template and `ModelPackageArn=<previous champion>`, waits for the update, then
reinstates the previous champion and marks the rolled-back package `Rejected`
(so the previous champion is the latest Approved again), saying so on both
packages. See docs/promotion-and-rollback.md.

Every step is idempotent and its result can be seen in AWS, so an interrupted
rollback (Ctrl-C, a lost connection) is finished by running the same command
again: a stack already updating to the previous champion is waited for, a
stack already serving it skips to the registry steps, and a rollback already
complete is reported and left alone (`--further` rolls back one more release).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from contracts.decision_records import record_timestamp
from contracts.model_package_metadata import customer_metadata, metadata_keys

from .build_signals import INTERRUPTING_SIGNALS, keyboard_interrupt, raise_if_signalled, signals_raise
from .errors import ReleaseToolError, run_cli
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
_UPDATING = ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
REINSTATED_AFTER_KEY = "reinstated_after"
ROLLED_BACK_TO_KEY = "rolled_back_to"
ROLLING_BACK_TO_KEY = "rolling_back_to"
"""Written on the champion before the stack is touched: the evidence a re-run resumes from."""
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class RollbackPlan:
    """What the rollback changes, and how far an earlier, interrupted run of it got."""

    stack_name: str
    current: str
    previous: str
    group: str
    other_parameters: tuple[str, ...]
    capabilities: tuple[str, ...]
    stack_status: str = "UPDATE_COMPLETE"
    stack_serves_previous: bool = False
    already_complete: bool = False


def _aws(what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise ReleaseToolError(f"{what} failed: {exc}") from None


def _package(sagemaker: Any, arn: str) -> dict[str, Any]:
    return dict(_aws(f"DescribeModelPackage {arn}", sagemaker.describe_model_package, ModelPackageName=arn))


def _metadata_of(package: Mapping[str, Any]) -> dict[str, str]:
    return dict(package.get("CustomerMetadataProperties") or {})


def _completed_rollback_from(sagemaker: Any, champion: Mapping[str, Any]) -> str | None:
    """The package a finished rollback rejected to reinstate `champion`, if that is the last thing that happened."""
    after = _metadata_of(champion).get(REINSTATED_AFTER_KEY)
    if not after:
        return None
    rejected = _package(sagemaker, after)
    rolled_back_to = _metadata_of(rejected).get(ROLLED_BACK_TO_KEY)
    done = rejected.get("ModelApprovalStatus") == "Rejected" and rolled_back_to == champion.get("ModelPackageArn")
    return after if done else None


def plan_rollback(cloudformation: Any, sagemaker: Any, stack_name: str, *, further: bool = False) -> RollbackPlan:
    """Read the stack and the registry; say what remains to do, or refuse unless the target is unambiguous."""
    stack = _aws(f"DescribeStacks {stack_name}", cloudformation.describe_stacks, StackName=stack_name)["Stacks"][0]
    status = stack["StackStatus"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    serving = parameters.get(PARAMETER)
    if not serving:
        raise ReleaseToolError(f"stack {stack_name} has no {PARAMETER} parameter: is it a production endpoint stack?")
    group = _package(sagemaker, serving).get("ModelPackageGroupName") or ""
    champion = find_champion(sagemaker, group)
    if champion is None:
        raise ReleaseToolError(f"model package group {group} has no Approved package: nothing to roll back from")
    current = _package(sagemaker, champion.model_package_arn)
    plan = RollbackPlan(
        stack_name=stack_name,
        current=champion.model_package_arn,
        previous=_metadata_of(current).get(PREVIOUS_CHAMPION_KEY) or NO_PREVIOUS_CHAMPION,
        group=group,
        other_parameters=tuple(key for key in parameters if key != PARAMETER),
        capabilities=tuple(stack.get("Capabilities", [])),
        stack_status=status,
    )
    started = _metadata_of(current).get(ROLLING_BACK_TO_KEY) == plan.previous  # by an earlier, interrupted run
    resuming = started and serving == plan.previous and status in (*_SETTLED, *_UPDATING)
    if status not in _SETTLED and not resuming:
        raise ReleaseToolError(f"stack {stack_name} is {status}: wait until it settles")
    if serving == plan.current:
        rolled_back_from = None if further else _completed_rollback_from(sagemaker, current)
        if rolled_back_from:
            return replace(plan, previous=rolled_back_from, already_complete=True)
    elif resuming:
        plan = replace(plan, stack_serves_previous=True)  # an earlier run updated the stack and was interrupted
    else:
        raise ReleaseToolError(
            f"stack {stack_name} serves {serving}, but the champion of group {group} is {plan.current}: "
            "production and the registry disagree, resolve that first"
        )
    if plan.previous == NO_PREVIOUS_CHAMPION:
        raise ReleaseToolError(f"{plan.current} records no previous champion ({PREVIOUS_CHAMPION_KEY}): nothing to roll back to")
    target = _package(sagemaker, plan.previous)
    if target.get("ModelApprovalStatus") != "Approved":
        raise ReleaseToolError(
            f"previous champion {plan.previous} is {target.get('ModelApprovalStatus')}, not Approved: will not deploy it"
        )
    return plan


def _metadata(sagemaker: Any, arn: str) -> dict[str, str]:
    return _metadata_of(_package(sagemaker, arn))


def _record_intent(sagemaker: Any, plan: RollbackPlan, stamp: str, say: Callable[[str], None]) -> None:
    """Step 0: say on the champion where it is being rolled back to, before the stack changes."""
    _aws(
        f"UpdateModelPackage {plan.current}",
        sagemaker.update_model_package,
        ModelPackageArn=plan.current,
        ModelApprovalStatus="Approved",  # unchanged (it is the champion); stated because moto clears an omitted one
        CustomerMetadataProperties=customer_metadata(
            {
                **_metadata(sagemaker, plan.current),
                ROLLING_BACK_TO_KEY: plan.previous,
                "rollback_started_at": stamp,
            }
        ),
    )
    say(f"recorded on {plan.current}: {ROLLING_BACK_TO_KEY}={plan.previous}")


def _update_stack(
    cloudformation: Any, plan: RollbackPlan, say: Callable[[str], None], waiter_config: Mapping[str, int] | None
) -> None:
    """Step 1: the stack serves the previous champion (started now, or by an interrupted run)."""
    stack_name = plan.stack_name
    if plan.stack_serves_previous and plan.stack_status in _SETTLED:
        say(f"resuming: stack {stack_name} already serves {plan.previous}")
        return
    if plan.stack_serves_previous:
        say(f"resuming: stack {stack_name} is {plan.stack_status} towards {plan.previous}; waiting for it")
    else:
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


def _update_registry(sagemaker: Any, plan: RollbackPlan, reason: str, stamp: str, say: Callable[[str], None]) -> None:
    """Steps 2 and 3: reinstate the previous champion, then reject the rolled-back package (last, so that
    until it is done the rolled-back package stays the champion and a re-run resumes here)."""
    reinstated = {k: v for k, v in _metadata(sagemaker, plan.previous).items() if k not in SUPERSEDED_KEYS}
    _aws(
        f"UpdateModelPackage {plan.previous}",
        sagemaker.update_model_package,
        ModelPackageArn=plan.previous,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties=customer_metadata({**reinstated, "reinstated_at": stamp, REINSTATED_AFTER_KEY: plan.current}),
        CustomerMetadataPropertiesToRemove=metadata_keys(SUPERSEDED_KEYS),
    )
    say(f"reinstated {plan.previous} (metadata {REINSTATED_AFTER_KEY}={plan.current})")
    description = f"Rolled back from production at {stamp}: {reason}; production serves {plan.previous} again"
    _aws(
        f"UpdateModelPackage {plan.current}",
        sagemaker.update_model_package,
        ModelPackageArn=plan.current,
        ModelApprovalStatus="Rejected",
        ApprovalDescription=description[:1024],
        CustomerMetadataProperties=customer_metadata(
            {
                **_metadata(sagemaker, plan.current),
                "rolled_back_at": stamp,
                ROLLED_BACK_TO_KEY: plan.previous,
            }
        ),
    )
    say(f"rejected {plan.current}: {reason}")
    say(f"{plan.previous} is the champion again (latest Approved in {plan.group})")


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
    further: bool = False,
) -> RollbackPlan:
    """Plan, then (unless `dry_run`) update the stack, wait, and record the rollback in the registry.

    Resumes an interrupted rollback where it stopped; does nothing when the last rollback is complete.
    """
    plan = plan_rollback(cloudformation, sagemaker, stack_name, further=further)
    if plan.already_complete:
        say(
            f"nothing to do: production already rolled back from {plan.previous} to {plan.current}, "
            f"the champion of {plan.group}; pass --further to roll back from {plan.current} too"
        )
        return plan
    say(f"stack {plan.stack_name} serves {plan.previous if plan.stack_serves_previous else plan.current} "
        f"(champion of {plan.group}: {plan.current})")  # fmt: skip
    say(f"previous champion: {plan.previous}")
    if dry_run:
        say(f"dry run: would update {plan.stack_name} to {PARAMETER}={plan.previous} and reject {plan.current}")
        return plan
    if not plan.stack_serves_previous:
        _record_intent(sagemaker, plan, record_timestamp(now), say)
    _update_stack(cloudformation, plan, say, waiter_config)
    _update_registry(sagemaker, plan, reason, record_timestamp(now), say)
    return plan


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="release_tools.rollback", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", required=True, help="the production endpoint stack")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    parser.add_argument("--reason", default=None, help="why (recorded on the rejected package)")
    parser.add_argument("--further", action="store_true", help="after a completed rollback, roll back one more release")
    production = parser.add_mutually_exclusive_group()
    production.add_argument(
        "--production-profile", default=None, help="production in its own account: the AWS profile for the endpoint stack's calls"
    )
    production.add_argument(
        "--production-role-arn",
        default=None,
        help="production in its own account: a role there to assume for the endpoint stack's calls",
    )
    return parser.parse_args(argv)


def cloudformation_client(session: Any, args: argparse.Namespace, *, sts: Any = None) -> Any:
    """The CloudFormation client for the production stack's account (README "Accounts").

    The registry stays in the pipeline account (`session`); the endpoint stack may live in a production
    account, reached with a named profile or by assuming a role there with the caller's credentials.
    """
    import boto3

    if args.production_profile:
        return boto3.Session(profile_name=args.production_profile, region_name=args.region).client("cloudformation")
    if not args.production_role_arn:
        return session.client("cloudformation")
    try:
        credentials = (sts or session.client("sts")).assume_role(
            RoleArn=args.production_role_arn,
            RoleSessionName=re.sub(r"[^\w+=,.@-]", "-", f"rollback-{getpass.getuser()}")[:64],
        )["Credentials"]
    except (BotoCoreError, ClientError) as error:
        raise ReleaseToolError(f"AssumeRole {args.production_role_arn} failed: {error}") from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    ).client("cloudformation")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import boto3

    session = boto3.Session(region_name=args.region)
    reason = args.reason or f"rolled back by {getpass.getuser()} with release_tools.rollback"
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        print(line, flush=True)
        raise_if_signalled()  # a Ctrl-C whose exception Python dropped stops here, after a step

    try:
        with signals_raise(INTERRUPTING_SIGNALS, keyboard_interrupt):
            run_rollback(
                cloudformation_client(session, args),
                session.client("sagemaker"),
                stack_name=args.stack_name,
                dry_run=args.dry_run,
                reason=reason,
                now=datetime.now(UTC),
                say=say,
                further=args.further,
            )
    except KeyboardInterrupt:
        done = said[-1] if said else "nothing was changed"
        print(
            f"rollback: interrupted (last done: {done}); run the same command again: it resumes where this stopped",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("rollback", main))
