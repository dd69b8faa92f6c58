"""`metrics.png`: challenger against champion on each holdout metric, with intervals.

One panel per metric: the challenger's value with its bootstrap interval, the
champion's value (the contract gives the champion no interval of its own;
the paired delta's interval is drawn as the champion's band instead, i.e.
challenger minus the delta interval), and the policy's absolute bounds as
dashed lines. Matplotlib runs on the Agg backend, no display needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["write_metrics_chart"]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def write_metrics_chart(evaluation: Mapping[str, Any], policy: Mapping[str, Any] | None, path: Path) -> Path | None:
    """Draw the chart; `None` (nothing written) when the evaluation has no metrics."""
    metrics = evaluation.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    champion = evaluation.get("champion") if isinstance(evaluation.get("champion"), Mapping) else None
    champion_metrics = (champion or {}).get("metrics", {})
    deltas = ((champion or {}).get("comparison") or {}).get("deltas", {})
    bounds = (policy or {}).get("metrics", {}) or {}
    names = list(metrics)
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        entry = metrics[name] or {}
        value = _number(entry.get("value"))
        if value is None:
            axis.set_title(f"{name}: no value")
            continue
        low, high = _number(entry.get("ci_low")), _number(entry.get("ci_high"))
        error = [[value - low if low is not None else 0.0], [high - value if high is not None else 0.0]]
        axis.errorbar([0], [value], yerr=error, fmt="o", color="tab:blue", capsize=6, label="challenger")
        champion_value = _number((champion_metrics.get(name) or {}).get("value"))
        if champion_value is not None:
            delta = deltas.get(name) or {}
            delta_low, delta_high = _number(delta.get("ci_low")), _number(delta.get("ci_high"))
            champion_error = [[0.0], [0.0]]
            if delta_low is not None and delta_high is not None:
                # champion band implied by the paired delta: challenger - delta interval
                champion_error = [
                    [max(0.0, champion_value - (value - delta_high))],
                    [max(0.0, (value - delta_low) - champion_value)],
                ]
            axis.errorbar(
                [1],
                [champion_value],
                yerr=champion_error,
                fmt="s",
                color="tab:orange",
                capsize=6,
                label="champion (band from paired delta)",
            )
        for bound_name, style in (("min", "tab:green"), ("max", "tab:red")):
            bound = _number((bounds.get(name) or {}).get(bound_name))
            if bound is not None:
                axis.axhline(bound, linestyle="--", color=style, linewidth=1, label=f"policy {bound_name}")
        axis.set_xticks([0, 1], ["challenger", "champion"])
        axis.set_xlim(-0.6, 1.6)
        direction = "higher is better" if entry.get("higher_is_better") else "lower is better"
        axis.set_title(f"{name}\n({direction})", fontsize=9)
        axis.tick_params(labelsize=8)
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    confidence = ((champion or {}).get("comparison") or {}).get("confidence", 0.95)
    figure.suptitle(f"Holdout metrics with {confidence:.0%} bootstrap intervals", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
