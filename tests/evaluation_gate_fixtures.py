"""Contract examples for the evaluation gate's tests (contract §1 and §2, verbatim)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["CONTRACT_EVALUATION", "CONTRACT_POLICY", "evaluation", "policy"]

CONTRACT_EVALUATION: dict[str, Any] = {
    "schema_version": 1,
    "problem_type": "binary_classification",
    "model": {
        "model_data_url": "s3://example-artifacts/train/abc123/output/model.tar.gz",
        "source_revision": "3f2c9e1",
    },
    "dataset": {"name": "holdout", "rows": 171, "sha256": "9b1f...e0"},
    "metrics": {
        "roc_auc": {
            "value": 0.991,
            "higher_is_better": True,
            "ci_low": 0.982,
            "ci_high": 0.997,
        },
        "log_loss": {"value": 0.081, "higher_is_better": False},
    },
    "champion": {
        "model_package_arn": "arn:aws:sagemaker:eu-west-1:111122223333:model-package/example/3",
        "metrics": {
            "roc_auc": {"value": 0.989, "higher_is_better": True},
            "log_loss": {"value": 0.090, "higher_is_better": False},
        },
        "comparison": {
            "method": "paired_bootstrap",
            "resamples": 2000,
            "confidence": 0.95,
            "deltas": {
                "roc_auc": {"value": 0.002, "ci_low": -0.004, "ci_high": 0.008},
                "log_loss": {"value": -0.009, "ci_low": -0.020, "ci_high": 0.001},
            },
        },
    },
}

CONTRACT_POLICY: dict[str, Any] = {
    "version": 1,
    "metrics": {"roc_auc": {"min": 0.95}, "log_loss": {"max": 0.25}},
    "champion": {"roc_auc": {"max_regression": 0.005}},
    "staging": {"max_p95_latency_ms": 200, "max_error_rate": 0.0},
}


def _edited(document: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `document` with dotted-path edits applied; the value `...` deletes the key."""
    result = copy.deepcopy(document)
    for path, value in edits.items():
        *parents, last = path.split(".")
        target = result
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return result


def evaluation(**edits: Any) -> dict[str, Any]:
    """The contract's evaluation.json with edits, e.g. `evaluation(**{"metrics.roc_auc.value": 0.5})`."""
    return _edited(CONTRACT_EVALUATION, edits)


def policy(**edits: Any) -> dict[str, Any]:
    """The contract's release policy with edits."""
    return _edited(CONTRACT_POLICY, edits)
