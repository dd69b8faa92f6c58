"""The log group every component writes to: its own, KMS-encrypted, kept when the stack goes."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

__all__ = ["own_log_group"]


def own_log_group(scope: Construct, *, retention: logs.RetentionDays, encryption_key: kms.IKey) -> logs.LogGroup:
    """`scope`'s log group (construct id `Logs`), retained on stack deletion: logs are release evidence."""
    return logs.LogGroup(
        scope,
        "Logs",
        retention=retention,
        encryption_key=encryption_key,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
