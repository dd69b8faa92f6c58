"""Make the project's modules importable (``import train``) and share a trained model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per session on the committed data, with default hyperparameters."""
    import train

    model_dir = tmp_path_factory.mktemp("model")
    train.main(["--model-dir", str(model_dir), "--output-data-dir", str(model_dir / "output")])
    return model_dir


@pytest.fixture(scope="session")
def weak_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deliberately weaker model (strong regularisation), to act as a champion."""
    import train

    model_dir = tmp_path_factory.mktemp("weak-model")
    train.main(["--C", "0.001", "--model-dir", str(model_dir), "--output-data-dir", str(model_dir / "output")])
    return model_dir
