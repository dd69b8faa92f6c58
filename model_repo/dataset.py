"""Read the project's CSV files: column ``target`` first, then the 30 features.

Shared by ``train.py`` and ``evaluate.py`` (both run from the packaged source
directory, so a plain ``import dataset`` works in SageMaker and on a laptop).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["FEATURE_COUNT", "DatasetError", "file_sha256", "load_labelled_csv", "resolve_csv"]

FEATURE_COUNT = 30


class DatasetError(ValueError):
    """A data file is missing or malformed; the message names the file and the cause."""


def resolve_csv(location: Path, preferred_name: str) -> Path:
    """Return the CSV at ``location``: the file itself, or inside a directory
    (SageMaker channels are directories) ``preferred_name`` or its only ``*.csv``."""
    if location.is_file():
        return location
    if not location.is_dir():
        raise DatasetError(f"{location}: no such file or directory")
    preferred = location / preferred_name
    if preferred.is_file():
        return preferred
    candidates = sorted(location.glob("*.csv"))
    if len(candidates) != 1:
        raise DatasetError(f"{location}: expected {preferred_name} or exactly one .csv file, found {len(candidates)}")
    return candidates[0]


def load_labelled_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load ``(features, target)`` from a CSV with a header row; reject anything malformed."""
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read as numeric CSV ({exc})") from exc
    if table.shape[0] == 0 or table.shape[1] != FEATURE_COUNT + 1:
        raise DatasetError(f"{path}: expected rows of 1 label + {FEATURE_COUNT} features, got shape {table.shape}")
    if not np.isfinite(table).all():
        raise DatasetError(f"{path}: contains NaN or infinite values")
    target = table[:, 0]
    if not np.isin(target, (0.0, 1.0)).all():
        raise DatasetError(f"{path}: column 'target' must hold only 0 or 1")
    return table[:, 1:], target.astype(np.int64)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
