"""Benchmark: `make test` once set up, and where its time goes. Figure to reach (issue 11): ≤ 120 s on 2 cores, idle.

Usage: python bench/bench_make_test.py [--slowest N]

Runs `make test` once (the whole suite, on one xdist worker per core: tests/parallel_run.py)
with pytest's `--durations`, then prints
* the wall-clock time against the figure, and the CPU time the run used (all processes:
  a figure that load on the machine changes far less than the wall-clock time);
* the load average before and after: the figure is for an idle machine;
* the slowest tests (set-up, call and teardown separately) and the slowest modules (the
  sum of their tests' phases): what to look at first, and the order `SLOWEST_MODULES`
  in tests/parallel_run.py should follow.
Exit status 0 when the suite passed within the figure.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_SECONDS = 120.0
_DURATION = re.compile(r"^(?P<seconds>\d+\.\d+)s (?P<phase>setup|call|teardown)\s+(?P<test>\S+)")


def run_make_test() -> tuple[int, float, float, str]:
    """(exit status, wall seconds, CPU seconds of every process it ran, pytest's output)."""
    environment = {**os.environ, "PYTEST_ADDOPTS": f"{os.environ.get('PYTEST_ADDOPTS', '')} --durations=0 -q".strip()}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(["make", "test"], cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result.returncode, elapsed, cpu, result.stdout + result.stderr


def durations(output: str) -> list[tuple[float, str, str]]:
    """(seconds, phase, test id) of every test phase pytest reported."""
    found = []
    for line in output.splitlines():
        match = _DURATION.match(line.strip())
        if match:
            found.append((float(match["seconds"]), match["phase"], match["test"]))
    return sorted(found, reverse=True)


def by_module(phases: list[tuple[float, str, str]]) -> list[tuple[float, str]]:
    """(seconds, module path) summed over each module's test phases, slowest first."""
    totals: dict[str, float] = defaultdict(float)
    for seconds, _, test in phases:
        totals[test.split("::")[0]] += seconds
    return sorted(((seconds, module) for module, seconds in totals.items()), reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slowest", type=int, default=15, help="how many tests and modules to list (default 15)")
    arguments = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    status, elapsed, cpu, output = run_make_test()
    load_after = os.getloadavg()[0]
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    print(f"make test: {elapsed:.1f} s (limit {LIMIT_SECONDS:.0f} s), exit {status}; CPU {cpu:.0f} s over all processes")
    print(f"  {summary[-1].strip('= ') if summary else 'no pytest summary'}")
    print(f"  load average (1 min) {load_before:.1f} before, {load_after:.1f} after; {os.cpu_count()} cores")
    phases = durations(output)
    busy = sum(seconds for seconds, _, _ in phases)
    print(f"  test phases add up to {busy:.0f} s: {busy / elapsed:.2f} of the wall-clock time (the workers' overlap)")
    print(f"slowest tests ({arguments.slowest}):")
    for seconds, phase, test in phases[: arguments.slowest]:
        print(f"  {seconds:6.2f} s  {phase:<8} {test}")
    print(f"slowest modules ({arguments.slowest}; sums over workers running side by side):")
    for seconds, module in by_module(phases)[: arguments.slowest]:
        print(f"  {seconds:6.2f} s  {module}")
    if status != 0:
        failures = output.find("= FAILURES =")
        print(output[failures : failures + 6000] if failures >= 0 else output[-3000:], file=sys.stderr)
    return 0 if status == 0 and elapsed <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
