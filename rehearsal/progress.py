"""Step timing and the one progress line per step the rehearsal prints."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from release_tools.build_signals import raise_if_signalled

__all__ = ["BLOCKED", "FAILED", "INTERRUPTED", "OK", "SKIPPED", "StepLog", "StepTiming"]

OK = "ok"
FAILED = "failed"
BLOCKED = "blocked"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"


@dataclass
class StepTiming:
    """One step: its number, name, duration, outcome and a short detail."""

    number: int
    name: str
    seconds: float = 0.0
    outcome: str = OK
    detail: str = ""


@dataclass
class StepLog:
    """Times the steps and prints `[n/N] name ... 1.23 s ok (detail)` as each ends."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    steps: list[StepTiming] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[StepTiming]:
        """Time the block; an exception marks the step failed (unless it set its own outcome).

        A Ctrl-C whose exception Python dropped (see `release_tools.build_signals`) stops the run here,
        before the step or as it ends.
        """
        raise_if_signalled()
        timing = StepTiming(number=len(self.steps) + 1, name=name)
        self.steps.append(timing)
        started = time.perf_counter()
        try:
            yield timing
            raise_if_signalled()
        except KeyboardInterrupt:
            timing.outcome = INTERRUPTED
            raise
        except BaseException:
            if timing.outcome == OK:
                timing.outcome = FAILED
            raise
        finally:
            timing.seconds = time.perf_counter() - started
            self._print(timing)

    def skip(self, name: str, reason: str) -> None:
        """Record a step that did not run."""
        timing = StepTiming(number=len(self.steps) + 1, name=name, outcome=SKIPPED, detail=reason)
        self.steps.append(timing)
        self._print(timing)

    def _print(self, timing: StepTiming) -> None:
        label = f"[{timing.number}/{self.total}] {timing.name}"
        detail = f" ({timing.detail})" if timing.detail else ""
        seconds = "" if timing.outcome == SKIPPED else f"{timing.seconds:6.2f} s "
        print(f"{label:<48} {seconds}{timing.outcome}{detail}", file=self.stream, flush=True)
