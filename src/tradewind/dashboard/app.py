"""The dashboard web app: server-rendered pages with Plotly charts, and the same data as JSON.

``create_app()`` builds one FastAPI app used two ways: ``tradewind dashboard`` serves it with
uvicorn (127.0.0.1 by default, an access token when bound elsewhere), and the Airflow plugin
mounts it under ``/tradewind`` behind Airflow's own login. Links are built from the request's
``root_path`` so both work.

Safety: every page reads in a read-only snapshot (``warehouse.ReadOnlyWarehouse``); templates
autoescape every value and chart JSON is embedded with ``<``, ``>`` and ``&`` escaped, so a model
or symbol name holding markup shows as text; known secret values are scrubbed from page data
before it is rendered or served; a Content-Security-Policy allows scripts from the app only.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from tradewind.dashboard.warehouse import ReadOnlyWarehouse
from tradewind.settings import Settings, get_settings

# The query modules and charts (numpy, pandas through the NYSE calendar) are imported by the
# routes, at the first request: the Airflow plugin builds this app in every Airflow process,
# which must not pay for them.

HERE = Path(__file__).parent
TOKEN_COOKIE = "tradewind_dashboard_token"
PAGES = (
    ("/", "Overview"),
    ("/models", "Models"),
    ("/signals", "Signals"),
    ("/portfolio", "Portfolio"),
    ("/data", "Data"),
)
_WEIGHT_FILE = re.compile(r"^weights_(\d{4}-\d{2}-\d{2}|history)\.csv$")


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _leaf_list(obj: list) -> bool:
    """A list of scalars (a chart series): series are homogeneous, so the first item tells."""
    return not obj or not isinstance(obj[0], dict | list | tuple)


def _finite(obj: Any) -> Any:
    """NaN/inf become null (JSON has no NaN; plotly draws a gap)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        # Fast path for the long numeric series: checked in C, copied only when needed.
        if _leaf_list(obj) and all(not isinstance(v, float) or math.isfinite(v) for v in obj):
            return obj
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    return str(obj)


def figure_json(fig: dict) -> Markup:
    """Figure JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(_finite(fig), default=_json_default, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _secrets(settings: Settings) -> list[str]:
    """Secret values that must never appear on a page (scrubbed from all page data)."""
    from urllib.parse import urlsplit

    found = []
    for name in ("alpaca_api_key_id", "alpaca_api_secret_key", "ndl_api_key", "dashboard_token"):
        value = getattr(settings, name, None)
        if value is not None and len(value.get_secret_value()) >= 4:
            found.append(value.get_secret_value())
    if settings.database_url is not None:
        password = urlsplit(settings.database_url.get_secret_value()).password
        if password and len(password) >= 4:
            found.append(password)
    return found


def scrub(obj: Any, secrets: Sequence[str]) -> Any:
    if not secrets:
        return obj
    if isinstance(obj, str):
        for s in secrets:
            if s in obj:
                obj = obj.replace(s, "***")
        return obj
    if isinstance(obj, dict):
        return {k: scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        if _leaf_list(obj) and not isinstance(obj[0] if obj else None, str):
            return obj  # numbers and dates hold no secret
        return [scrub(v, secrets) for v in obj]
    return obj


def _fmt(value: Any, kind: str = "") -> str:
    """Table cell text. Markup escaping is the template's job, not this one."""
    if value is None:
        return "–"
    if kind == "pct" and isinstance(value, int | float):
        return f"{value:.2%}"
    if kind == "bps" and isinstance(value, int | float):
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        return value[:19].replace("T", " ")
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default)[:400]
    return str(value)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["figure"] = figure_json
    return env


def create_app(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    token: str | None = None,
    require_token: bool = True,
    dependencies: Sequence[Callable] = (),
    now: Callable[[], datetime] | None = None,
    url_factory: Callable[[], str] | None = None,
) -> FastAPI:
    """The dashboard app.

    ``url``: the warehouse (default: the settings' warehouse, resolved at the first request,
    so importing the Airflow plugin never starts a server). ``token``: required on every request
    when set (default: ``TRADEWIND_DASHBOARD_TOKEN``; ``require_token=False`` where another
    login guards the app, as inside Airflow). ``dependencies``: extra FastAPI
    dependencies on every route (the Airflow plugin passes Airflow's login check). ``now``: the
    clock the chain status is graded against (tests pin it). ``url_factory``: how to find the
    warehouse when ``url`` is not given (Airflow passes its connection lookup).
    """
    settings = settings or get_settings()
    if not require_token:
        token = None
    elif token is None and settings.dashboard_token is not None:
        token = settings.dashboard_token.get_secret_value()
    secrets = _secrets(settings)
    clock = now or (lambda: datetime.now(UTC))
    env = _environment()
    state: dict[str, ReadOnlyWarehouse] = {}

    def warehouse() -> ReadOnlyWarehouse:
        if "wh" not in state:
            from tradewind.db import WarehouseError, warehouse_url

            try:
                found = url or (url_factory() if url_factory else warehouse_url(settings))
            except (ValueError, RuntimeError) as exc:  # e.g. no warehouse connection in Airflow
                raise WarehouseError(str(exc).strip().splitlines()[0]) from None
            state["wh"] = ReadOnlyWarehouse(found)
        return state["wh"]

    def check_token(request: Request) -> None:
        if token is None:
            return
        offered = request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="access token required")

    app = FastAPI(
        title="tradewind dashboard",
        version="1",
        description="Read-only results and operations of tradewind: every page's data as JSON.",
        dependencies=[Depends(check_token), *(Depends(d) for d in dependencies)],
        docs_url="/docs",
        redoc_url=None,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        # The token came in the URL once: keep it in an HttpOnly cookie and drop it from the URL.
        if token is not None and request.query_params.get("token") and response.status_code < 400:
            target = request.url.remove_query_params("token")
            redirect = RedirectResponse(
                str(target.path) + (f"?{target.query}" if target.query else "")
            )
            redirect.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return redirect
        return response

    def q(page: str):
        """The SQL module of a page (imported at its first request)."""
        import importlib

        return importlib.import_module(f"tradewind.dashboard.queries.{page}")

    def read(fn: Callable, *args) -> dict:
        from tradewind.db import WarehouseError

        try:
            wh = warehouse()
            with wh.snapshot() as r:
                return scrub(fn(r, *args), secrets)
        except WarehouseError as exc:
            raise HTTPException(status_code=503, detail=str(exc).splitlines()[0]) from None

    def expected_session() -> date:
        from tradewind import calendar

        return calendar.last_closed_session(clock())

    def render(request: Request, template: str, title: str, **context) -> HTMLResponse:
        from tradewind.dashboard import charts

        base = request.scope.get("root_path", "").rstrip("/")
        html = env.get_template(template).render(
            base=base, pages=PAGES, title=title, path=request.url.path[len(base) :] or "/",
            charts=charts, **context,
        )  # fmt: skip
        return HTMLResponse(html)

    # --- static ---------------------------------------------------------------------------
    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in ("dashboard.js", "dashboard.css"):
            raise HTTPException(404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(HERE / "static" / name, media_type=media)

    # --- JSON API -------------------------------------------------------------------------
    @app.get("/api/overview", tags=["api"], summary="State of today's chain, checks, models")
    def api_overview() -> dict:
        return read(q("overview").page, expected_session())

    @app.get("/api/models", tags=["api"], summary="Models, agents, training runs")
    def api_models() -> dict:
        return read(q("models").index)

    @app.get(
        "/api/models/{name:path}", tags=["api"], summary="One model: versions, gate, evaluations"
    )
    def api_model(name: str, version: int | None = Query(None, ge=1)) -> dict:
        got = read(q("models").detail, name, version)
        if got is None:
            raise HTTPException(404, detail=f"no model or agent named {name!r}")
        return got

    @app.get("/api/signals", tags=["api"], summary="Latest weights, history, lateness")
    def api_signals(model: str | None = None, history: int = Query(120, ge=1, le=2000)) -> dict:
        return read(q("signals").page, model, history)

    @app.get("/api/portfolio", tags=["api"], summary="Paper account vs backtest, orders, fills")
    def api_portfolio(account: str | None = None, model: str | None = None) -> dict:
        return read(q("portfolio").page, account, model)

    @app.get("/api/data", tags=["api"], summary="Coverage, gaps, quarantine, warnings")
    def api_data(source: str | None = None) -> dict:
        return read(q("data").page, source)

    # --- pages ----------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page_overview(request: Request) -> HTMLResponse:
        return render(request, "overview.html", "Overview", d=api_overview())

    @app.get("/models", response_class=HTMLResponse, include_in_schema=False)
    def page_models(request: Request) -> HTMLResponse:
        return render(request, "models.html", "Models", d=api_models())

    @app.get("/models/{name:path}", response_class=HTMLResponse, include_in_schema=False)
    def page_model(request: Request, name: str, version: int | None = Query(None, ge=1)):
        # The metric columns are the evaluation's own names (one definition, tradewind.rl).
        from tradewind.rl.evaluation import EMPYRICAL_METRICS

        return render(
            request, "model.html", f"Model {name}", d=api_model(name, version),
            metric_keys=(*EMPYRICAL_METRICS, "turnover", "hit_rate"),
        )  # fmt: skip

    @app.get("/signals", response_class=HTMLResponse, include_in_schema=False)
    def page_signals(request: Request, model: str | None = None) -> HTMLResponse:
        return render(request, "signals.html", "Signals", d=api_signals(model, 120))

    @app.get("/portfolio", response_class=HTMLResponse, include_in_schema=False)
    def page_portfolio(request: Request, account: str | None = None, model: str | None = None):
        return render(request, "portfolio.html", "Portfolio", d=api_portfolio(account, model))

    @app.get("/data", response_class=HTMLResponse, include_in_schema=False)
    def page_data(request: Request, source: str | None = None) -> HTMLResponse:
        return render(request, "data.html", "Data", d=api_data(source))

    @app.get("/files/weights/{model}/{name}", include_in_schema=False)
    def weight_file(model: str, name: str) -> Response:
        """A weight file as written by ``tradewind signals generate`` (read, never written)."""
        if not _WEIGHT_FILE.match(name) or "/" in model or model.startswith("."):
            raise HTTPException(404)
        from tradewind.signals.files import WeightsDestination

        body = WeightsDestination(settings.resolved_weights_dir()).read_bytes(model, name)
        if body is None:
            raise HTTPException(404, detail="no such weight file")
        return Response(body, media_type="text/csv")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith(request.scope.get("root_path", "") + "/api") or (
            "text/html" not in request.headers.get("accept", "")
        ):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        html = env.get_template("error.html").render(
            base=request.scope.get("root_path", "").rstrip("/"), pages=PAGES, path="",
            title=f"{exc.status_code}", status=exc.status_code, detail=exc.detail,
        )  # fmt: skip
        return HTMLResponse(html, status_code=exc.status_code)

    return app
