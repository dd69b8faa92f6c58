"""Turn the signals that end a run into an exception, so ``finally``/guards run, and never lose one.

CodeBuild does not document which signal, if any, the commands of a build
receive when the build times out or is stopped (its user guide's "Stop
builds" page says only that a build can be stopped); so the Train stage never
relies on one. It stops its own jobs before CodeBuild's timeout
(``stage_budget``), and a SageMaker job's ``MaxRuntimeInSeconds`` bounds its
billing anyway. When a signal does arrive (SIGTERM from a stopped build,
SIGHUP, Ctrl-C on a laptop), this turns it into :class:`BuildTerminated`, which
``job_waiter.stopped_unless_finished`` answers by stopping the running job.
The rehearsal and the rollback tool use the same guard with ``KeyboardInterrupt``.

A Python signal handler runs in whatever Python code the main thread is
executing, and an exception raised inside a weakref callback or a ``__del__``
is printed as "Exception ignored" and dropped (the Python reference, "Data
model", ``__del__``: "exceptions that occur during their execution are
ignored"; an import's module-lock callback is one). So the handler also
records the signal, and :func:`raise_if_signalled`, called where the work can
stop cleanly (between steps, between polls), raises it again: a signal is
acted on late at worst, never lost.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import ReleaseToolError

__all__ = [
    "BuildTerminated",
    "ENDING_SIGNALS",
    "INTERRUPTING_SIGNALS",
    "keyboard_interrupt",
    "raise_if_signalled",
    "signals_raise",
]

ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# What stops a command-line run (the rehearsal, the rollback tool): Ctrl-C, and SIGTERM as if it were one.
INTERRUPTING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class BuildTerminated(ReleaseToolError):
    """The process received a signal that ends it."""


def build_terminated(signum: int) -> BaseException:
    return BuildTerminated(f"received {signal.Signals(signum).name}: the build was stopped or timed out")


def keyboard_interrupt(signum: int) -> BaseException:
    """A command-line run ends on SIGTERM as on Ctrl-C: cleanly, with what was done reported."""
    return KeyboardInterrupt()


_received: list[int] = []
_raising: list[Callable[[int], BaseException]] = []


def _handle(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    raise _raising[-1](signum)


@contextmanager
def signals_raise(
    signals: tuple[signal.Signals, ...] = ENDING_SIGNALS,
    raising: Callable[[int], BaseException] = build_terminated,
) -> Iterator[None]:
    """Within the block, each of ``signals`` raises ``raising(signum)``; handlers restored after.

    Off the main thread this does nothing: Python runs signal handlers on the main thread only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _raising:
        _received.clear()
    _raising.append(raising)
    previous = {signum: signal.signal(signum, _handle) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _raising.pop()
        if not _raising:
            _received.clear()


def raise_if_signalled() -> None:
    """Raise again a signal received within :func:`signals_raise` (its exception may have been dropped)."""
    if _received and _raising:
        raise _raising[-1](_received[-1])
