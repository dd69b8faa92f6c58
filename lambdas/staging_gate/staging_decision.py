"""Judge the staging endpoint from what the probe observed. Pure.

The gate passes only when the endpoint is InService and serves the release's
model package, every golden request's responses match their expectations
(and each request was answered at least once), the error rate is within
`staging.max_error_rate` and the p95 latency within
`staging.max_p95_latency_ms` (repository policy merged with platform floors,
stricter wins). Missing bounds, an invalid input or an aborted probe fail the
gate closed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.decision_records import STAGING_GATE
from contracts.release_policy import Bound
from function_kit.decision_record import (
    OUTCOME_FAILED,
    OUTCOME_PASSED,
    OUTCOME_SKIPPED,
    DecisionRecord,
    RuleResult,
    build_record,
    format_number,
)

from .golden_requests import GoldenRequest
from .prediction_response import MalformedResponseError, mismatches, parse_predictions

__all__ = [
    "GATE_NAME",
    "STATUS_ERROR",
    "STATUS_MALFORMED",
    "STATUS_MATCHED",
    "STATUS_MISMATCH",
    "Attempt",
    "StagingDecision",
    "decide_staging",
    "failed_attempt",
    "judge_response",
    "p95",
]

GATE_NAME = STAGING_GATE
STATUS_MATCHED = "matched"
STATUS_MISMATCH = "mismatch"
STATUS_MALFORMED = "malformed"
STATUS_ERROR = "error"
_ERROR_STATUSES = (STATUS_ERROR, STATUS_MALFORMED)
_STAGING_BOUNDS = (
    ("max_error_rate", "error_rate"),
    ("max_p95_latency_ms", "p95_latency_ms"),
)


@dataclass(frozen=True)
class Attempt:
    """One invocation of one golden request: how long it took and what came back."""

    request: str
    repetition: int
    latency_ms: float
    status: str
    expected: str
    got: str

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for the decision record."""
        return {
            "request": self.request,
            "repetition": self.repetition,
            "latency_ms": round(self.latency_ms, 3),
            "status": self.status,
            "expected": self.expected,
            "got": self.got,
        }


def _expected_text(request: GoldenRequest) -> str:
    return "; ".join(f"row {i}: {e.describe()}" for i, e in enumerate(request.expect))


def judge_response(
    request: GoldenRequest, *, repetition: int, latency_ms: float, body: bytes, content_type: str | None
) -> Attempt:
    """Classify an answered invocation: matched, mismatch or malformed."""
    expected = _expected_text(request)
    try:
        predictions = parse_predictions(body, accept=request.accept, content_type=content_type, rows=len(request.expect))
    except MalformedResponseError as error:
        return Attempt(request.name, repetition, latency_ms, STATUS_MALFORMED, expected, f"malformed: {error}")
    problems = mismatches(predictions, request.expect)
    got = "; ".join(f"row {i}: {p.describe()}" for i, p in enumerate(predictions))
    if problems:
        return Attempt(request.name, repetition, latency_ms, STATUS_MISMATCH, expected, "; ".join(problems))
    return Attempt(request.name, repetition, latency_ms, STATUS_MATCHED, expected, got)


def failed_attempt(request: GoldenRequest, *, repetition: int, latency_ms: float, error: str) -> Attempt:
    """An invocation that got no usable answer (timeout, connection failure, model error)."""
    return Attempt(request.name, repetition, latency_ms, STATUS_ERROR, _expected_text(request), f"error: {error}")


def p95(latencies_ms: Sequence[float]) -> float | None:
    """The 95th percentile by the nearest-rank method (a value actually observed); None if empty."""
    if not latencies_ms:
        return None
    ordered = sorted(latencies_ms)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class StagingDecision:
    """The verdict (a function_kit decision record) plus every attempt behind it."""

    record: DecisionRecord
    attempts: tuple[Attempt, ...]

    def to_json(self) -> str:
        """The decision record's JSON with an extra `requests` list (one entry per attempt)."""
        document = json.loads(self.record.to_json())
        document["requests"] = [attempt.to_dict() for attempt in self.attempts]
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """The record's Markdown followed by a table of every attempt."""
        lines = [self.record.to_markdown().rstrip("\n"), "", "## Requests", ""]
        if not self.attempts:
            lines.append("No request was sent.")
        else:
            lines += ["| request | # | latency ms | status | expected | got |", "| --- | --- | --- | --- | --- | --- |"]
            for a in self.attempts:
                cells = [a.request, str(a.repetition), f"{a.latency_ms:.1f}", a.status, a.expected, a.got]
                lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _endpoint_rule(served_problem: str | None, endpoint_checked: bool) -> RuleResult:
    if not endpoint_checked:
        outcome, reason = OUTCOME_SKIPPED, "endpoint not described (see errors)"
    elif served_problem:
        outcome, reason = OUTCOME_FAILED, served_problem
    else:
        outcome, reason = OUTCOME_PASSED, "endpoint is InService and serves the release's model package"
    return RuleResult("endpoint.model_package", None, None, None, "==", outcome, reason, None)


def _bound_rules(bounds: Mapping[str, Bound] | None, attempts: Sequence[Attempt], errors: list[str]) -> list[RuleResult]:
    error_count = sum(1 for a in attempts if a.status in _ERROR_STATUSES)
    observed = {
        "error_rate": error_count / len(attempts) if attempts else None,
        "p95_latency_ms": p95([a.latency_ms for a in attempts]),
    }
    rules = []
    for key, metric in _STAGING_BOUNDS:
        rule_id = f"staging.{key}"
        bound = (bounds or {}).get(key)
        value = observed[metric]
        if bounds is not None and bound is None:
            errors.append(f"{rule_id}: no bound set by release-policy.json or the platform floors")
        if bound is None or value is None:
            reason = "not evaluated: no bound" if bound is None else "not evaluated: no request was sent"
            rules.append(
                RuleResult(rule_id, metric, value, None if bound is None else bound.value, "<=", OUTCOME_SKIPPED, reason)
            )
            continue
        held = value <= bound.value
        detail = f" ({error_count} of {len(attempts)} attempts failed)" if metric == "error_rate" else ""
        reason = f"{metric} {format_number(value)}{detail} {'<=' if held else '>'} bound {format_number(bound.value)}"
        rules.append(
            RuleResult(
                rule_id,
                metric,
                value,
                bound.value,
                "<=",
                OUTCOME_PASSED if held else OUTCOME_FAILED,
                reason,
                bound.source,
            )
        )
    return rules


def _request_rule(request: GoldenRequest, attempts: Sequence[Attempt]) -> RuleResult:
    mine = [a for a in attempts if a.request == request.name]
    rule_id = f"golden.{request.name}"
    if not mine:
        return RuleResult(rule_id, None, None, None, "matches", OUTCOME_SKIPPED, "not sent")
    wrong = [a for a in mine if a.status in (STATUS_MISMATCH, STATUS_MALFORMED)]
    if wrong:
        reason = f"{len(wrong)} of {len(mine)} responses wrong; first: {wrong[0].got}"
        return RuleResult(rule_id, None, None, None, "matches", OUTCOME_FAILED, reason)
    answered = [a for a in mine if a.status == STATUS_MATCHED]
    if not answered:
        return RuleResult(rule_id, None, None, None, "matches", OUTCOME_FAILED, f"never answered: {mine[0].got}")
    reason = f"{len(answered)} of {len(mine)} responses matched ({answered[0].expected})"
    return RuleResult(rule_id, None, None, None, "matches", OUTCOME_PASSED, reason)


def decide_staging(
    *,
    requests: Sequence[GoldenRequest],
    attempts: Sequence[Attempt],
    staging_bounds: Mapping[str, Bound] | None,
    served_problem: str | None,
    endpoint_checked: bool,
    errors: Sequence[str] = (),
    notes: Sequence[str] = (),
    policy: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    job_id: str | None = None,
    started_at: str | None = None,
    decided_at: str | None = None,
) -> StagingDecision:
    """The staging verdict. `staging_bounds` is None when the policy could not be read at all."""
    all_errors = list(errors)
    unsent = [r.name for r in requests if not any(a.request == r.name for a in attempts)]
    if endpoint_checked and not served_problem and unsent:
        all_errors.append(f"{len(unsent)} golden request(s) never sent: {', '.join(unsent[:5])}")
    rules = [_endpoint_rule(served_problem, endpoint_checked)]
    rules += _bound_rules(staging_bounds, attempts, all_errors)
    rules += [_request_rule(request, attempts) for request in requests]
    all_notes = list(notes)
    if attempts:
        all_notes.append(f"{len(attempts)} invocations of {len(requests)} golden requests; p95 by nearest rank over all of them")
    record = build_record(
        gate=GATE_NAME,
        rules=rules,
        notes=all_notes,
        errors=all_errors,
        policy=policy,
        inputs=inputs,
        job_id=job_id,
        started_at=started_at,
        decided_at=decided_at,
    )
    return StagingDecision(record=record, attempts=tuple(attempts))
