"""Benchmark the evaluation gate: cold import of its handler, and one decision at scale.

    .venv/bin/python bench/bench_evaluation_gate.py

Figures (medians) and their budgets:
- cold import of `evaluation_gate.handler` in a fresh interpreter, interpreter
  start excluded: <= 100 ms (boto3 must not be imported at module level);
- `decide` plus both renderings over a report with 400 metrics, a champion,
  and 400 metric rules + 400 champion rules (with platform floors): <= 50 ms.

Exits 1 when a figure misses its budget.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
IMPORT_BUDGET_MS = 100.0
DECISION_BUDGET_MS = 50.0
METRICS = 400

_IMPORT_PROBE = """
import sys, time
start = time.perf_counter()
import evaluation_gate.handler
elapsed = (time.perf_counter() - start) * 1000
print(f"{elapsed:.3f} {int('boto3' in sys.modules)}")
"""


def cold_import_ms(runs: int = 7) -> tuple[float, bool]:
    """Median import time of the handler module in fresh interpreters; whether boto3 got imported."""
    env = {**os.environ, "PYTHONPATH": str(LAMBDAS), "PYTHONDONTWRITEBYTECODE": "1"}
    timings, boto3_loaded = [], False
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        timings.append(float(output[0]))
        boto3_loaded |= output[1] == "1"
    return statistics.median(timings), boto3_loaded


def large_inputs() -> tuple[dict, dict, str]:
    """A report with METRICS metrics and a champion; a policy with a metric and a champion rule on each."""
    names = [f"metric_{index:03d}" for index in range(METRICS)]
    metrics = {
        name: {
            "value": 0.9,
            "higher_is_better": index % 2 == 0,
            "ci_low": 0.88,
            "ci_high": 0.92,
        }
        for index, name in enumerate(names)
    }
    champion_metrics = {name: {"value": 0.89, "higher_is_better": m["higher_is_better"]} for name, m in metrics.items()}
    deltas = {name: {"value": 0.01, "ci_low": -0.001, "ci_high": 0.02} for name in names}
    report = {
        "schema_version": 1,
        "problem_type": "binary_classification",
        "model": {
            "model_data_url": "s3://bucket/model.tar.gz",
            "source_revision": "abc1234",
        },
        "dataset": {"name": "holdout", "rows": 1000, "sha256": "0" * 64},
        "metrics": metrics,
        "champion": {
            "model_package_arn": "arn:aws:sagemaker:eu-west-1:111122223333:model-package/example/3",
            "metrics": champion_metrics,
            "comparison": {
                "method": "paired_bootstrap",
                "resamples": 2000,
                "confidence": 0.95,
                "deltas": deltas,
            },
        },
    }
    policy = {
        "version": 1,
        # Directions come from the policy (the metrics are not in the built-in table), never the report.
        "metrics": {
            name: ({"min": 0.5} if index % 2 == 0 else {"max": 0.95}) | {"higher_is_better": index % 2 == 0}
            for index, name in enumerate(names)
        },
        "champion": {name: {"max_regression": 0.05, "higher_is_better": index % 2 == 0} for index, name in enumerate(names)},
    }
    floors = json.dumps({"version": 1, "metrics": {name: {"min": 0.4, "higher_is_better": True} for name in names[::4]}})
    return report, policy, floors


def decision_ms(runs: int = 15) -> tuple[float, float, int, bool]:
    """Median times of decide + JSON + Markdown, and of decide alone; rule count; verdict."""
    sys.path.insert(0, str(LAMBDAS))
    from evaluation_gate.evaluation_decision import EvaluationInputs, decide

    report, policy, floors = large_inputs()
    timings, decide_only = [], []
    record = None
    for _ in range(runs):
        start = time.perf_counter()
        record = decide(EvaluationInputs(report, policy, floors), job_id="bench")
        decided = time.perf_counter()
        record.to_json()
        record.to_markdown()
        timings.append((time.perf_counter() - start) * 1000)
        decide_only.append((decided - start) * 1000)
    assert record is not None
    return (
        statistics.median(timings),
        statistics.median(decide_only),
        len(record.rules),
        record.passed,
    )


def main() -> int:
    import_ms, boto3_loaded = cold_import_ms()
    decide_ms, decide_only_ms, rules, passed = decision_ms()
    rows = [
        (
            "cold import of evaluation_gate.handler (median of 7)",
            import_ms,
            IMPORT_BUDGET_MS,
        ),
        (
            f"decision over {METRICS} metrics, {rules} rules, champion + floors (median of 15)",
            decide_ms,
            DECISION_BUDGET_MS,
        ),
    ]
    missed = False
    for label, value, budget in rows:
        verdict = "ok" if value <= budget else "MISSED"
        missed |= value > budget
        print(f"{label}: {value:.1f} ms (budget {budget:.0f} ms) {verdict}")
    print(f"  of which decide() alone: {decide_only_ms:.1f} ms, rendering JSON + Markdown the rest")
    print(f"boto3 imported at cold start: {'yes (MISSED)' if boto3_loaded else 'no'}")
    print(f"large decision verdict: {'passed' if passed else 'failed'} (expected passed)")
    missed |= boto3_loaded or not passed
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
