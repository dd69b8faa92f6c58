"""The champion: the production model a challenger is compared with. One type for every part.

Each part fills what it knows of the same model: the Train stage's registry lookup
(`release_tools.model_registry`: the package ARN and its model data), the evaluation report
(`contracts.evaluation_report`: its scores and the paired comparison) and the rehearsal's store
(`rehearsal.champion_store`: the archive it keeps and when and by whom it was promoted).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # pathlib costs the evaluation gate's cold start ~5 ms (it pulls in urllib.parse and ipaddress)
    from pathlib import Path

__all__ = ["Champion"]

_NONE: Mapping[str, Any] = MappingProxyType({})


class Champion(NamedTuple):
    """The production model: the latest Approved package of the group."""

    model_package_arn: str
    """Its model package ARN (`""` when evaluation.json gave none usable: the reader lists that as an error)."""
    model_data_url: str = ""
    """Its `model.tar.gz` (the registry's `ModelDataUrl`): what the evaluation job scores as the champion."""
    metrics: Mapping[str, Any] = _NONE
    """Its scores: `Metric`s read from evaluation.json, or the raw metrics the rehearsal stored."""
    deltas: Mapping[str, Any] = _NONE
    """Challenger minus champion per metric (`Delta`s of evaluation.json `champion.comparison`)."""
    method: Any = None
    confidence: Any = None
    resamples: Any = None
    source_revision: str = ""
    promoted_at: str = ""
    promoted_by: str = ""
    model_archive: Path | None = None
    """The rehearsal's local copy of the serving archive (`None` when none is kept)."""
