"""Turn the signals that end a build into an exception, so ``finally``/guards run.

CodeBuild does not document which signal, if any, the commands of a build
receive when the build times out or is stopped (its user guide's "Stop
builds" page says only that a build can be stopped); so the Train stage never
relies on one. It stops its own jobs before CodeBuild's timeout
(``stage_budget``), and a SageMaker job's ``MaxRuntimeInSeconds`` bounds its
billing anyway. When a signal does arrive (SIGTERM from a stopped build,
SIGHUP, Ctrl-C on a laptop), this turns it into :class:`BuildTerminated`, which
``job_waiter.stopped_unless_finished`` answers by stopping the running job.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import ReleaseToolError

__all__ = ["BuildTerminated", "ENDING_SIGNALS", "signals_raise"]

ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class BuildTerminated(ReleaseToolError):
    """The process received a signal that ends it."""


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise BuildTerminated(f"received {signal.Signals(signum).name}: the build was stopped or timed out")


@contextmanager
def signals_raise(signals: tuple[signal.Signals, ...] = ENDING_SIGNALS) -> Iterator[None]:
    """Within the block, each of ``signals`` raises :class:`BuildTerminated`; handlers restored after."""
    previous = {signum: signal.signal(signum, _raise) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
