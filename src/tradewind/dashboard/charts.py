"""Plotly figures (plain dicts: ``{"data": [...], "layout": {...}}``) built from page data.

Pure functions of the page dicts; the page embeds them as JSON and ``static/dashboard.js``
draws them with the plotly.js the app serves itself (no CDN).
"""

from __future__ import annotations

COLOURS = {
    "validation": "rgba(46, 134, 193, 0.10)",
    "test": "rgba(230, 126, 34, 0.12)",
    "live": "rgba(39, 174, 96, 0.12)",
}
_BASE_LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "height": 360,
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.15},
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
}


def _layout(title: str, **extra) -> dict:
    return {**_BASE_LAYOUT, "title": {"text": title, "x": 0.01}, **extra}


def _window_shapes(windows: list[tuple[str, str, str]]) -> list[dict]:
    """Shaded bands for (name, first, last) windows across the full plot height."""
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": first,
            "x1": last,
            "y0": 0,
            "y1": 1,
            "fillcolor": COLOURS.get(name, "rgba(0,0,0,0.05)"),
            "line": {"width": 0},
            "layer": "below",
        }
        for name, first, last in windows
    ]


def equity_and_drawdown(detail: dict) -> dict:
    """Equity curves of the model and its baselines on validation (in-sample) and test
    (out-of-sample), and the live curve of its own signals, on one time axis; drawdowns below."""
    data, windows = [], {}
    for ev in detail["evaluations"]:
        c = detail["curves"].get(ev["evaluation_id"])
        if not c:
            continue
        w = ev["window_name"]
        windows.setdefault(w, (c["sessions"][0], c["sessions"][-1]))
        name = f"{ev['subject']} ({w})"
        style = {"width": 2.5} if ev["is_model"] else {"width": 1, "dash": "dot"}
        group = ev["subject"]
        data.append(
            {"type": "scatter", "mode": "lines", "name": name, "x": c["sessions"],
             "y": c["equity"], "line": style, "legendgroup": group, "yaxis": "y"}
        )  # fmt: skip
        data.append(
            {"type": "scatter", "mode": "lines", "name": f"drawdown {name}", "x": c["sessions"],
             "y": c["drawdown"], "line": style, "legendgroup": group, "yaxis": "y2",
             "showlegend": False}
        )  # fmt: skip
    live = detail.get("live") or []
    if live:
        x = [p["realised_session"] for p in live]
        windows["live"] = (x[0], x[-1])
        data.append(
            {"type": "scatter", "mode": "lines", "name": f"{detail['model_name']} (live signals)",
             "x": x, "y": [p["equity"] for p in live], "line": {"width": 2.5, "color": "#27ae60"},
             "yaxis": "y"}
        )  # fmt: skip
        data.append(
            {"type": "scatter", "mode": "lines", "name": "drawdown live", "x": x,
             "y": [p["drawdown"] for p in live], "line": {"width": 2, "color": "#27ae60"},
             "yaxis": "y2", "showlegend": False}
        )  # fmt: skip
    layout = _layout(
        "Equity (each window starts at 1) and drawdown: validation, test, live",
        height=520,
        yaxis={"domain": [0.38, 1], "title": {"text": "equity"}},
        yaxis2={"domain": [0, 0.3], "title": {"text": "drawdown"}, "tickformat": ".0%"},
        xaxis={"type": "date"},
        shapes=_window_shapes([(k, a, b) for k, (a, b) in windows.items()]),
    )
    return {"data": data, "layout": layout}


def heatmap(grid: dict, title: str, *, x_key: str, zmax: float | None = None,
            colorscale: str = "Blues", fmt: str = ".1%") -> dict:  # fmt: skip
    """Symbols down, time across: weights over sessions or coverage over months."""
    height = max(260, min(1400, 60 + 16 * len(grid["symbols"])))
    trace = {
        "type": "heatmap",
        "x": grid[x_key],
        "y": grid["symbols"],
        "z": grid["z"],
        "colorscale": colorscale,
        # plotly's "Blues" runs dark to light: reversed, an empty cell (weight 0) is white.
        "reversescale": colorscale == "Blues",
        "zmin": 0,
        "hovertemplate": "%{y} %{x}: %{z:" + fmt + "}<extra></extra>",
    }
    if zmax is not None:
        trace["zmax"] = zmax
    return {
        "data": [trace],
        "layout": _layout(title, height=height, yaxis={"autorange": "reversed", "type": "category"},
                          hovermode="closest"),
    }  # fmt: skip


def turnover(detail: dict) -> dict:
    data = []
    for ev in detail["evaluations"]:
        c = detail["curves"].get(ev["evaluation_id"])
        if c and ev["is_model"]:
            data.append(
                {"type": "scatter", "mode": "lines", "name": f"{ev['window_name']} (21-session mean)",
                 "x": c["sessions"], "y": c["turnover_21"]}
            )  # fmt: skip
    return {"data": data, "layout": _layout("Turnover per session", yaxis={"tickformat": ".1%"})}


def training_curves(curves: list[dict]) -> dict:
    """Validation score per iteration of each run (``metrics.validation_history``), or the mean
    episode return where a run recorded that instead."""
    data = []
    for run in curves:
        points = [p for p in run["history"] if isinstance(p, dict)]
        if not points:
            continue
        ykey = next(
            (k for k in ("score", "episode_return_mean") if k in points[0]),
            None,
        )  # fmt: skip
        if ykey is None:
            continue
        xkey = "iteration" if "iteration" in points[0] else None
        data.append(
            {"type": "scatter", "mode": "lines",
             "name": f"seed {run['seed']} · {run['run_id'][:8]} ({run['status']})",
             "x": [p.get(xkey, i + 1) if xkey else i + 1 for i, p in enumerate(points)],
             "y": [p.get(ykey) for p in points]}
        )  # fmt: skip
    return {
        "data": data,
        "layout": _layout("Training curves: validation score at each check",
                          xaxis={"title": {"text": "iteration"}}),
    }  # fmt: skip


def sharpe_bars(rows: list[dict], title: str, *, by_seed: bool = False) -> dict:
    """Sharpe ratio of each version on validation and test, side by side: the comparison of
    models (``by_seed=False``) or of one model's runs and seeds."""
    data = []
    for window in ("validation", "test"):
        pts = [r for r in rows if r["window_name"] == window]
        label = (lambda p: f"v{p['model_version']} seed {p['seed']}") if by_seed else (
            lambda p: f"{p['model_name']} v{p['model_version']}")  # fmt: skip
        data.append({"type": "bar", "name": window, "x": [label(p) for p in pts],
                     "y": [p["sharpe_ratio"] for p in pts]})  # fmt: skip
    return {"data": data, "layout": _layout(title, barmode="group", hovermode="closest")}


def lines(series: list[tuple[str, list, list]], title: str, **layout) -> dict:
    return {
        "data": [{"type": "scatter", "mode": "lines", "name": n, "x": x, "y": y}
                 for n, x, y in series],
        "layout": _layout(title, **layout),
    }  # fmt: skip


def bars(name: str, x: list, y: list, title: str, **layout) -> dict:
    return {
        "data": [{"type": "bar", "name": name, "x": x, "y": y}],
        "layout": _layout(title, **layout),
    }


def sparkline(points: list[list]) -> dict:
    return {
        "data": [{"type": "scatter", "mode": "lines", "x": [p[0] for p in points],
                  "y": [p[1] for p in points], "line": {"color": "#27ae60", "width": 2},
                  "hoverinfo": "x+y"}],
        "layout": {"height": 70, "width": 240, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                   "xaxis": {"visible": False}, "yaxis": {"visible": False},
                   "showlegend": False, "paper_bgcolor": "rgba(0,0,0,0)",
                   "plot_bgcolor": "rgba(0,0,0,0)"},
    }  # fmt: skip
