"""The model repository the rehearsal runs, located once.

The rehearsal imports the pipeline's own code plainly: `release_tools` and
`contracts` from this checkout, the functions' handlers through
`rehearsal.pipeline_functions`. The model repository is the one part that
comes from outside: a file it must have and lacks is a `ConfigurationError`
naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import ConfigurationError

__all__ = ["PROJECT_ROOT", "ModelRepository"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ModelRepository:
    """The model project as seeded into CodeCommit (`model_repo/` by default)."""

    root: Path

    @classmethod
    def at(cls, root: Path) -> ModelRepository:
        """The repository at `root`; a `ConfigurationError` if it is not a directory."""
        if not root.is_dir():
            raise ConfigurationError(f"--model-repo {root} is not a directory")
        return cls(root.resolve())

    def require(self, relative: str, what: str) -> Path:
        """`root/relative`, or a `ConfigurationError` naming it."""
        path = self.root / relative
        if not path.exists():
            raise ConfigurationError(f"{what} is missing ({path})")
        return path

    @property
    def train_script(self) -> Path:
        """`train.py`, SageMaker script mode."""
        return self.require("train.py", "the model's training script")

    @property
    def evaluate_script(self) -> Path:
        """`evaluate.py`, the evaluation step writing contract-v1 `evaluation.json`."""
        return self.require("evaluate.py", "the model's evaluation script")

    @property
    def policy_file(self) -> Path:
        """`release-policy.yaml`."""
        return self.require("release-policy.yaml", "the release policy")

    @property
    def golden_requests(self) -> Path:
        """`golden-requests.jsonl`, the staging gate's requests."""
        return self.require("golden-requests.jsonl", "the staging gate's golden requests file")

    @property
    def tests_dir(self) -> Path:
        """The model's own tests."""
        return self.require("tests", "the model repository's tests folder")
