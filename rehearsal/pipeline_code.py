"""Find the code the pipeline runs, so the rehearsal runs that very code.

The model repository's scripts, the Build stage's `release_tools` and the
Lambda handlers are located here and imported from this checkout. Anything
missing raises `NotAvailableYet` naming it; nothing is ever replaced by a
stand-in.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rehearsal.errors import ConfigurationError, NotAvailableYet

__all__ = [
    "PROJECT_ROOT",
    "ModelRepository",
    "import_from_lambdas",
    "import_release_tool",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_ROOT = PROJECT_ROOT / "lambdas"


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
        """`root/relative`, or `NotAvailableYet` naming it."""
        path = self.root / relative
        if not path.exists():
            raise NotAvailableYet(f"{what} ({path})")
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
        return self.require("golden-requests.jsonl", "the staging gate's golden requests")

    @property
    def tests_dir(self) -> Path:
        """The model's own tests."""
        return self.require("tests", "the model repository's tests")

    def data_file(self, name: str) -> Path:
        """`data/<name>` (train.csv, validation.csv, holdout.csv)."""
        return self.require(f"data/{name}", f"the {name.removesuffix('.csv')} data set")


def _ensure_on_path(path: Path) -> None:
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def _import(module_name: str, what: str, root: Path) -> ModuleType:
    _ensure_on_path(root)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(f"{error.name}.")):
            raise NotAvailableYet(f"{what} (module {module_name} under {root})") from None
        raise


def import_from_lambdas(module_name: str, what: str) -> ModuleType:
    """Import `module_name` with `lambdas/` as the import root, as the Lambda runtime does."""
    return _import(module_name, what, LAMBDAS_ROOT)


def import_release_tool(module_name: str, attribute: str, what: str) -> Any:
    """`release_tools.<module_name>.<attribute>` from this checkout, or `NotAvailableYet`."""
    module = _import(f"release_tools.{module_name}", what, PROJECT_ROOT)
    if not hasattr(module, attribute):
        raise NotAvailableYet(f"{what} (release_tools.{module_name}.{attribute})")
    return getattr(module, attribute)
