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


def _champion_error(value: float, champion_value: float, delta: Mapping[str, Any]) -> list[list[float]]:
    """The champion's band implied by the paired delta: challenger minus the delta interval."""
    delta_low, delta_high = _number(delta.get("ci_low")), _number(delta.get("ci_high"))
    if delta_low is None or delta_high is None:
        return [[0.0], [0.0]]
    return [[max(0.0, champion_value - (value - delta_high))], [max(0.0, (value - delta_low) - champion_value)]]


def _draw_metric(axis: Any, name: str, entry: Mapping[str, Any], champion: Mapping[str, Any], bounds: Mapping[str, Any]) -> None:
    """One panel: the challenger with its interval, the champion with its band, the policy's bounds."""
    value = _number(entry.get("value"))
    if value is None:
        axis.set_title(f"{name}: no value")
        return
    low, high = _number(entry.get("ci_low")), _number(entry.get("ci_high"))
    error = [[value - low if low is not None else 0.0], [high - value if high is not None else 0.0]]
    axis.errorbar([0], [value], yerr=error, fmt="o", color="tab:blue", capsize=6, label="challenger")
    champion_value = _number((champion.get("metrics", {}).get(name) or {}).get("value"))
    if champion_value is not None:
        delta = ((champion.get("comparison") or {}).get("deltas", {}).get(name)) or {}
        axis.errorbar(
            [1],
            [champion_value],
            yerr=_champion_error(value, champion_value, delta),
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


def write_metrics_chart(evaluation: Mapping[str, Any], policy: Mapping[str, Any] | None, path: Path) -> Path | None:
    """Draw the chart; `None` (nothing written) when the evaluation has no metrics."""
    metrics = evaluation.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    champion = evaluation.get("champion") if isinstance(evaluation.get("champion"), Mapping) else None
    bounds = (policy or {}).get("metrics", {}) or {}
    names = list(metrics)
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        _draw_metric(axis, name, metrics[name] or {}, champion or {}, bounds)
    axes[0][0].legend(fontsize=7, loc="best")
    confidence = ((champion or {}).get("comparison") or {}).get("confidence", 0.95)
    figure.suptitle(f"Holdout metrics with {confidence:.0%} bootstrap intervals", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
