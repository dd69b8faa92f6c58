"""`release.json`: what one release is. Written by the Train stage, read by the functions.

The Train stage (`release_tools.train_output`) writes a `ReleaseRecord` at the root of the
`TrainOutput` artifact; the evaluation gate, the staging gate and the promotion read it back with
`release_package_arn` and `release_text` (docs/architecture.md, "The `TrainOutput` artifact").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "MODEL_PACKAGE_ARN_PATTERN",
    "RELEASE_FILE",
    "ReleaseFileError",
    "ReleaseRecord",
    "release_package_arn",
    "release_text",
]

RELEASE_FILE = "release.json"

MODEL_PACKAGE_ARN_PATTERN = re.compile(
    r"^arn:aws(-cn|-us-gov|-iso-f)?:sagemaker:[a-z0-9-]{9,16}:[0-9]{12}:model-package/\S{1,2048}$"
)
"""A versioned SageMaker model package ARN: botocore's `ModelPackageArn` pattern, written once.

The same rule checks `release.json`, the champion in `evaluation.json` (its schema states this pattern;
tests/test_contract_drift.py holds them equal) and the endpoint stacks' `ModelPackageArn` parameter.
"""


class ReleaseFileError(ValueError):
    """`release.json` lacks what a reader needs; one line naming the file and the key."""


class ReleaseRecord(NamedTuple):
    """`release.json`: what this release is, for the gates and for people."""

    model_package_arn: str
    model_package_group_name: str
    model_data_url: str
    source_revision: str
    evaluation_uri: str
    training_job_name: str
    # The image the release trains, evaluates and serves with (by digest when it is the repository's own).
    image_uri: str = ""
    holdout_reuse: dict[str, Any] | None = None
    """`{"holdout_sha256", "earlier_candidates"}`: packages of the group already judged on this holdout."""

    def to_dict(self) -> dict[str, Any]:
        """The document as written to `release.json`."""
        return dict(self._asdict())

    def exports(self) -> dict[str, str]:
        """The Train stage's exported variables (namespace `Train`)."""
        return {
            "MODEL_DATA_URL": self.model_data_url,
            "MODEL_PACKAGE_ARN": self.model_package_arn,
            "EVALUATION_URI": self.evaluation_uri,
        }


def release_package_arn(document: Any, *, where: str = RELEASE_FILE) -> str:
    """The release's `model_package_arn`, or `ReleaseFileError`: `<where>: model_package_arn: ... is not ...`."""
    if not isinstance(document, Mapping):
        raise ReleaseFileError(f"{where}: expected a JSON object, got {type(document).__name__}")
    arn = document.get("model_package_arn")
    if not isinstance(arn, str) or not MODEL_PACKAGE_ARN_PATTERN.match(arn):
        raise ReleaseFileError(f"{where}: model_package_arn: {str(arn)[:200]!r} is not a SageMaker model package ARN")
    return arn


def release_text(document: Any, key: str) -> str | None:
    """An optional text field of the release (`model_package_group_name`, `model_data_url`...): None when absent or empty."""
    value = document.get(key) if isinstance(document, Mapping) else None
    return value if isinstance(value, str) and value else None
