"""Pictures of a reconciliation: target against achieved weights, one bar pair per symbol."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_reconciliation(report: dict[str, Any], path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = report["weights"]
    names = [ln["symbol"] for ln in lines] + ["cash"]
    target = [ln["target_weight"] for ln in lines] + [report["cash_target_weight"]]
    achieved = [ln["achieved_weight"] for ln in lines] + [report["cash_weight"] or 0.0]
    unfilled = {u["symbol"] for u in report["unfilled"]}
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(names) + 2), 4.2))
    ax.bar(x - 0.2, target, 0.4, label="target", color="#9bb7d4")
    bars = ax.bar(x + 0.2, achieved, 0.4, label="achieved", color="#1f4e79")
    for i, name in enumerate(names):
        if name in unfilled:
            bars[i].set_color("#c0392b")
    ax.set_xticks(
        x, names, rotation=45 if len(names) > 12 else 0, ha="right" if len(names) > 12 else "center"
    )
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("weight of equity")
    ax.set_title(title, fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    patch = matplotlib.patches.Patch
    handles = [patch(color="#9bb7d4", label="target"), patch(color="#1f4e79", label="achieved")]
    if unfilled:
        handles.append(patch(color="#c0392b", label="achieved, order not (fully) filled"))
    ax.set_ylim(0, max(max(target), max(achieved), 0.01) * 1.25)
    ax.legend(handles=handles, loc="upper left", ncol=len(handles), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
