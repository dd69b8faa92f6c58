"""Benchmark: the full local release rehearsal, twice, in a temporary directory.

The first run releases with no champion; the second compares against the
model the first promoted. Both run everything, the model repository's tests
included, with the default bootstrap. Prints each run's wall time and exits
non-zero when either run is not released or takes more than 60 s.

    .venv/bin/python bench/bench_rehearsal.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_SECONDS = 60.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_once(out_dir: Path) -> tuple[int, float, str]:
    """One `python -m rehearsal run`, timed from process start to exit."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "rehearsal", "run", "--model-repo", "model_repo", "--out", str(out_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    lines = completed.stdout.strip().splitlines() or completed.stderr.strip().splitlines() or ["(no output)"]
    return completed.returncode, seconds, lines[-1]


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-rehearsal-") as scratch:
        out_dir = Path(scratch) / "out"
        for label in ("first run (no champion)", "second run (vs champion)"):
            code, seconds, last = run_once(out_dir)
            verdict = "ok" if code == 0 and seconds <= LIMIT_SECONDS else "FAIL"
            print(f"{label:<26} {seconds:6.2f} s  exit {code}  {verdict}  {last}")
            failures += verdict != "ok"
    print(f"limit: {LIMIT_SECONDS:.0f} s per run")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
