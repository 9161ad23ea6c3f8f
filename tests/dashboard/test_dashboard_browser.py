"""Every page in headless Chromium (Debian's package, driven by Playwright): it loads with no
JavaScript error, no failed request, and every chart drawn by plotly.js served by the app
itself. Screenshots go to var/dashboard-screenshots/ (and to docs/img/ for the README with
UPDATE_SCREENSHOTS=1). Under CI=true a missing browser fails instead of skipping."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tradewind.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
# page, file name, charts that must be drawn as plots (not "nothing recorded yet")
PAGES = [
    ("/", "overview", 2),
    ("/models", "models", 1),
    ("/models/dow30_ppo", "model", 5),
    ("/signals", "signals", 2),
    ("/portfolio", "portfolio", 3),
    ("/data", "data", 1),
]
SHOTS = PROJECT_ROOT / "var" / "dashboard-screenshots"


@pytest.fixture(scope="module")
def browser(ci_skip):
    if not CHROMIUM.exists():
        ci_skip(f"{CHROMIUM} not installed (make chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def test_every_page_renders_in_chromium_without_js_errors(served, browser):
    base, _ = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        for path, name, min_plots in PAGES:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda m, errors=errors: (
                    errors.append(f"console: {m.text}") if m.type == "error" else None
                ),
            )
            page.on(
                "requestfailed",
                lambda req, errors=errors: errors.append(f"request failed: {req.url}"),
            )
            page.on(
                "response",
                lambda r, errors=errors: (
                    errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
                ),
            )
            outside: list[str] = []
            page.on(
                "request",
                lambda req, outside=outside: (
                    outside.append(req.url) if not req.url.startswith(base) else None
                ),
            )
            resp = page.goto(base + path, wait_until="load")
            assert resp is not None and resp.status == 200, (path, resp and resp.status)
            # Every chart container ends drawn: as a plot, or as its "nothing recorded" text.
            page.wait_for_function(
                "[...document.querySelectorAll('[data-figure]')]"
                ".every(e => e.hasAttribute('data-drawn'))",
                timeout=30_000,
            )
            plots = page.locator("[data-drawn='plot'] .main-svg").count()
            drawn = page.locator("[data-drawn='plot']").count()
            assert drawn >= min_plots, (path, drawn)
            assert plots >= drawn, (path, plots, drawn)
            assert errors == [], (path, errors)
            assert outside == [], (path, outside)  # no CDN, no third party
            shot = SHOTS / f"dashboard_{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("UPDATE_SCREENSHOTS") == "1":
                shutil.copy(shot, PROJECT_ROOT / "docs" / "img" / shot.name)
            page.close()
    finally:
        ctx.close()
