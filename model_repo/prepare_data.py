"""Split scikit-learn's bundled breast cancer data set into train / validation / holdout CSVs.

The split is deterministic (fixed seed, stratified), so re-running this script
reproduces the committed files byte for byte. The holdout is frozen: the
evaluation refuses to score a holdout whose sha256 differs from
``data/manifest.json``, so a changed holdout never goes unnoticed.

Usage: ``python prepare_data.py [--out-dir data]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

__all__ = [
    "DATASET_NAME",
    "FEATURE_COUNT",
    "HOLDOUT_ROWS",
    "SEED",
    "VALIDATION_ROWS",
    "build_splits",
    "main",
    "write_splits",
]

SEED = 2024
HOLDOUT_ROWS = 171  # 30 % of 569 rows
VALIDATION_ROWS = 80  # 20 % of the remaining 398 rows
FEATURE_COUNT = 30
DATASET_NAME = "sklearn-breast-cancer"


def build_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return ``{file name: (features, target)}`` for the three splits."""
    data = load_breast_cancer()
    features, target = data.data, data.target
    rest_x, holdout_x, rest_y, holdout_y = train_test_split(
        features, target, test_size=HOLDOUT_ROWS, stratify=target, random_state=SEED
    )
    train_x, validation_x, train_y, validation_y = train_test_split(
        rest_x, rest_y, test_size=VALIDATION_ROWS, stratify=rest_y, random_state=SEED
    )
    return {
        "train.csv": (train_x, train_y),
        "validation.csv": (validation_x, validation_y),
        "holdout.csv": (holdout_x, holdout_y),
    }


def _csv_text(features: np.ndarray, target: np.ndarray) -> str:
    """CSV with a header; column 0 is ``target``; floats in shortest round-trip form."""
    header = ["target"] + [f"f{i:02d}" for i in range(features.shape[1])]
    lines = [",".join(header)]
    for row, label in zip(features, target, strict=True):
        lines.append(",".join([str(int(label))] + [repr(float(value)) for value in row]))
    return "\n".join(lines) + "\n"


def write_splits(out_dir: Path) -> dict:
    """Write the three CSVs and ``manifest.json`` into ``out_dir``; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, (features, target) in build_splits().items():
        body = _csv_text(features, target).encode("utf-8")
        (out_dir / name).write_bytes(body)
        files[name] = {
            "rows": int(len(target)),
            "positives": int(target.sum()),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    manifest = {
        "dataset": DATASET_NAME,
        "source": "sklearn.datasets.load_breast_cancer",
        "seed": SEED,
        "label_column": "target",
        "feature_count": FEATURE_COUNT,
        "files": files,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args(argv)
    manifest = write_splits(args.out_dir)
    for name, entry in manifest["files"].items():
        print(f"{name}: {entry['rows']} rows, sha256 {entry['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
