"""Wake the staging endpoint before the gate measures it; the warm-up is reported, never judged.

The first invocation after DeployStaging meets a cold start (a serverless
endpoint provisions its compute on first use: seconds, sometimes longer than a
measured call's read timeout). Counting it would turn one slow first answer
into a 2 % error rate with 48 invocations, above a 1 % floor. So the gate first
sends the first golden request until the endpoint answers (HTTP 2xx), bounded
by `warmup_max_attempts` and `warmup_max_seconds`, with a longer read timeout;
only then does the measured probe start. The attempts go into the decision
record (`inputs.warmup`) and a note; they count toward no rule. An answer's
body is read only up to the bound the measured calls use
(`input_limits.MAX_ENDPOINT_RESPONSE_BYTES`), never whole.

Settings come from the function's `STAGING_PROBE` variable (JSON, set by the
CDK app from `ml-cicd.staging.probe`); every key is optional.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from contracts.aws_errors import code_or_type
from function_kit.input_limits import MAX_ENDPOINT_RESPONSE_BYTES, describe_bytes, read_at_most

from .golden_requests import GoldenRequest

__all__ = ["ProbeSettings", "ProbeSettingsError", "WarmupAttempt", "WarmupResult", "warm_up"]

_ANSWERED = "answered"
# The warm-up only needs an answer, never its content: a body beyond the gate's bound is not read further
# (the measured requests judge it); `read_at_most` reads bound + 1 bytes of the SDK's stream and closes it.
_TOO_LARGE = f"answered (response larger than the {describe_bytes(MAX_ENDPOINT_RESPONSE_BYTES)} the gate reads; not read further)"
_UNREACHABLE_ERRORS = ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError")
_LIMITS = {
    "connect_timeout_seconds": (1, 10),
    "read_timeout_seconds": (1, 60),
    "warmup_max_attempts": (0, 20),
    "warmup_max_seconds": (0, 300),
    "warmup_read_timeout_seconds": (1, 60),
}


class ProbeSettingsError(ValueError):
    """`STAGING_PROBE` is unusable; the message names the key."""


@dataclass(frozen=True)
class ProbeSettings:
    """Timeouts of measured calls, and the warm-up's bounds (0 attempts or 0 seconds: no warm-up)."""

    connect_timeout_seconds: int = 2
    read_timeout_seconds: int = 5
    warmup_max_attempts: int = 5
    warmup_max_seconds: int = 180
    warmup_read_timeout_seconds: int = 60

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ProbeSettings:
        """From `STAGING_PROBE` (JSON object of the fields above); defaults for what it omits."""
        raw = environ.get("STAGING_PROBE")
        if not raw or not raw.strip():
            return cls()
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ProbeSettingsError(f"STAGING_PROBE: not valid JSON ({error.msg})") from None
        if not isinstance(values, dict):
            raise ProbeSettingsError("STAGING_PROBE: expected a JSON object")
        for key, value in values.items():
            if key not in _LIMITS:
                raise ProbeSettingsError(f"STAGING_PROBE.{key}: unknown key; allowed: {', '.join(_LIMITS)}")
            low, high = _LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ProbeSettingsError(f"STAGING_PROBE.{key}: {value!r} is not an integer from {low} to {high}")
        return cls(**values)

    @property
    def measured_call_seconds(self) -> int:
        """The longest one measured invocation can take."""
        return self.connect_timeout_seconds + self.read_timeout_seconds

    @property
    def warmup_call_seconds(self) -> int:
        """The longest one warm-up invocation can take."""
        return self.connect_timeout_seconds + self.warmup_read_timeout_seconds

    def to_dict(self) -> dict[str, int]:
        """For the decision record."""
        return asdict(self)


@dataclass(frozen=True)
class WarmupAttempt:
    """One warm-up invocation: `answered`, or the error."""

    attempt: int
    latency_ms: float
    outcome: str


@dataclass(frozen=True)
class WarmupResult:
    """What the warm-up did: its attempts, whether the endpoint answered, and why it stopped."""

    attempts: tuple[WarmupAttempt, ...]
    warm: bool
    stopped: str

    def to_dict(self) -> dict[str, Any]:
        """`inputs.warmup` of the decision record."""
        return {"warm": self.warm, "stopped": self.stopped, "attempts": [asdict(a) for a in self.attempts]}

    def note(self) -> str:
        """One line for the record's notes."""
        seconds = sum(a.latency_ms for a in self.attempts) / 1000
        state = "answered" if self.warm else "did not answer"
        return (
            f"warm-up (not judged): the endpoint {state} after {len(self.attempts)} attempt(s) in {seconds:.1f} s; {self.stopped}"
        )


def warm_up(
    client: Any,
    endpoint_name: str,
    request: GoldenRequest,
    *,
    settings: ProbeSettings,
    clock: Callable[[], float] = time.perf_counter,
    remaining_ms: Callable[[], int] | None = None,
    reserve_ms: int = 0,
) -> WarmupResult:
    """Invoke `request` until the endpoint answers; never longer than `warmup_max_seconds` in all."""
    attempts: list[WarmupAttempt] = []
    started = clock()
    for attempt in range(1, settings.warmup_max_attempts + 1):
        elapsed = clock() - started
        if elapsed + settings.warmup_call_seconds > settings.warmup_max_seconds:
            return WarmupResult(tuple(attempts), False, f"stopped: {settings.warmup_max_seconds} s bound")
        if remaining_ms is not None and remaining_ms() < reserve_ms + settings.warmup_call_seconds * 1000:
            return WarmupResult(tuple(attempts), False, "stopped: the function's time is kept for the measurement")
        call_started = clock()
        try:
            response = client.invoke_endpoint(
                EndpointName=endpoint_name, ContentType=request.content_type, Accept=request.accept, Body=request.body
            )
            answered = _ANSWERED if read_at_most(response["Body"], MAX_ENDPOINT_RESPONSE_BYTES) is not None else _TOO_LARGE
        except Exception as error:  # noqa: BLE001 - every failure is one warm-up attempt
            outcome = code_or_type(error)
            attempts.append(WarmupAttempt(attempt, round((clock() - call_started) * 1000, 1), outcome))
            if outcome in _UNREACHABLE_ERRORS:
                return WarmupResult(tuple(attempts), False, f"stopped: endpoint unreachable ({outcome})")
            continue
        attempts.append(WarmupAttempt(attempt, round((clock() - call_started) * 1000, 1), answered))
        return WarmupResult(tuple(attempts), True, "answered")
    if not attempts:
        return WarmupResult((), False, "disabled (warmup_max_attempts is 0)")
    return WarmupResult(tuple(attempts), False, f"stopped: {settings.warmup_max_attempts} attempts")
