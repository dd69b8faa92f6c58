"""How often the evaluation gate lets a worse model through, and how often it blocks an equal one.

    .venv/bin/python bench/bench_gate_simulation.py [--holdouts 1500] [--resamples 1000] [--larger-holdout]

Simulated holdouts, the project's own code end to end: each holdout draws
labels (the sample's prevalence, 107 of 171 positive) and two *binormal*
scorers (negatives N(0, 1), positives N(mu, 1), so AUC = Phi(mu / sqrt 2);
champion and challenger scores correlated 0.8, probabilities calibrated, label
= probability >= 0.5) with known true AUCs. `model_repo/evaluate.py`
(`build_evaluation`: point values, percentile intervals, paired bootstrap)
writes the report; the gate's own `read_evaluation_report`, `merge` and
`judge` decide. Printed per cell, with 95 % Wilson intervals:

- false accept at the margin: the challenger is truly worse by exactly the
  rule's margin (`roc_auc max_regression`), so it should pass at most the
  rule's one-sided nominal level ((1 - c) / 2 = 2.5 % at c = 0.95);
- equal models: the challenger is exactly as good as the champion; the pass
  rate of the sample's full policy (model_repo/release-policy.yaml merged with
  cdk.json's platform floors), and of its champion rules alone.

The bootstrap runs 1,000 resamples per holdout by default: the gate's floor in
cdk.json (`min_resamples`) asks at least 1,000 of real reports, and
`evaluate.py` writes 2,000 by default; 1,000 keeps the run within minutes on 2
cores and changes percentile ends by far less than the sampling error here.
Pass `--resamples 2000` to check. Prints the figures; never fails.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "model_repo"), str(ROOT / "lambdas")]

import evaluate  # noqa: E402
from bootstrap import METRICS, Predictions  # noqa: E402

from contracts.evaluation_report import read_evaluation_report  # noqa: E402
from contracts.release_policy import MergedPolicy, merge, parse_release_policy  # noqa: E402
from evaluation_gate.evaluation_decision import judge  # noqa: E402

CHAMPION_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/simulated/1"
CORRELATION = 0.8
Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Cell:
    """One simulated situation: holdout size, true AUCs, and which rules count."""

    label: str
    rows: int
    champion_auc: float
    challenger_auc: float
    policy: MergedPolicy
    counts: Callable[[list], bool]
    stream: int
    """The cell's own random stream (seed + 1,000,003 x stream): figures do not depend on which cells run."""

    @property
    def metrics(self) -> list[str]:
        """The metrics the cell's rules read: evaluate.py scores only these (the others cost time only)."""
        return sorted({*self.policy.metrics, *self.policy.champion})


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + Z95**2 / (2 * trials)) / (1 + Z95**2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2)) / (1 + Z95**2 / trials)
    return centre - half, centre + half


def _predictions(target: np.ndarray, scores: np.ndarray, mu: float, prevalence: float) -> Predictions:
    logit = mu * scores - mu * mu / 2 + math.log(prevalence / (1 - prevalence))
    probability = 1 / (1 + np.exp(-logit))
    return Predictions(target=target, probability=probability, label=(probability >= 0.5).astype(np.int64))


def simulate_holdout(rng: np.random.Generator, cell: Cell, resamples: int, seed: int) -> dict:
    """One holdout's evaluation.json, written by the project's evaluate.py."""
    positives = round(cell.rows * 107 / 171)
    target = np.r_[np.ones(positives, dtype=np.int64), np.zeros(cell.rows - positives, dtype=np.int64)]
    shared = rng.standard_normal(cell.rows)
    own = rng.standard_normal((2, cell.rows))
    noise = math.sqrt(CORRELATION) * shared + math.sqrt(1 - CORRELATION) * own
    prevalence = positives / cell.rows
    models = []
    for auc, row in ((cell.challenger_auc, noise[0]), (cell.champion_auc, noise[1])):
        mu = math.sqrt(2) * NormalDist().inv_cdf(auc)
        models.append(_predictions(target, row + mu * target, mu, prevalence))
    return evaluate.build_evaluation(
        models[0], champion=models[1], champion_arn=CHAMPION_ARN, model_data_url="s3://simulated/model.tar.gz",
        source_revision="simulated", holdout_sha256="0" * 64, resamples=resamples, seed=seed,
    )  # fmt: skip


def run_cell(cell: Cell, holdouts: int, resamples: int, seed: int) -> tuple[int, int]:
    """(passes, holdouts) for the rules the cell counts."""
    rng = np.random.default_rng(seed)
    passes = 0
    evaluate.METRICS = {name: METRICS[name] for name in cell.metrics}
    try:
        for index in range(holdouts):
            report = read_evaluation_report(simulate_holdout(rng, cell, resamples, seed + index))
            rules, _ = judge(report, cell.policy, holdout_reuse=0)
            passes += cell.counts(rules)
    finally:
        evaluate.METRICS = METRICS
    return passes, holdouts


def sample_policy() -> MergedPolicy:
    """model_repo/release-policy.yaml merged with cdk.json's platform floors, as the pipeline does."""
    repository = parse_release_policy(yaml.safe_load((ROOT / "model_repo" / "release-policy.yaml").read_text()))
    floors = json.loads((ROOT / "cdk.json").read_text())["context"]["ml-cicd"]["platform_floors"]
    return merge(parse_release_policy(floors, origin="cdk.json"), repository)


def _only(policy: MergedPolicy, metric: str, margin: float) -> MergedPolicy:
    return merge(None, parse_release_policy({"version": 1, "champion": {metric: {"max_regression": margin}}}))


def _all_pass(rules: list) -> bool:
    return all(rule.outcome in ("passed", "skipped") for rule in rules)


def _champion_pass(rules: list) -> bool:
    return all(rule.outcome in ("passed", "skipped") for rule in rules if rule.rule_id.startswith("champion."))


def larger_holdout_cell(policy: MergedPolicy) -> Cell:
    """The first cell at 4x the rows: the false-accept rate moves towards nominal (slow: opt-in)."""
    return Cell("false accept at the margin: roc_auc max_regression 0.01, AUC 0.99 vs 0.98, n=684 (4x)",
                684, 0.99, 0.98, _only(policy, "roc_auc", 0.01), _all_pass, 1)  # fmt: skip


def cells(*, larger_holdout: bool) -> list[Cell]:
    policy = sample_policy()
    sample_margin = policy.champion["roc_auc"]["max_regression"].value
    return [
        Cell("false accept at the margin: roc_auc max_regression 0.01, AUC 0.99 vs 0.98, n=171",
             171, 0.99, 0.98, _only(policy, "roc_auc", 0.01), _all_pass, 0),
        Cell(f"false accept at the margin: sample's roc_auc max_regression {sample_margin}, AUC 0.99 vs "
             f"{0.99 - sample_margin:.3f}, n=171", 171, 0.99, 0.99 - sample_margin,
             _only(policy, "roc_auc", sample_margin), _all_pass, 2),
        Cell("equal models (AUC 0.99), sample's champion rules, n=171", 171, 0.99, 0.99, policy, _champion_pass, 3),
        Cell("equal models (AUC 0.99), sample's full policy with floors, n=171", 171, 0.99, 0.99, policy, _all_pass, 4),
        *([larger_holdout_cell(policy)] if larger_holdout else []),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdouts", type=int, default=1500, help="simulated holdouts per cell")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--larger-holdout", action="store_true", help="add the 684-row cell (about 4x slower)")
    args = parser.parse_args(argv)
    print(f"{args.holdouts} simulated holdouts per cell, {args.resamples} bootstrap resamples, confidence 0.95")
    for cell in cells(larger_holdout=args.larger_holdout):
        start = time.perf_counter()
        passes, trials = run_cell(cell, args.holdouts, args.resamples, args.seed + 1_000_003 * cell.stream)
        low, high = wilson(passes, trials)
        print(f"- {cell.label}: passed {passes}/{trials} = {passes / trials:.1%} "
              f"[{low:.1%}, {high:.1%}] ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
