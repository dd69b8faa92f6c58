"""The common shape of a gate's verdict, rendered as JSON and as Markdown. Pure.

A record lists every rule with its value, bound, result and reason, the
notes (e.g. skipped champion rules), the input errors that failed the gate
closed, the merged policy and the inputs. The Markdown puts the verdict
first, then a table a person scans in a minute.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "OUTCOME_FAILED",
    "OUTCOME_INCONCLUSIVE",
    "OUTCOME_PASSED",
    "OUTCOME_SKIPPED",
    "DecisionRecord",
    "RuleResult",
    "build_record",
    "format_number",
]

OUTCOME_PASSED = "passed"
OUTCOME_FAILED = "failed"
OUTCOME_SKIPPED = "skipped"
OUTCOME_INCONCLUSIVE = "inconclusive"
"""The holdout cannot resolve the rule (its margin lies inside the interval); blocks like a failure."""

_OPERATOR_WORDS = {">=": "at least", "<=": "at most"}


def format_number(value: Any) -> str:
    """A number as people should read it: exact (shortest round-trip), `—` when absent."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return repr(value)


class RuleResult(NamedTuple):
    """The result of one rule: `rule_id` is its policy path, e.g. `metrics.roc_auc.min`."""

    rule_id: str
    metric: str | None
    value: float | None
    bound: float | None
    operator: str
    outcome: str
    reason: str
    bound_source: str | None = None

    @property
    def passed(self) -> bool:
        """True only when the rule was evaluated and held."""
        return self.outcome == OUTCOME_PASSED

    @property
    def failed(self) -> bool:
        """True when the rule was evaluated, or could not be, and did not hold."""
        return self.outcome in (OUTCOME_FAILED, OUTCOME_INCONCLUSIVE)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of the rule result."""
        return {
            "rule_id": self.rule_id,
            "metric": self.metric,
            "value": self.value,
            "bound": self.bound,
            "operator": self.operator,
            "outcome": self.outcome,
            "passed": self.passed,
            "reason": self.reason,
            "bound_source": self.bound_source,
        }


@dataclass(frozen=True, eq=False)  # never compared: no __eq__/__hash__ to build at cold start
class DecisionRecord:
    """A gate's verdict with everything needed to understand it later."""

    gate: str
    passed: bool
    rules: tuple[RuleResult, ...]
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    policy: Mapping[str, Any] | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    decided_at: str | None = None
    job_id: str | None = None

    @property
    def decision(self) -> str:
        """`passed`, `failed` or `inconclusive`: the record's verdict.

        `inconclusive` when nothing failed outright (no input error, no failed
        rule) but at least one rule could not be resolved at this holdout size;
        it blocks like `failed` (`passed` is False). A succeeded action's
        `decision` output variable is always `passed`: CodePipeline takes output
        variables only with a job's success (PutJobSuccessResult).
        """
        if self.passed:
            return OUTCOME_PASSED
        if not self.errors and self.failed_rules and all(r.outcome == OUTCOME_INCONCLUSIVE for r in self.failed_rules):
            return OUTCOME_INCONCLUSIVE
        return OUTCOME_FAILED

    @property
    def failed_rules(self) -> tuple[RuleResult, ...]:
        """The rules that did not hold, in evaluation order."""
        return tuple(rule for rule in self.rules if rule.failed)

    def verdict_line(self, *, max_causes: int = 3) -> str:
        """One line: the verdict and the first causes (errors, then failing rules)."""
        evaluated = [r for r in self.rules if r.outcome != OUTCOME_SKIPPED]
        if self.passed:
            return f"{self.gate} PASSED: all {len(evaluated)} rules held"
        causes = [*self.errors, *(rule.reason for rule in self.failed_rules)]
        shown = "; ".join(causes[:max_causes])
        more = f"; and {len(causes) - max_causes} more" if len(causes) > max_causes else ""
        if self.decision == OUTCOME_INCONCLUSIVE:
            return f"{self.gate} INCONCLUSIVE (blocked: the holdout cannot resolve a rule): {shown}{more}"
        return f"{self.gate} FAILED: {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of the whole record."""
        return {
            "record_version": 1,
            "gate": self.gate,
            "decision": self.decision,
            "passed": self.passed,
            "verdict": self.verdict_line(max_causes=1000),
            "job_id": self.job_id,
            "started_at": self.started_at,
            "decided_at": self.decided_at,
            "errors": list(self.errors),
            "rules": [rule.to_dict() for rule in self.rules],
            "notes": list(self.notes),
            "policy": self.policy,
            "inputs": dict(self.inputs),
        }

    def to_json(self) -> str:
        """The record as one line of JSON (people read the Markdown; machines and `jq` read this).

        One line keeps the C encoder (an indent would make a large record ~10x
        slower to write). Non-finite numbers, which JSON cannot hold, become strings.
        """
        data = self.to_dict()
        try:
            return json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n"
        except ValueError:
            return json.dumps(_json_safe(data), ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """A summary a person reads in a minute: verdict, rules table, notes, inputs."""
        icon = {OUTCOME_PASSED: "✅", OUTCOME_INCONCLUSIVE: "❔"}.get(self.decision, "❌")
        lines = [
            f"# {self.gate}: {icon} {self.decision.upper()}",
            "",
            f"**{_md(self.verdict_line())}**",
            "",
        ]
        if self.errors:
            lines += ["## Why the gate failed closed", ""]
            lines += [f"- {_md(error)}" for error in self.errors]
            lines.append("")
        if self.rules:
            lines += [
                "## Rules",
                "",
                "| | rule | value | bound | set by | reason |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for rule in self.rules:
                mark = {"passed": "✅", "failed": "❌", "inconclusive": "❔"}.get(rule.outcome, "⏭️")
                bound = f"{rule.operator} {format_number(rule.bound)}" if rule.bound is not None else "—"
                lines.append(
                    f"| {mark} | `{_md(rule.rule_id)}` | {format_number(rule.value)} | {_md(bound)} "
                    f"| {_md(rule.bound_source or '—')} | {_md(rule.reason)} |"
                )
            lines.append("")
        if self.notes:
            lines += ["## Notes", ""]
            lines += [f"- {_md(note)}" for note in self.notes]
            lines.append("")
        if self.inputs:
            lines += ["## Inputs", ""]
            lines += [f"- {_md(str(key))}: `{_md(_inline(value))}`" for key, value in self.inputs.items()]
            lines.append("")
        footer = [
            f"job `{self.job_id}`" if self.job_id else "",
            f"decided {self.decided_at}" if self.decided_at else "",
        ]
        footer_text = ", ".join(part for part in footer if part)
        if footer_text:
            lines += [
                f"_{footer_text}. The full record, with the merged policy, is the JSON file beside this one._",
                "",
            ]
        return "\n".join(lines)


def _inline(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_json_safe(value), ensure_ascii=False)


def _md(text: str) -> str:
    """Escape a table cell: pipes would split it, newlines would end the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def build_record(
    *,
    gate: str,
    rules: Sequence[RuleResult],
    notes: Sequence[str] = (),
    errors: Sequence[str] = (),
    policy: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    started_at: str | None = None,
    decided_at: str | None = None,
    job_id: str | None = None,
) -> DecisionRecord:
    """A record whose verdict follows from its contents (fail closed).

    It passes only when there is no input error, at least one rule was
    evaluated, and every evaluated rule held. A record with nothing evaluated
    fails with an error saying so, rather than passing silently.
    """
    all_errors = list(errors)
    evaluated = [rule for rule in rules if rule.outcome != OUTCOME_SKIPPED]
    if not all_errors and not evaluated:
        all_errors.append("no rule was evaluated: the policy and platform floors set no applicable bound")
    passed = not all_errors and all(rule.passed for rule in evaluated)
    return DecisionRecord(
        gate=gate,
        passed=passed,
        rules=tuple(rules),
        notes=tuple(notes),
        errors=tuple(all_errors),
        policy=policy,
        inputs=dict(inputs or {}),
        started_at=started_at,
        decided_at=decided_at,
        job_id=job_id,
    )
