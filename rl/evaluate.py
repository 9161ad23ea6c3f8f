"""Backtest summaries and pictures: the evaluation report (one self-contained HTML page plus
PNGs) and the demo's quick table and equity-curve picture.

The metrics are empyrical's (:func:`tradewind.rl.evaluation.metrics`); this module only shows
them. Pictures are matplotlib PNGs; the HTML page embeds the same PNGs as ``data:`` URIs, so
it opens anywhere (a browser with no network, an e-mail attachment, an artifact store) and
never loads anything from another server.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.rl.evaluation import (
    METRIC_KEYS,
    ROLLING_SHARPE_SESSIONS,
    Backtest,
    metrics,
    rolling_sharpe,
)

# Sections of the report page, by their HTML id, in page order.
REPORT_SECTIONS = (
    ("equity", "Equity curves"),
    ("drawdown", "Drawdowns"),
    ("rolling-sharpe", "Rolling Sharpe ratio"),
    ("weights", "Weights over time"),
    ("turnover", "Turnover"),
    ("metrics", "Metrics"),
    ("config", "Configuration"),
)
_PERCENT = {"annual_return", "annual_volatility", "max_drawdown", "hit_rate", "total_return"}


# ------------------------------------------------------------------------------- demo helpers
def performance(log_returns: np.ndarray, turnover: np.ndarray | None = None) -> dict[str, float]:
    """The demo's short names for :func:`~tradewind.rl.evaluation.metrics` of daily net LOG
    returns (``cagr`` = annual_return, ``volatility`` = annual_volatility, ``sharpe``,
    ``sortino``, ``calmar``, ``mean_turnover``); missing values are NaN."""
    r = np.asarray(log_returns, dtype=np.float64)
    if len(r) == 0:
        raise ValueError("no returns to summarise")
    m = metrics(np.expm1(r), turnover)

    def num(key: str) -> float:
        return float("nan") if m[key] is None else float(m[key])

    return {
        "sessions": float(m["sessions"]),
        "total_return": num("total_return"),
        "cagr": num("annual_return"),
        "volatility": num("annual_volatility"),
        "sharpe": num("sharpe_ratio"),
        "sortino": num("sortino_ratio"),
        "max_drawdown": num("max_drawdown"),
        "calmar": num("calmar_ratio"),
        "mean_turnover": num("turnover"),
    }


def summary_table(records: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per policy with :func:`performance` of its ``run_policy`` record."""
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
    plt = _pyplot()
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


# ------------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class Report:
    html: Path
    pngs: dict[str, Path]  # section id -> picture


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fit(fig, top_in: float = 0.25, left_in: float = 0.95, right_in: float = 0.4) -> None:
    # Fixed margins in inches instead of tight_layout: tight_layout draws the whole figure once
    # more before savefig draws it again, doubling the cost of every picture.
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left_in / w, right=1 - right_in / w, top=1 - top_in / h, bottom=0.55 / h
    )


def _growth(bt: Backtest) -> pd.Series:
    return (1.0 + bt.daily["net_return"]).cumprod()


def _drawdown(bt: Backtest) -> pd.Series:
    value = _growth(bt)
    peak = np.maximum(value.cummax(), 1.0)  # the run starts at 1.0
    return value / peak - 1.0


def _line_figure(plt, subject: Backtest, others: Mapping[str, Backtest], series, ylabel: str):
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for name, bt in others.items():
        s = series(bt)
        ax.plot(s.index, s.to_numpy(), label=name, linewidth=1.0, alpha=0.75)
    s = series(subject)
    ax.plot(s.index, s.to_numpy(), label=subject.name, linewidth=2.0, color="black")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    _fit(fig)
    return fig


def _weights_figure(plt, subject: Backtest):
    w = subject.weights
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.22 * w.shape[1] + 1.2)))
    image = ax.imshow(
        w.T.to_numpy(),
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        vmin=0.0,
        vmax=max(float(np.nanmax(w.to_numpy())), 1e-9),
    )
    ax.set_yticks(range(w.shape[1]), [c.removeprefix("w_") for c in w.columns], fontsize=7)
    ticks = np.linspace(0, len(w) - 1, num=min(8, len(w))).astype(int)
    ax.set_xticks(ticks, [w.index[i].strftime("%Y-%m-%d") for i in ticks], fontsize=8)
    fig.colorbar(image, ax=ax, label="target weight", fraction=0.025, pad=0.01)
    ax.set_title(f"target weights of {subject.name} (decided at the end of each session)")
    _fit(fig, top_in=0.45, left_in=0.7, right_in=0.9)
    return fig


def _turnover_figure(plt, subject: Backtest, others: Mapping[str, Backtest]):
    fig, ax = plt.subplots(figsize=(11, 3.6))
    t = subject.daily["turnover"]
    ax.bar(t.index, t.to_numpy(), width=1.0, color="black", label=subject.name)
    for name, bt in others.items():
        ax.plot(bt.daily.index, bt.daily["turnover"].rolling(21, min_periods=1).mean(),
                label=f"{name} (21-session mean)", linewidth=1.0, alpha=0.8)  # fmt: skip
    ax.set_ylabel("turnover (sum |w - h|)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    _fit(fig)
    return fig


def _format(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "sessions":
        return f"{int(value):,}"
    if key in _PERCENT:
        return f"{value:+.2%}" if key != "hit_rate" else f"{value:.1%}"
    return f"{value:.3f}"


def _metrics_html(subject: Backtest, others: Mapping[str, Backtest]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in METRIC_KEYS)
    rows = []
    for bt in (subject, *others.values()):
        m = bt.metrics or metrics(bt.daily["net_return"], bt.daily["turnover"])
        cells = "".join(f"<td>{_format(k, m.get(k))}</td>" for k in METRIC_KEYS)
        cls = ' class="subject"' if bt is subject else ""
        rows.append(f"<tr{cls}><th>{html.escape(bt.name)}</th>{cells}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1180px;
color:#222}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
img{max-width:100%}table{border-collapse:collapse;font-size:.85rem}td,th{padding:.25rem .5rem;
border-bottom:1px solid #eee;text-align:right}th:first-child{text-align:left}
tr.subject{font-weight:bold;background:#f5f5ff}pre{background:#f7f7f7;padding:1rem;
overflow:auto;font-size:.8rem}.meta{color:#555}
"""


def write_report(
    subject: Backtest,
    baselines: Mapping[str, Backtest],
    out_dir: str | Path,
    *,
    title: str,
    config: Mapping[str, Any] | None = None,
) -> Report:
    """Write ``report.html`` and one PNG per picture into ``out_dir``; returns their paths.

    ``subject`` is compared against every entry of ``baselines`` (the subject itself, if it is
    one of them, is not drawn twice). The page is self-contained: pictures are inline PNGs, the
    styles inline, no script and no external URL.
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    others = {k: v for k, v in baselines.items() if v is not subject and k != subject.name}
    # A quarter of sessions, or a third of a shorter window (so short backtests show a curve).
    roll = min(ROLLING_SHARPE_SESSIONS, max(5, len(subject.daily) // 3))
    figures = {
        "equity": _line_figure(plt, subject, others, _growth, "growth of $1, net of costs"),
        "drawdown": _line_figure(plt, subject, others, _drawdown, "drawdown from peak"),
        "rolling-sharpe": _line_figure(
            plt,
            subject,
            others,
            lambda bt: rolling_sharpe(bt.daily["net_return"], roll),
            f"annualised Sharpe ratio, trailing {roll} sessions",
        ),  # fmt: skip
        "weights": _weights_figure(plt, subject),
        "turnover": _turnover_figure(plt, subject, others),
    }
    pngs: dict[str, Path] = {}
    inline: dict[str, str] = {}
    for key, fig in figures.items():
        path = out / f"{key.replace('-', '_')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        pngs[key] = path
        inline[key] = base64.b64encode(path.read_bytes()).decode("ascii")
    sections = []
    for key, heading in REPORT_SECTIONS:
        if key in inline:
            body = f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{inline[key]}">'
        elif key == "metrics":
            body = _metrics_html(subject, others)
        else:
            text = json.dumps(config or {}, indent=2, sort_keys=True, default=str)
            body = f"<pre>{html.escape(text, quote=False)}</pre>"
        sections.append(f'<section id="{key}"><h2>{html.escape(heading)}</h2>{body}</section>')
    costs = ", ".join(f"{k} {v:g}" for k, v in subject.costs.items())
    meta = (
        f"window <b>{html.escape(subject.window_name)}</b>: decision sessions {subject.start} to "
        f"{subject.end} ({len(subject.daily):,}); {len(subject.symbols)} assets; costs: "
        f"{html.escape(costs)}; returns are open(T+1) to open(T+2), net of costs; "
        f"generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="meta">{meta}</p>'
        + "".join(sections)
        + "</body></html>\n"
    )
    target = out / "report.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)  # never a half-written page
    return Report(html=target, pngs=pngs)
