"""Decision records: where they are named and how their timestamps are written. Standard library only.

Every pipeline function (evaluation gate, staging gate, promote's three actions)
writes its record as `<prefix>/<record name>/<job id>.json` and `.md`, where the
prefix is `RECORD_PREFIX` (the deployed functions: `decision-records/`), or
`decision-records/` beside the input artifact. Record names are lower-case
words joined by hyphens (`evaluation-gate`, `staging-gate`, `verify-custody`,
`verify-production`, `promote`), one spelling for all (docs/contracts.md).

Every timestamp in a record, in the registry metadata the promotion and the
rollback tool write, and in the rehearsal's reports is UTC to the second with a
`Z`: `2026-11-29T22:23:24Z` (RFC 3339; the form SageMaker and CloudTrail show).
"""

from __future__ import annotations

import posixpath
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "EVALUATION_GATE",
    "PROMOTE",
    "RECORD_FOLDER",
    "RECORD_NAMES",
    "STAGING_GATE",
    "VERIFY_CUSTODY",
    "VERIFY_PRODUCTION",
    "record_stem",
    "record_timestamp",
]

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

RECORD_FOLDER = "decision-records"
"""The folder records go to when no `RECORD_PREFIX` names one."""

EVALUATION_GATE = "evaluation-gate"
STAGING_GATE = "staging-gate"
VERIFY_CUSTODY = "verify-custody"
VERIFY_PRODUCTION = "verify-production"
PROMOTE = "promote"
RECORD_NAMES = (EVALUATION_GATE, STAGING_GATE, VERIFY_CUSTODY, VERIFY_PRODUCTION, PROMOTE)


def record_stem(prefix: str, record_name: str, job_id: str) -> str:
    """`<prefix>/<record name>/<job id>`: the key of a record without its `.json`/`.md` suffix."""
    return posixpath.join(prefix.strip("/"), record_name, job_id) if prefix.strip("/") else f"{record_name}/{job_id}"


def record_timestamp(moment: datetime | None = None) -> str:
    """`moment` (default: now) in UTC to the second, `Z`-suffixed; a naive moment is taken as UTC.

    (`datetime` is not imported here: the evaluation gate's cold start does without it.)
    """
    utc = time.gmtime() if moment is None else moment.utctimetuple()
    return time.strftime(_FORMAT, utc)
