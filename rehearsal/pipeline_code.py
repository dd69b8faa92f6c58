"""The model repository the rehearsal runs, located once.

The rehearsal imports the pipeline's own code plainly: `release_tools` and
`contracts` from this checkout, the functions' handlers through
`rehearsal.pipeline_functions`. The model repository is the one part that
comes from outside: a file it must have and lacks is a `ConfigurationError`
naming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import ConfigurationError

__all__ = ["PROJECT_ROOT", "ModelRepository"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Where pytest finds its configuration (its "rootdir and configfile" rules): the file and the section that makes
# a file count (`None`: any such file counts).
_PYTEST_CONFIGS = {
    "pytest.ini": None,
    ".pytest.ini": None,
    "pyproject.toml": "[tool.pytest.ini_options]",
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
}


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

    def test_arguments(self) -> list[str]:
        """`python -m <these>`: the Build stage's `python -m pytest tests -q -p no:cacheprovider`, as in CodeBuild.

        There the checkout is the top folder, so pytest sees the repository's own configuration or none. Here the
        repository may sit inside this project (`model_repo/`), whose pytest.ini (xdist workers, the platform's
        test paths) pytest would find above it: without a configuration of its own, the repository's tests run
        with none (`-c` the null device, the repository as rootdir).
        """
        arguments = ["pytest", str(self.tests_dir), "-q", "-p", "no:cacheprovider"]
        return arguments if self._has_pytest_configuration() else [*arguments, "-c", os.devnull, "--rootdir", str(self.root)]

    def _has_pytest_configuration(self) -> bool:
        for name, section in _PYTEST_CONFIGS.items():
            path = self.root / name
            if path.is_file() and (section is None or section in path.read_text(encoding="utf-8", errors="replace")):
                return True
        return False
