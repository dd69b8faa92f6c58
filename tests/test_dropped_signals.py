"""A signal whose exception Python drops is still acted on.

Python runs a signal handler in whatever Python code the main thread is
executing; when that is a weakref callback or a ``__del__`` (an import's
module-lock callback is one), the exception it raises is printed as
"Exception ignored" and dropped. CI once sent Ctrl-C to a rehearsal at exactly
such a moment: the rehearsal ran on to RELEASED and exited 0. These tests
deliver a real signal inside a weakref callback and check that the rehearsal's
steps, the Train stage's job waiter and the foreground server stop anyway.
"""

from __future__ import annotations

import io
import signal
import sys
import weakref

import pytest

from rehearsal import progress
from rehearsal.inference_server import InferenceServer
from release_tools.build_signals import BuildTerminated, keyboard_interrupt, raise_if_signalled, signals_raise
from release_tools.job_waiter import TRAINING_JOB, WaitPolicy, wait_for_job


class _Referent:
    pass


def _signal_dropped_in_a_weakref_callback(signum: int) -> type[BaseException]:
    """Deliver `signum` to this process while a weakref callback runs; return the type of the exception dropped."""
    dropped: list[type[BaseException]] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: dropped.append(unraisable.exc_type)
    try:
        referent = _Referent()
        reference = weakref.ref(referent, lambda _ref: signal.raise_signal(signum))
        del referent  # the callback runs now: the handler's exception goes to sys.unraisablehook
    finally:
        sys.unraisablehook = hook
    assert reference() is None and len(dropped) == 1
    return dropped[0]


def test_the_exception_is_dropped_but_the_signal_is_raised_again() -> None:
    with signals_raise((signal.SIGINT,), keyboard_interrupt):
        assert _signal_dropped_in_a_weakref_callback(signal.SIGINT) is KeyboardInterrupt  # and it returned
        with pytest.raises(KeyboardInterrupt):
            raise_if_signalled()
    raise_if_signalled()  # outside the guard nothing is pending


def test_a_rehearsal_step_that_swallowed_ctrl_c_ends_interrupted() -> None:
    log = progress.StepLog(total=3, stream=io.StringIO())
    with signals_raise((signal.SIGINT, signal.SIGTERM), keyboard_interrupt), pytest.raises(KeyboardInterrupt):
        with log.step("first"):
            _signal_dropped_in_a_weakref_callback(signal.SIGINT)
        with log.step("second"):
            pytest.fail("the rehearsal went on to the next step after Ctrl-C")
    assert [(step.name, step.outcome) for step in log.steps] == [("first", progress.INTERRUPTED)]


def test_the_job_waiter_stops_waiting_after_a_dropped_sigterm() -> None:
    """`run_job`'s guard then stops the job (tests/test_train_stage_time.py)."""
    polls: list[float] = []

    def describe() -> dict[str, str]:
        if not polls:
            _signal_dropped_in_a_weakref_callback(signal.SIGTERM)
        return {"TrainingJobStatus": "InProgress"}

    policy = WaitPolicy(timeout_seconds=3600, poll_seconds=30, clock=lambda: 0.0, sleep=polls.append)
    with signals_raise(), pytest.raises(BuildTerminated, match="received SIGTERM"):
        wait_for_job(TRAINING_JOB, "job", describe, lambda: None, policy)
    assert polls == []  # it did not go on waiting


def test_the_foreground_server_stops_after_a_dropped_ctrl_c() -> None:
    """`serve_forever` calls `service_actions` between polls; `serve_until_interrupted` ends on the exception."""
    server = InferenceServer(model=None, port=0)  # type: ignore[arg-type]  # no request is served
    try:
        with signals_raise((signal.SIGINT, signal.SIGTERM), keyboard_interrupt):
            server.service_actions()
            _signal_dropped_in_a_weakref_callback(signal.SIGINT)
            with pytest.raises(KeyboardInterrupt):
                server.service_actions()
    finally:
        server.server_close()
