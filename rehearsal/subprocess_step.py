"""Run one of the model project's scripts in a subprocess and keep its output.

The scripts run in their own interpreter, as in the SageMaker container, so
their imports and `sys.exit` codes behave as in the pipeline. Output goes to a
log file in the work directory; a failure raises `StepFailed` with the
script's last meaningful line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rehearsal.errors import StepFailed

__all__ = ["last_line", "run_script"]

_TIMEOUT_SECONDS = 300


def last_line(text: str) -> str:
    """The last non-empty line of `text` (what a script says when it fails)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_script(
    what: str,
    arguments: Sequence[str],
    *,
    cwd: Path,
    log_file: Path,
    environment: Mapping[str, str] | None = None,
) -> str:
    """Run `python <arguments>`; return its stdout, or raise `StepFailed` naming `what`."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(environment or {})}
    command = [sys.executable, *arguments]
    try:
        completed = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{what} did not finish within {_TIMEOUT_SECONDS} s") from None
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(
        f"$ {' '.join(command)}\n(cwd {cwd})\n\n--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}",
        encoding="utf-8",
    )
    if completed.returncode != 0:
        cause = last_line(completed.stderr) if completed.stderr.strip() else last_line(completed.stdout)
        raise StepFailed(f"{what} failed (exit {completed.returncode}): {cause} (full log: {log_file})")
    return completed.stdout
