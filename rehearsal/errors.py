"""The two ways a rehearsal stops early, each mapped to an exit code by the CLI."""

from __future__ import annotations

__all__ = ["ConfigurationError", "NotAvailableYet", "StepFailed"]


class ConfigurationError(Exception):
    """Bad usage or configuration (a missing file, a bad option): exit 2, one line."""


class NotAvailableYet(ConfigurationError):
    """A part of the pipeline the rehearsal runs is not in this checkout yet: exit 2."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not available yet: {what}")
        self.what = what


class StepFailed(Exception):
    """A step of the model's own code failed (its tests, training, evaluation): exit 1."""
