"""`report.md` (and `metrics.png`): what the rehearsal ran, how long it took, and the verdict.

Read in a minute: the verdict first (and, when blocked, the rule and why),
then the step timings, the metrics table challenger vs champion with
intervals, and each gate's rules with values and bounds as the gate's own
decision record states them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rehearsal.metrics_chart import write_metrics_chart
from rehearsal.runner import RehearsalResult

__all__ = ["render_report", "write_outputs"]


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) and math.isfinite(value) else str(value)
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _interval(entry: Mapping[str, Any]) -> str:
    if "ci_low" in entry and "ci_high" in entry:
        return f"[{_number(entry['ci_low'])}, {_number(entry['ci_high'])}]"
    return "—"


def _metrics_section(evaluation: Mapping[str, Any] | None) -> list[str]:
    if not evaluation:
        return ["## Metrics", "", "No evaluation was produced (the rehearsal stopped before it).", ""]
    metrics = evaluation.get("metrics") or {}
    champion = evaluation.get("champion") or None
    dataset = evaluation.get("dataset") or {}
    lines = [
        "## Metrics (holdout)",
        "",
        f"Holdout: {dataset.get('rows', '?')} rows, sha256 `{str(dataset.get('sha256', '?'))[:12]}…`. "
        + (
            f"Champion: `{champion.get('model_package_arn')}`, paired bootstrap "
            f"({(champion.get('comparison') or {}).get('resamples')} resamples, "
            f"{(champion.get('comparison') or {}).get('confidence')} confidence)."
            if champion
            else "No champion yet: champion rules are skipped (first release)."
        ),
        "",
        "| metric | better | challenger | interval | champion | delta | delta interval |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    champion_metrics = (champion or {}).get("metrics") or {}
    deltas = ((champion or {}).get("comparison") or {}).get("deltas") or {}
    for name, entry in metrics.items():
        entry = entry or {}
        delta = deltas.get(name) or {}
        lines.append(
            f"| {_cell(name)} | {'higher' if entry.get('higher_is_better') else 'lower'} "
            f"| {_number(entry.get('value'))} | {_interval(entry)} "
            f"| {_number((champion_metrics.get(name) or {}).get('value'))} "
            f"| {_number(delta.get('value'))} | {_interval(delta)} |"
        )
    lines += ["", "![challenger vs champion](metrics.png)", ""]
    return lines


def _gate_section(gate: Any) -> list[str]:
    record = gate.record or {}
    mark = "✅ passed" if gate.passed else "❌ blocked"
    if not gate.passed and record.get("decision") == "inconclusive":
        mark = "❔ inconclusive at this holdout size (blocked)"
    lines = [f"### {gate.gate}: {mark}", "", f"{_cell(gate.message)}", ""]
    errors = record.get("errors") or []
    if errors:
        lines += ["Failed closed because:", ""] + [f"- {_cell(error)}" for error in errors] + [""]
    rules = record.get("rules") or []
    if rules:
        lines += ["| | rule | value | bound | outcome | reason |", "| --- | --- | --- | --- | --- | --- |"]
        for rule in rules:
            icon = {"passed": "✅", "failed": "❌", "inconclusive": "❔"}.get(rule.get("outcome"), "⏭️")
            bound = f"{rule.get('operator', '')} {_number(rule.get('bound'))}" if rule.get("bound") is not None else "—"
            lines.append(
                f"| {icon} | `{_cell(rule.get('rule_id'))}` | {_number(rule.get('value'))} | {_cell(bound)} "
                f"| {_cell(rule.get('outcome'))} | {_cell(rule.get('reason', ''))} |"
            )
        lines.append("")
    notes = record.get("notes") or []
    if notes:
        lines += [f"- note: {_cell(note)}" for note in notes] + [""]
    if gate.invocations > 1:
        lines += [f"The function continued its job {gate.invocations - 1} time(s) (continuation token).", ""]
    return lines


def render_report(result: RehearsalResult) -> str:
    """The Markdown report."""
    verdict = "✅ RELEASED" if result.released else "❌ BLOCKED"
    if not result.released and result.gates and (result.gates[-1].record or {}).get("decision") == "inconclusive":
        verdict = "❔ BLOCKED: INCONCLUSIVE at this holdout size"
    if result.interrupted_during:
        verdict = "⏹ INTERRUPTED"
    lines = [
        f"# Release rehearsal {result.run_id}: {verdict}",
        "",
        f"**{_cell(result.verdict_line)}**",
        "",
        f"Model repository `{result.options.model_repo}`, started {result.started_at}, "
        f"exit code {result.exit_code}. Hyperparameter overrides: "
        + (", ".join(f"`{k}={v}`" for k, v in result.hyperparameters.items()) or "none")
        + ".",
        "",
    ]
    if result.interrupted_during:
        lines += ["## Interrupted", "", f"- {result.interrupted_during}; the steps below show what ran", ""]
    elif not result.released:
        lines += ["## Why it was blocked", "", f"- stage: {result.blocked_by}", f"- cause: {_cell(result.reason)}", ""]
    lines += ["## Steps", "", "| # | step | seconds | outcome | detail |", "| --- | --- | --- | --- | --- |"]
    for step in result.steps:
        seconds = "—" if step.outcome == "skipped" else f"{step.seconds:.2f}"
        lines.append(f"| {step.number} | {step.name} | {seconds} | {step.outcome} | {_cell(step.detail)} |")
    lines += [f"| | total | {sum(s.seconds for s in result.steps):.2f} | | |", ""]
    lines += _metrics_section(result.evaluation)
    lines += ["## Gates", ""]
    if not result.gates:
        lines += ["No gate ran.", ""]
    for gate in result.gates:
        lines += _gate_section(gate)
    lines += ["## Champion", ""]
    before = result.champion_before
    lines.append(
        f"- before: {before.model_package_arn} (promoted {before.promoted_at} by {before.promoted_by})"
        if before
        else "- before: none (this is the first release of this output directory)"
    )
    after = result.champion_after
    lines.append(f"- after: this model, promoted by {after.promoted_by}" if after else "- after: unchanged")
    lines += [
        "",
        "## Files",
        "",
        (
            "`evaluation.json`, `metrics.png`, `model.tar.gz`, `*-decision.json` / `*-decision.md` "
            "(the gates' own decision records), `champion/` (kept for the next run), `work/` (logs, "
            "SageMaker-style folders)."
        ),
        "",
    ]
    return "\n".join(lines)


def write_outputs(result: RehearsalResult, out_dir: Path) -> None:
    """Write `report.md` and, when there is an evaluation, `metrics.png`."""
    if result.evaluation:
        write_metrics_chart(result.evaluation, result.policy, out_dir / "metrics.png")
    (out_dir / "report.md").write_text(render_report(result), encoding="utf-8")
