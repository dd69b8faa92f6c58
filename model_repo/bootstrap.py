"""Binary-classification metrics over bootstrap resamples, vectorised with numpy.

A resample is a row of *weights* (how often each holdout row was drawn), so
each metric is computed for thousands of resamples with a few matrix
operations. The point estimate is the same function with all weights 1, which
keeps point values and intervals consistent by construction. For the champion
comparison both models are scored with the same weight rows (a paired
bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "METRICS",
    "MetricSpec",
    "Predictions",
    "accuracy",
    "f1",
    "log_loss",
    "percentile_interval",
    "resample_weights",
    "roc_auc",
]

# Rows x resamples held in memory at once; bounds memory on large holdouts.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class Predictions:
    """One model's output on the holdout, row-aligned with ``target``."""

    target: np.ndarray  # 0/1 ints
    probability: np.ndarray  # probability of class 1
    label: np.ndarray  # predicted 0/1 label

    @property
    def rows(self) -> int:
        return int(self.target.shape[0])


def roc_auc(weights: np.ndarray, pred: Predictions) -> np.ndarray:
    """Weighted Mann-Whitney AUC (ties count one half); NaN when a class is absent."""
    order = np.argsort(pred.probability, kind="mergesort")
    scores = pred.probability[order]
    positive = pred.target[order].astype(np.float64)
    group_starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
    sorted_weights = weights[:, order]
    pos = np.add.reduceat(sorted_weights * positive, group_starts, axis=1)
    neg = np.add.reduceat(sorted_weights * (1.0 - positive), group_starts, axis=1)
    negatives_below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (negatives_below + 0.5 * neg)).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def log_loss(weights: np.ndarray, pred: Predictions) -> np.ndarray:
    """Weighted mean cross-entropy; probabilities clipped like scikit-learn 1.4 (float64 eps)."""
    eps = np.finfo(np.float64).eps
    p = np.clip(pred.probability, eps, 1.0 - eps)
    row_loss = -(pred.target * np.log(p) + (1 - pred.target) * np.log(1.0 - p))
    return (weights @ row_loss) / weights.sum(axis=1)


def accuracy(weights: np.ndarray, pred: Predictions) -> np.ndarray:
    """Weighted share of correct labels."""
    return (weights @ (pred.label == pred.target).astype(np.float64)) / weights.sum(axis=1)


def f1(weights: np.ndarray, pred: Predictions) -> np.ndarray:
    """Weighted F1 of class 1 (0 when there are neither predicted nor true positives)."""
    truth = pred.target == 1
    said = pred.label == 1
    tp = weights @ (truth & said).astype(np.float64)
    fp = weights @ (~truth & said).astype(np.float64)
    fn = weights @ (truth & ~said).astype(np.float64)
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, 0.0)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's function and its direction."""

    compute: Callable[[np.ndarray, Predictions], np.ndarray]
    higher_is_better: bool


METRICS: dict[str, MetricSpec] = {
    "roc_auc": MetricSpec(roc_auc, True),
    "log_loss": MetricSpec(log_loss, False),
    "accuracy": MetricSpec(accuracy, True),
    "f1": MetricSpec(f1, True),
}


def resample_weights(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield chunks of bootstrap weight rows (each row: draw counts summing to ``rows``).

    Each resample draws its row indices once; callers score every model on the
    same chunk, which is what makes the comparison paired.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(rows, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        indices = rng.integers(0, rows, size=(size, rows))
        offsets = indices + (np.arange(size) * rows)[:, None]
        yield np.bincount(offsets.ravel(), minlength=size * rows).reshape(size, rows).astype(np.float64)
        done += size


def percentile_interval(samples: np.ndarray, confidence: float, point: float) -> tuple[float, float]:
    """Percentile bootstrap interval, widened if needed so that it contains ``point``.

    Resamples where the metric is undefined (NaN: one class absent) are
    dropped; more than 10 % of them means the holdout is too small to trust.
    """
    finite = samples[np.isfinite(samples)]
    if finite.size < 0.9 * samples.size:
        raise ValueError(f"only {finite.size} of {samples.size} bootstrap resamples had both classes")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(min(low, point)), float(max(high, point))
