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

from contracts.decision_records import record_timestamp
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


def _metadata(entries: Mapping[str, object]) -> dict[str, str]:
    """The entries as SageMaker accepts them (`contracts.model_package_metadata`), or a `PromotionError`."""
    try:
        return customer_metadata(entries)
    except MetadataError as error:
        raise PromotionError(str(error)) from None


def _previous_champion(release: PackageVersion, others: Sequence[PackageVersion]) -> tuple[str | None, str | None]:
    """(the champion `release` replaces, the one its metadata records): refuses a newer Approved package."""
    if release.status == "Rejected":
        raise PromotionError(f"model package {release.arn} is Rejected: it will not be promoted")
    newer = [p for p in others if p.created > release.created]
    if newer:
        latest = max(newer, key=lambda p: p.created)
        raise PromotionError(
            f"model package {latest.arn} is Approved and newer than the release {release.arn}: approving the "
            "release would not make it the champion (the latest Approved package is)"
        )
    recorded = release.metadata.get(PREVIOUS_CHAMPION_KEY)
    if recorded is not None:
        return (None if recorded == NO_PREVIOUS_CHAMPION else recorded), recorded
    return (max(others, key=lambda p: p.created).arn if others else None), None


def _release_update(
    release: PackageVersion, previous: str | None, *, already: bool, promoted_by: str, stamp: str
) -> Mapping[str, Any]:
    """Approve the release and record who promoted it, when, and which champion it replaced (kept on a re-run)."""
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
    return {
        "ModelPackageArn": release.arn,
        "ModelApprovalStatus": "Approved",
        "ApprovalDescription": release.approval_description if already and release.approval_description else description,
        "CustomerMetadataProperties": release_metadata,
    }


def _superseded_update(champion: PackageVersion, release: PackageVersion, stamp: str) -> Mapping[str, Any]:
    """Mark the previous champion superseded by the release; it stays Approved."""
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
    return update


def plan_promotion(
    release: PackageVersion, approved: Sequence[PackageVersion], *, promoted_by: str, now: datetime
) -> PromotionPlan:
    """The updates that approve `release` and mark the previous champion superseded.

    `approved` is every Approved package of the group. Re-running after a
    successful promotion plans the same outcome (the recorded previous
    champion is kept), so the Promote action can be retried safely.
    """
    others = [p for p in approved if p.arn != release.arn]
    previous, recorded = _previous_champion(release, others)
    already = release.status == "Approved" and recorded is not None
    stamp = record_timestamp(now)
    updates = [_release_update(release, previous, already=already, promoted_by=promoted_by, stamp=stamp)]
    champion = next((p for p in others if p.arn == previous), None)
    if champion is not None and champion.metadata.get(SUPERSEDED_BY_KEY) != release.arn:
        updates.append(_superseded_update(champion, release, stamp))
    return PromotionPlan(updates=tuple(updates), previous_champion=previous, already_champion=already)
