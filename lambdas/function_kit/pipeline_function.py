"""The one shape of every pipeline function: read the inputs → decide (pure) → write the record → answer once.

A handler module declares its three steps and nothing else:

- `read(source)`: everything the decision needs, read from the job (or the
  event) and from AWS; problems are collected as inputs, not raised;
- `decide(inputs)`: the verdict, a pure function of the inputs;
- `write(source, inputs, decision)`: the decision record (and the effects the
  verdict calls for: marking a model package, promoting, posting on a pull
  request), returning the answer.

`run_pipeline_function` runs the steps for a CodePipeline Lambda-invoke job
and answers it exactly once (`codepipeline_job.run_job`: an exception in any
step becomes a one-line failure answer, never a retry or a traceback). The
pull-request reporter, invoked by EventBridge with no job to answer, runs the
same steps with `FunctionSteps.run`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .artifacts import artifact_s3_client
from .clients import client_of
from .codepipeline_job import CodePipelineJob, JobOutcome, run_job

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["FunctionServices", "FunctionSteps", "run_pipeline_function"]

SourceT = TypeVar("SourceT")
InputsT = TypeVar("InputsT")
DecisionT = TypeVar("DecisionT")
ResultT = TypeVar("ResultT")


def _utc_now() -> datetime:
    from datetime import UTC, datetime  # imported on use: the evaluation gate's cold start does without it

    return datetime.now(UTC)


@dataclass(eq=False)  # never compared: no __eq__ to build at cold start
class FunctionServices:
    """What every pipeline function reaches: its record bucket, the input artifacts, CodePipeline and the clock.

    `codepipeline` is the client the job is answered with (None: the function's own, `clients.aws_client`).
    Handlers add their own clients in a subclass; tests and the rehearsal replace any field.
    """

    records_s3: Callable[[], Any] = client_of("s3")
    artifact_s3: Callable[[Any], Any] = artifact_s3_client
    codepipeline: Any | None = None
    now: Callable[[], datetime] = _utc_now


class FunctionSteps(Generic[SourceT, InputsT, DecisionT, ResultT]):
    """A function's three steps; `run` chains them. (A plain class: a dataclass costs the cold start more.)"""

    __slots__ = ("decide", "read", "write")

    def __init__(
        self,
        read: Callable[[SourceT], InputsT],
        decide: Callable[[InputsT], DecisionT],
        write: Callable[[SourceT, InputsT, DecisionT], ResultT],
    ) -> None:
        self.read, self.decide, self.write = read, decide, write

    def run(self, source: SourceT) -> ResultT:
        """Read, decide, write: the result of `write`."""
        inputs = self.read(source)
        return self.write(source, inputs, self.decide(inputs))


def run_pipeline_function(
    event: Any,
    steps: FunctionSteps[CodePipelineJob, Any, Any, JobOutcome],
    *,
    codepipeline_client: Any | None = None,
    logger: logging.Logger | None = None,
) -> JobOutcome | None:
    """Run `steps` on the job in `event` and answer it exactly once; returns what was answered (None: no job id)."""
    return run_job(event, steps.run, codepipeline_client=codepipeline_client, logger=logger)
