"""Train the model: StandardScaler + LogisticRegression, saved as ``model.joblib``.

SageMaker script mode for the scikit-learn framework container. The container
passes hyperparameters as command-line arguments (``--C 0.5 --max-iter 500``)
and as JSON in ``SM_HPS``, and data/model locations in ``SM_*`` variables.
Without those variables every location defaults to this project's folders, so
``python train.py`` works on a laptop.

To change the model, edit :func:`build_model` (and add hyperparameters to
:func:`parse_args`); the pipeline's evaluation and gates do the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import joblib
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dataset import DatasetError, load_labelled_csv, resolve_csv

__all__ = ["MODEL_FILE", "build_model", "main", "parse_args", "train"]

MODEL_FILE = "model.joblib"
PROJECT_DIR = Path(__file__).resolve().parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _hyperparameter_defaults() -> dict[str, object]:
    """Hyperparameters from ``SM_HPS`` (JSON), keyed by argparse destination."""
    raw = os.environ.get("SM_HPS", "")
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"SM_HPS is not valid JSON: {exc}") from exc
    return {str(key).replace("-", "_"): value for key, value in values.items() if not str(key).startswith("sagemaker_")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments win over ``SM_HPS``, which wins over the defaults below."""
    parser = argparse.ArgumentParser(description="Train the breast cancer classifier.")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--max-iter", type=int, default=1000, help="solver iteration limit")
    parser.add_argument("--model-dir", type=Path, default=_env_path("SM_MODEL_DIR", PROJECT_DIR / "model"))
    parser.add_argument("--train", type=Path, default=_env_path("SM_CHANNEL_TRAIN", PROJECT_DIR / "data" / "train.csv"))
    parser.add_argument(
        "--validation", type=Path, default=_env_path("SM_CHANNEL_VALIDATION", PROJECT_DIR / "data" / "validation.csv")
    )
    parser.add_argument(
        "--output-data-dir", type=Path, default=_env_path("SM_OUTPUT_DATA_DIR", PROJECT_DIR / "model" / "output")
    )
    known = {action.dest for action in parser._actions}
    parser.set_defaults(**{key: value for key, value in _hyperparameter_defaults().items() if key in known})
    args = parser.parse_args(argv)
    if args.C <= 0:
        parser.error(f"--C must be > 0, got {args.C}")
    if args.max_iter < 1:
        parser.error(f"--max-iter must be >= 1, got {args.max_iter}")
    return args


def build_model(C: float, max_iter: int) -> Pipeline:
    """The estimator. Anything with ``predict_proba`` over 30 features works downstream."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=C, max_iter=max_iter, random_state=0)),
        ]
    )


def train(args: argparse.Namespace) -> dict[str, float]:
    """Fit on the train channel, save the model, return validation metrics."""
    train_x, train_y = load_labelled_csv(resolve_csv(args.train, "train.csv"))
    validation_x, validation_y = load_labelled_csv(resolve_csv(args.validation, "validation.csv"))
    model = build_model(C=args.C, max_iter=args.max_iter).fit(train_x, train_y)

    probability = model.predict_proba(validation_x)[:, 1]
    metrics = {
        "validation_roc_auc": float(roc_auc_score(validation_y, probability)),
        "validation_log_loss": float(log_loss(validation_y, probability)),
        "validation_accuracy": float(accuracy_score(validation_y, model.predict(validation_x))),
    }
    args.model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model_dir / MODEL_FILE)
    args.output_data_dir.mkdir(parents=True, exist_ok=True)
    (args.output_data_dir / "validation_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        metrics = train(args)
    except DatasetError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 1
    # One "name=value;" line per metric, the form SageMaker metric definitions parse easily.
    for name, value in metrics.items():
        print(f"{name}={value:.6f};")
    print(f"saved {args.model_dir / MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
