"""Plan the registry updates that make the release the champion. Pure.

The champion is the most recently created `Approved` package of the model
package group. Promotion approves the release and records the previous
champion on it (`previous_champion`); the previous champion stays Approved
(so the record of what served production is intact) and is marked
`superseded_by` the release. `release_tools.rollback` reads these keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.model_package_metadata import MetadataError, customer_metadata

__all__ = [
    "NO_PREVIOUS_CHAMPION",
    "PREVIOUS_CHAMPION_KEY",
    "PROMOTED_AT_KEY",
    "PROMOTED_BY_KEY",
    "SUPERSEDED_AT_KEY",
    "SUPERSEDED_BY_KEY",
    "PackageVersion",
    "PromotionError",
    "PromotionPlan",
    "plan_promotion",
]

PREVIOUS_CHAMPION_KEY = "previous_champion"
PROMOTED_AT_KEY = "promoted_at"
PROMOTED_BY_KEY = "promoted_by"
SUPERSEDED_BY_KEY = "superseded_by"
SUPERSEDED_AT_KEY = "superseded_at"
NO_PREVIOUS_CHAMPION = "none"
_MAX_DESCRIPTION = 1024


class PromotionError(ValueError):
    """The release cannot become the champion; the message says why."""


@dataclass(frozen=True)
class PackageVersion:
    """The registry facts promotion needs about one model package version."""

    arn: str
    status: str
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    approval_description: str | None = None


@dataclass(frozen=True)
class PromotionPlan:
    """`UpdateModelPackage` requests to make, in order, and the champion being replaced."""

    updates: tuple[Mapping[str, Any], ...]
    previous_champion: str | None
    already_champion: bool


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _metadata(entries: Mapping[str, object]) -> dict[str, str]:
    """The entries as SageMaker accepts them (`contracts.model_package_metadata`), or a `PromotionError`."""
    try:
        return customer_metadata(entries)
    except MetadataError as error:
        raise PromotionError(str(error)) from None


def plan_promotion(
    release: PackageVersion, approved: Sequence[PackageVersion], *, promoted_by: str, now: datetime
) -> PromotionPlan:
    """The updates that approve `release` and mark the previous champion superseded.

    `approved` is every Approved package of the group. Re-running after a
    successful promotion plans the same outcome (the recorded previous
    champion is kept), so the Promote action can be retried safely.
    """
    if release.status == "Rejected":
        raise PromotionError(f"model package {release.arn} is Rejected: it will not be promoted")
    others = [p for p in approved if p.arn != release.arn]
    newer = [p for p in others if p.created > release.created]
    if newer:
        latest = max(newer, key=lambda p: p.created)
        raise PromotionError(
            f"model package {latest.arn} is Approved and newer than the release {release.arn}: approving the "
            "release would not make it the champion (the latest Approved package is)"
        )
    recorded = release.metadata.get(PREVIOUS_CHAMPION_KEY)
    if recorded is not None:
        previous = None if recorded == NO_PREVIOUS_CHAMPION else recorded
    else:
        previous = max(others, key=lambda p: p.created).arn if others else None
    already = release.status == "Approved" and recorded is not None
    stamp = _timestamp(now)
    description = (
        f"Promoted to production champion by {promoted_by} at {stamp}; previous champion: {previous or NO_PREVIOUS_CHAMPION}"
    )[:_MAX_DESCRIPTION]
    release_metadata = _metadata(
        {
            **release.metadata,
            PREVIOUS_CHAMPION_KEY: previous or NO_PREVIOUS_CHAMPION,
            PROMOTED_AT_KEY: release.metadata.get(PROMOTED_AT_KEY, stamp) if already else stamp,
            PROMOTED_BY_KEY: release.metadata.get(PROMOTED_BY_KEY, promoted_by) if already else promoted_by,
        }
    )
    updates: list[Mapping[str, Any]] = [
        {
            "ModelPackageArn": release.arn,
            "ModelApprovalStatus": "Approved",
            "ApprovalDescription": release.approval_description if already and release.approval_description else description,
            "CustomerMetadataProperties": release_metadata,
        }
    ]
    champion = next((p for p in others if p.arn == previous), None)
    if champion is not None and champion.metadata.get(SUPERSEDED_BY_KEY) != release.arn:
        update: dict[str, Any] = {
            "ModelPackageArn": champion.arn,
            # Stated explicitly: the previous champion stays Approved, only its metadata changes.
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": _metadata(
                {
                    **champion.metadata,
                    SUPERSEDED_BY_KEY: release.arn,
                    SUPERSEDED_AT_KEY: stamp,
                }
            ),
        }
        if champion.approval_description:
            update["ApprovalDescription"] = champion.approval_description
        updates.append(update)
    return PromotionPlan(updates=tuple(updates), previous_champion=previous, already_champion=already)
