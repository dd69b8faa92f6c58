"""Benchmark: `make test` once set up. Figure to reach (issues 2 and 7): at most 120 s on 2 cores."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_SECONDS = 120.0


def main() -> int:
    start = time.perf_counter()
    result = subprocess.run(["make", "test"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    print(f"make test: {elapsed:.1f} s (limit {LIMIT_SECONDS:.0f} s), exit {result.returncode}")
    return 0 if result.returncode == 0 and elapsed <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
