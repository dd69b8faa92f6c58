"""Score the challenger (and the champion, if any) on the frozen holdout; write ``evaluation.json``.

Output follows the evaluation contract v1 (``schemas/evaluation.v1.schema.json``
in the platform repository). Runs as a SageMaker Processing job in the scikit-
learn container (paths under ``/opt/ml/processing`` passed as arguments) and
on a laptop with the same arguments::

    python evaluate.py --model model/ --holdout data/holdout.csv --output-dir evaluation/
    python evaluate.py --model new.tar.gz --champion-model old.tar.gz \\
        --champion-arn arn:aws:sagemaker:...:model-package/group/3 ...

``--model`` and ``--champion-model`` take a model directory, a directory
holding ``model.tar.gz``, or the ``model.tar.gz`` itself. The holdout's sha256
must match ``manifest.json`` (next to the holdout file), or nothing is scored.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from bootstrap import METRICS, Predictions, percentile_interval, resample_weights
from dataset import DatasetError, file_sha256, load_labelled_csv, resolve_csv

__all__ = ["EvaluationError", "build_evaluation", "load_model", "main", "predict", "verify_holdout"]

PROJECT_DIR = Path(__file__).resolve().parent
MODEL_FILE = "model.joblib"
MIN_RESAMPLES = 1000


class EvaluationError(ValueError):
    """The evaluation cannot be trusted; the message names the cause."""


def load_model(location: Path) -> Any:
    """Load ``model.joblib`` from a directory, a directory with ``model.tar.gz``, or a tarball."""
    if location.is_dir() and (location / MODEL_FILE).is_file():
        return joblib.load(location / MODEL_FILE)
    tarball = location / "model.tar.gz" if location.is_dir() else location
    if not tarball.is_file():
        raise EvaluationError(f"{location}: no {MODEL_FILE} or model.tar.gz found")
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile(MODEL_FILE)
            if member is None:
                raise KeyError(MODEL_FILE)
            return joblib.load(io.BytesIO(member.read()))
    except (KeyError, tarfile.TarError, OSError) as exc:
        raise EvaluationError(f"{tarball}: cannot read {MODEL_FILE} from the archive ({exc})") from exc


def verify_holdout(holdout: Path, manifest: Path) -> str:
    """Return the holdout's sha256 after checking it against the manifest entry."""
    try:
        entry = json.loads(manifest.read_text())["files"][holdout.name]
        expected = entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvaluationError(f"{manifest}: no sha256 recorded for {holdout.name} ({exc!r})") from exc
    actual = file_sha256(holdout)
    if actual != expected:
        raise EvaluationError(
            f"{holdout}: sha256 {actual} does not match {manifest.name} ({expected}); the holdout is frozen"
        )
    return actual


def predict(model: Any, features: np.ndarray, target: np.ndarray) -> Predictions:
    """Probability of class 1 and predicted labels, checked to be usable."""
    classes = list(getattr(model, "classes_", []))
    if 1 not in classes:
        raise EvaluationError(f"model classes {classes} do not include class 1")
    probability = np.asarray(model.predict_proba(features), dtype=np.float64)[:, classes.index(1)]
    label = np.asarray(model.predict(features)).astype(np.int64)
    if not np.isfinite(probability).all() or ((probability < 0) | (probability > 1)).any():
        raise EvaluationError("model returned probabilities outside [0, 1] or non-finite")
    return Predictions(target=target, probability=probability, label=label)


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise EvaluationError(f"{what} is not a finite number ({value})")
    return round(float(value), 6)


def _interval(samples: list[np.ndarray], confidence: float, point: float, what: str) -> tuple[float, float]:
    """The percentile interval of ``what``; a holdout too small to give one is an :class:`EvaluationError`."""
    try:
        return percentile_interval(np.concatenate(samples), confidence, point)
    except ValueError as exc:
        raise EvaluationError(f"{what}: {exc}; the holdout is too small or too unbalanced") from exc


def _score(challenger: Predictions, champion: Predictions | None, resamples: int, seed: int):
    """Point values and bootstrap samples for each metric (and each paired delta)."""
    ones = np.ones((1, challenger.rows))
    points = {name: float(spec.compute(ones, challenger)[0]) for name, spec in METRICS.items()}
    champion_points = (
        {name: float(spec.compute(ones, champion)[0]) for name, spec in METRICS.items()} if champion else {}
    )
    samples: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    deltas: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for weights in resample_weights(challenger.rows, resamples, seed):
        for name, spec in METRICS.items():
            challenger_values = spec.compute(weights, challenger)
            samples[name].append(challenger_values)
            if champion is not None:
                deltas[name].append(challenger_values - spec.compute(weights, champion))
    return points, champion_points, samples, deltas


def build_evaluation(
    challenger: Predictions,
    *,
    model_data_url: str,
    source_revision: str,
    holdout_sha256: str,
    champion: Predictions | None = None,
    champion_arn: str | None = None,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The evaluation document (contract v1) as a dict."""
    if resamples < MIN_RESAMPLES:
        raise EvaluationError(f"--resamples must be >= {MIN_RESAMPLES}, got {resamples}")
    if not 0.5 <= confidence < 1.0:
        raise EvaluationError(f"--confidence must be in [0.5, 1), got {confidence}")
    if (champion is None) != (champion_arn is None):
        raise EvaluationError("a champion needs both its model and its model package ARN")
    points, champion_points, samples, deltas = _score(challenger, champion, resamples, seed)

    metrics = {}
    for name, spec in METRICS.items():
        value = _finite(points[name], f"challenger {name}")
        low, high = _interval(samples[name], confidence, value, f"challenger {name}")
        metrics[name] = {
            "value": value,
            "higher_is_better": spec.higher_is_better,
            "ci_low": min(_finite(low, f"{name} ci_low"), value),
            "ci_high": max(_finite(high, f"{name} ci_high"), value),
        }

    document: dict[str, Any] = {
        "schema_version": 1,
        "problem_type": "binary_classification",
        "model": {"model_data_url": model_data_url, "source_revision": source_revision},
        "dataset": {"name": "holdout", "rows": challenger.rows, "sha256": holdout_sha256},
        "metrics": metrics,
        "intervals": {"method": "percentile_bootstrap", "confidence": confidence, "resamples": resamples},
        "champion": None,
    }
    if champion is not None:
        delta_docs = {}
        for name in METRICS:
            delta = _finite(points[name] - champion_points[name], f"{name} delta")
            low, high = _interval(deltas[name], confidence, delta, f"{name} delta")
            delta_docs[name] = {
                "value": delta,
                "ci_low": min(_finite(low, f"{name} delta ci_low"), delta),
                "ci_high": max(_finite(high, f"{name} delta ci_high"), delta),
            }
        document["champion"] = {
            "model_package_arn": champion_arn,
            "metrics": {
                name: {
                    "value": _finite(champion_points[name], f"champion {name}"),
                    "higher_is_better": spec.higher_is_better,
                }
                for name, spec in METRICS.items()
            },
            "comparison": {
                "method": "paired_bootstrap",
                "resamples": resamples,
                "confidence": confidence,
                "deltas": delta_docs,
            },
        }
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write evaluation.json (contract v1) for a trained model.")
    parser.add_argument(
        "--model", type=Path, required=True, help="challenger: model dir, dir with model.tar.gz, or model.tar.gz"
    )
    parser.add_argument(
        "--holdout", type=Path, default=PROJECT_DIR / "data", help="holdout.csv or a directory holding it"
    )
    parser.add_argument("--manifest", type=Path, default=None, help="default: manifest.json next to the holdout")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_DIR / "evaluation")
    parser.add_argument("--model-data-url", default=None, help="the challenger's S3 URL (default: its local path)")
    parser.add_argument("--source-revision", default=os.environ.get("SOURCE_REVISION", "local"))
    parser.add_argument("--champion-model", type=Path, default=None)
    parser.add_argument("--champion-arn", default=None)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Path:
    """Evaluate as the arguments say; return the path of the written evaluation.json."""
    holdout = resolve_csv(args.holdout, "holdout.csv")
    sha256 = verify_holdout(holdout, args.manifest or holdout.parent / "manifest.json")
    features, target = load_labelled_csv(holdout)
    challenger = predict(load_model(args.model), features, target)
    champion = predict(load_model(args.champion_model), features, target) if args.champion_model else None
    document = build_evaluation(
        challenger,
        model_data_url=args.model_data_url or args.model.resolve().as_uri(),
        source_revision=args.source_revision,
        holdout_sha256=sha256,
        champion=champion,
        champion_arn=args.champion_arn,
        resamples=args.resamples,
        confidence=args.confidence,
        seed=args.seed,
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = args.output_dir / "evaluation.json"
    out.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = run(args)
    except (EvaluationError, DatasetError) as exc:
        print(f"evaluate.py: {exc}", file=sys.stderr)
        return 1
    summary = json.loads(out.read_text())
    line = ", ".join(f"{name}={entry['value']}" for name, entry in summary["metrics"].items())
    print(f"wrote {out}: {line}; champion={'yes' if summary['champion'] else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
