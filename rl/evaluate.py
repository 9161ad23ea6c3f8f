"""Backtest summaries: performance metrics (pure numpy) and pictures (matplotlib).

The daily record comes from :func:`tradewind.rl.baselines.run_policy`: one row per decision
session T whose ``log_return`` is the net open(T+1)->open(T+2) log return. Metrics are written
here by hand (a dozen lines of numpy) rather than pulling in empyrical/quantstats, whose pandas
pins fight the rest of the stack; the definitions follow the usual conventions (252 sessions a
year, zero risk-free rate, drawdown on the compounded value).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

SESSIONS_PER_YEAR = 252


def performance(log_returns: np.ndarray, turnover: np.ndarray | None = None) -> dict[str, float]:
    """Annualised figures of a series of daily net log returns."""
    r = np.asarray(log_returns, dtype=np.float64)
    n = len(r)
    if n == 0:
        raise ValueError("no returns to summarise")
    simple = np.expm1(r)
    value = np.exp(np.cumsum(r))
    peak = np.maximum.accumulate(np.concatenate([[1.0], value]))[1:]
    drawdown = value / peak - 1.0
    vol = float(np.std(simple, ddof=1) * np.sqrt(SESSIONS_PER_YEAR)) if n > 1 else float("nan")
    mean = float(np.mean(simple) * SESSIONS_PER_YEAR)
    downside = simple[simple < 0]
    down_vol = (
        float(np.sqrt(np.mean(downside**2)) * np.sqrt(SESSIONS_PER_YEAR))
        if len(downside)
        else float("nan")
    )
    cagr = float(np.expm1(r.sum() * SESSIONS_PER_YEAR / n))
    max_dd = float(drawdown.min())
    return {
        "sessions": float(n),
        "total_return": float(np.expm1(r.sum())),
        "cagr": cagr,
        "volatility": vol,
        "sharpe": mean / vol if vol and vol > 0 else float("nan"),
        "sortino": mean / down_vol if down_vol and down_vol > 0 else float("nan"),
        "max_drawdown": max_dd,
        "calmar": cagr / -max_dd if max_dd < 0 else float("nan"),
        "mean_turnover": float(np.mean(turnover)) if turnover is not None else float("nan"),
    }


def summary_table(records: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per policy with :func:`performance` of its daily record."""
    rows = {
        name: performance(rec["log_return"].to_numpy(), rec["turnover"].to_numpy())
        for name, rec in records.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_backtest(
    records: Mapping[str, pd.DataFrame],
    path: str | Path,
    title: str = "Backtest",
    weights_of: str | None = None,
) -> Path:
    """Equity curves of every policy, and the weights of one (default: the first), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_eq, ax_w) = plt.subplots(
        2, 1, figsize=(11, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for name, rec in records.items():
        ax_eq.plot(rec.index, np.exp(rec["log_return"].cumsum()), label=name, linewidth=1.2)
    ax_eq.set_ylabel("growth of $1 (net of costs)")
    ax_eq.set_title(title)
    ax_eq.grid(alpha=0.3)
    ax_eq.legend(loc="upper left")
    first_name = weights_of or next(iter(records))
    first = records[first_name]
    wcols = [c for c in first.columns if c.startswith("w_")]
    ax_w.stackplot(first.index, first[wcols].clip(lower=0).T.to_numpy(), linewidth=0)
    ax_w.set_ylim(0, 1)
    ax_w.set_ylabel(f"weights: {first_name}")
    ax_w.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
