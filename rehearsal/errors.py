"""The two ways a rehearsal stops early, each mapped to an exit code by the CLI."""

from __future__ import annotations

__all__ = ["ConfigurationError", "StepFailed"]


class ConfigurationError(Exception):
    """Bad usage or configuration (a missing file, a bad option): exit 2, one line."""


class StepFailed(Exception):
    """A step of the model's own code failed (its tests, training, evaluation): exit 1."""
