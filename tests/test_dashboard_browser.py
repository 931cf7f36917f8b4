"""The dashboard, the reports and the API docs in a real browser (headless Chromium).

Playwright drives Debian's Chromium (no browser download) against a Streamlit server on
127.0.0.1 over a seeded database, at 1400 and 1000 px wide. Each page is checked for what a
person would see: its header, no error box, charts drawn, no horizontal scroll bar on the
main tables nor on the page, and no cell reading "None" (table cells are drawn on a canvas,
so the test records every string the page draws with ``fillText``). The HTML report is
checked the same way; the PDF report is rendered to PNG with ``pdftoppm`` and its words'
boxes (``pdftotext -bbox``) must neither overlap each other nor sit on a chart's coloured
line or area, and no axis may print an exponent offset such as "1e6".

Screenshots go to ``$MACROQUANT_SCREENSHOTS`` (default ``test-artifacts/screens`` in the
repository) with stable names: ``dashboard-<page>-<width>.png``, ``report-<width>.png``,
``report-pdf-<page>.png``, ``api-docs.png``.

Without Chromium (or poppler-utils) the tests are skipped, saying so; under CI (``CI=true``)
they fail instead, since ``.ci/run`` installs both.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from PIL import Image

from macroquant.calendars import sessions
from macroquant.reports.attribution import attribution_table
from macroquant.reports.html_report import ensure_plotly_js, render_report
from macroquant.reports.metrics import summary
from macroquant.reports.pdf_report import render_pdf
from tests.local_http import free_port
from tests.test_dashboard import _seed

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("MACROQUANT_SCREENSHOTS") or ROOT / "test-artifacts" / "screens")
WIDTHS = (1400, 1000)
# page key -> (header on the page, minimum number of Plotly charts drawn)
PAGES = {"overview": ("Overview", 1), "strategies": ("Strategies", 2),
         "positions": ("Positions & exposure", 1), "signals": ("Signals", 1),
         "orders": ("Orders & fills", 0), "divergence": ("Divergence", 1),
         "data": ("Data health", 0),
         "runs": ("Pipeline runs", 0)}
# strings the seeded rows must draw: proof that the canvas recording sees the cells
DRAWN = {"positions": ["$47,500.00", "-$109,000.00", "EURUSD"],
         "orders": ["—", "submitted"],
         "strategies": ["$102,504.90"], "data": ["AAPL", "7.82"],
         "divergence": ["alpaca", "$12.50"]}
LONG_REASON = ("log move 0.131875 is 7.82 x the mean absolute move 0.016863 of the previous "
               "20 moves (limit 7 x)")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
# records every string drawn on a canvas (the dataframe grid draws its cells there)
RECORD_CANVAS_TEXT = """(() => {
  window.__drawnText = [];
  const fillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    window.__drawnText.push(String(text));
    return fillText.call(this, text, ...rest);
  };
})()"""
# per visible dataframe (not one in a closed expander): its width and that of its content
TABLE_WIDTHS = """() => Array.from(document.querySelectorAll("[data-testid='stDataFrame']"))
  .filter(frame => frame.offsetParent !== null && !frame.closest("details:not([open])"))
  .map(frame => { const scroller = frame.querySelector('.dvn-scroller');
                  return [scroller.clientWidth, scroller.scrollWidth]; })"""
GRIDS_DRAWN = """() => Array.from(document.querySelectorAll("[data-testid='stDataFrame']"))
  .filter(frame => frame.offsetParent !== null && !frame.closest("details:not([open])"))
  .every(frame => frame.querySelector('.dvn-scroller') !== null)"""
PAGE_WIDTHS = "() => [window.innerWidth, document.documentElement.scrollWidth]"


def _need(tool: str | None, what: str) -> None:
    """Skip without the tool, saying so; fail under CI, which must have it."""
    if tool:
        return
    message = f"needs {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI=true, and .ci/run installs it with apt-get")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need(CHROMIUM, "Chromium (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def dashboard(db_url: str, tmp_path: Path) -> Iterator[str]:
    _seed(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:  # a warning with a long reason
        conn.execute("""INSERT INTO data_quality_flags (as_of, check_name, symbol, trade_date,
                        observed, threshold, reason) VALUES (%s, 'spike', 'AAPL', %s, 7.82, 7,
                        %s)""", (date(2024, 1, 5), date(2024, 1, 5), LONG_REASON))
    port = free_port()
    env = {**os.environ, "MACROQUANT_DATABASE_URL": db_url, "MACROQUANT_HOME": str(tmp_path),
           "MACROQUANT_AIRFLOW_PORT": "18080"}
    env.pop("MACROQUANT_AIRFLOW_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_for_port(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return
        if server.poll() is not None:
            pytest.fail(f"server exited: {server.stdout.read() if server.stdout else ''}")
        time.sleep(0.2)
    pytest.fail(f"nothing listened on port {port} after 60 s")


def _check_screenshot(path: Path, width: int) -> None:
    with Image.open(path) as image:
        assert image.width == width and image.height >= 600, (path.name, image.size)
        pixels = np.asarray(image.convert("L"), dtype=float)
    # a real page: light background with dark text and coloured charts
    assert pixels.std() > 10, (path.name, pixels.std())
    assert (pixels < 100).mean() > 0.002, path.name


def _no_none(texts: list[str], where: str) -> None:
    shown = [t for t in texts if re.search(r"\b(None|nan|NaN|NaT)\b", t)]
    assert not shown, (where, shown[:5])


def test_every_dashboard_page_fits_at_two_widths(browser: Any, dashboard: str):
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 1200})
        page.add_init_script(RECORD_CANVAS_TEXT)
        for key, (header, charts) in PAGES.items():
            where = f"{key} at {width} px"
            page.goto(f"{dashboard}/?page={key}")
            page.get_by_role("heading", name=header, exact=True).wait_for(timeout=60_000)
            page.wait_for_selector("[data-testid='stStatusWidget']", state="detached",
                                   timeout=60_000)
            if charts:
                page.wait_for_function(
                    f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                    timeout=60_000)
            page.wait_for_function(GRIDS_DRAWN, timeout=60_000)
            page.wait_for_timeout(800)  # let the grids draw and the last chart settle
            assert page.locator("[data-testid='stException']").count() == 0, where
            assert page.locator(".js-plotly-plot").count() >= charts, where
            tables = page.evaluate(TABLE_WIDTHS)
            assert tables or key == "overview", where
            for visible, content in tables:
                assert content <= visible + 1, (where, "table scrolls sideways", visible, content)
            inner, scroll = page.evaluate(PAGE_WIDTHS)
            assert scroll <= inner, (where, "page scrolls sideways", inner, scroll)
            drawn = page.evaluate("window.__drawnText.splice(0)")
            _no_none(drawn, where)
            _no_none(page.inner_text("body").splitlines(), where)
            for text in DRAWN.get(key, []):
                assert text in drawn, (where, text)
            sidebar = page.inner_text("[data-testid='stSidebar']")
            assert "trading allowed, never halted" in sidebar and "1970" not in sidebar, where
            path = ARTIFACTS / f"dashboard-{key}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            _check_screenshot(path, width)
        runs_caption = page.inner_text("body")
        assert "http://127.0.0.1:18080" in runs_caption  # the runs page, MACROQUANT_AIRFLOW_PORT
        page.close()


# ---------------------------------------------------------------- reports
def sample_report(kind: str = "daily") -> dict[str, Any]:
    """Report inputs shaped like a real year of paper trading: equity near $1,000,000
    falling from its first days (where the old metrics box sat), two strategies, FX and
    equity positions, an order without a fill price."""
    days = sessions(date(2012, 3, 1), date(2013, 2, 28))
    rng = np.random.default_rng(7)
    returns = rng.normal(-0.0003, 0.005, len(days))
    equity = 1_000_000 * np.cumprod(1 + returns)
    drawdown = equity / np.maximum.accumulate(equity) - 1
    portfolio = pd.DataFrame({"as_of": days, "scope": "portfolio", "equity": equity,
                              "daily_pnl": np.diff(equity, prepend=1_000_000),
                              "daily_return": returns, "drawdown": drawdown})
    strategies = pd.concat([portfolio.assign(scope=f"strategy:{name}",
                                             daily_return=returns * weight)
                            for name, weight in (("ewma_trend", 0.6), ("zscore", 0.4))])
    positions = pd.DataFrame({
        "symbol": ["GBPUSD", "SPX", "AAPL"], "asset_class": ["fx", "equity_index", "stock"],
        "quantity": [-165_000.0, 139.0, 37.0], "average_cost": [1.549025, 1478.746, 469.449],
        "last_price": [1.521321, 1514.68, 441.4],
        "market_value": [-251_017.96, 210_540.53, 16_331.80],
        "unrealized_pnl": [4_571.19, 4_994.84, -1_037.80]})
    orders = pd.DataFrame({"client_order_id": ["MQ-1", "MQ-2"], "symbol": ["SPX", "GBPUSD"],
                           "side": ["buy", "sell"], "quantity": [3.0, 13_000.0],
                           "status": ["submitted", "filled"],
                           "average_fill_price": [math.nan, 1.5213]})
    split = pd.DataFrame({"ewma_trend": rng.normal(-80, 900, 21),
                          "zscore": rng.normal(90, 500, 21),
                          "execution_and_netting": rng.normal(-20, 60, 21)})
    tables = {"strategy": attribution_table(split),
              "asset_class": attribution_table(split.set_axis(["fx", "equity", "stock"],
                                                              axis=1))}
    return {"kind": kind, "as_of": days[-1], "period_start": days[-1], "portfolio": portfolio,
            "strategies": strategies, "positions": positions, "orders": orders,
            "risk_summary": pd.DataFrame(columns=["check_name", "outcome", "events"]),
            "metrics": summary(pd.Series(returns)), "attribution": tables,
            "attribution_start": days[-21]}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []

    def handle_data(self, data: str) -> None:
        self.cells.append(data)


def test_html_report_fits_at_two_widths(browser: Any, tmp_path: Path):
    inputs = sample_report()
    ensure_plotly_js(tmp_path)
    report = tmp_path / "report.html"
    report.write_text(render_report(**inputs), encoding="utf-8")
    parser = _Text()
    parser.feed(report.read_text(encoding="utf-8"))
    assert "—" in parser.cells  # the order without a fill price
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.goto(report.as_uri())
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4",
            timeout=60_000)
        inner, scroll = page.evaluate(PAGE_WIDTHS)
        assert scroll <= inner, (width, inner, scroll)
        text = page.inner_text("body")
        _no_none(text.splitlines(), f"report at {width} px")
        assert "Attribution, 2013-01-30 to 2013-02-28" in text
        path = ARTIFACTS / f"report-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        _check_screenshot(path, width)
        page.close()


# words: (page, x_min, y_min, x_max, y_max, text) in PDF points from pdftotext -bbox
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"(.*?)</word>")


def pdf_words(pdf: Path) -> list[list[tuple[float, float, float, float, str]]]:
    """Each page's words with their boxes (poppler's ``pdftotext -bbox``)."""
    xhtml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True,
                           capture_output=True, text=True).stdout
    return [[(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in WORD.findall(p)]
            for p in xhtml.split("<page ")[1:]]


def overlapping_words(words: list[tuple[float, float, float, float, str]]
                      ) -> list[tuple[str, str]]:
    """Pairs of words whose boxes overlap by more than a sliver (0.5 pt each way)."""
    pairs = []
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(words):
        for bx0, by0, bx1, by1, b in words[i + 1:]:
            if min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5:
                pairs.append((a, b))
    return pairs


def words_on_colour(image: Image.Image, words: list[tuple[float, float, float, float, str]],
                    points: tuple[float, float]) -> list[str]:
    """Words whose box holds coloured pixels: the text sits on a chart's line or area
    (the reports draw text in black and grey only)."""
    rgb = np.asarray(image.convert("RGB"), dtype=int)
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    sx, sy = image.width / points[0], image.height / points[1]
    found = []
    for x0, y0, x1, y1, text in words:
        box = saturation[int(y0 * sy) + 1:int(math.ceil(y1 * sy)) - 1,
                         int(x0 * sx) + 1:int(math.ceil(x1 * sx)) - 1]
        if box.size and (box > 25).sum() > 2:
            found.append(text)
    return found


def test_pdf_report_pages_have_no_overlapping_text(tmp_path: Path):
    _need(shutil.which("pdftoppm") and shutil.which("pdftotext"),
          "poppler-utils (Debian: apt-get install poppler-utils)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    inputs = sample_report()
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(inputs["kind"], inputs["as_of"], inputs["period_start"],
                               inputs["portfolio"], inputs["positions"], inputs["metrics"],
                               inputs["attribution"], inputs["attribution_start"]))
    pages = pdf_words(pdf)
    assert len(pages) >= 4
    for old in ARTIFACTS.glob("report-pdf-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(ARTIFACTS / "report-pdf")],
                   check=True)
    images = sorted(ARTIFACTS.glob("report-pdf-*.png"))
    assert len(images) == len(pages)
    text = [" ".join(w[4] for w in words) for words in pages]
    assert "$1,000,000" in text[0] and "Total return" in text[0]
    for number, (words, image_path) in enumerate(zip(pages, images, strict=True), start=1):
        assert not [w for w in words if re.fullmatch(r"1e[+-]?\d+", w[4])], (number, "offset")
        assert not overlapping_words(words), (number, overlapping_words(words)[:3])
        with Image.open(image_path) as image:
            on_colour = words_on_colour(image, words, (841.89, 595.28))  # A4 landscape
        assert not on_colour, (number, on_colour[:5])


def test_layout_checks_catch_text_on_a_curve_and_an_exponent(tmp_path: Path):
    """The checks above can fail: a metrics box drawn on the equity curve with matplotlib's
    default axis (the PDF as it was) trips both."""
    _need(shutil.which("pdftoppm") and shutil.which("pdftotext"),
          "poppler-utils (Debian: apt-get install poppler-utils)")
    import matplotlib.pyplot as plt

    inputs = sample_report()
    figure, axes = plt.subplots(figsize=(11.69, 8.27))
    axes.plot(pd.to_datetime(inputs["portfolio"]["as_of"]), inputs["portfolio"]["equity"],
              color="#1f77b4", linewidth=3)
    axes.set_ylim(inputs["portfolio"]["equity"].min(), inputs["portfolio"]["equity"].max())
    axes.text(0.0, 0.99, "Total return: -6.77%\nSharpe: -0.90\nDays: 250",
              transform=axes.transAxes, va="top", fontsize=14,
              bbox={"facecolor": "white", "alpha": 0.6})
    axes.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    pdf = tmp_path / "old.pdf"
    figure.savefig(pdf)
    plt.close(figure)
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(tmp_path / "old")],
                   check=True)
    words = pdf_words(pdf)[0]
    with Image.open(next(tmp_path.glob("old-*.png"))) as image:
        assert words_on_colour(image, words, (841.89, 595.28))
    assert [w for w in words if re.fullmatch(r"1e[+-]?\d+", w[4])]


# ---------------------------------------------------------------- API docs
def test_api_docs_render_without_the_internet(browser: Any, db_url: str, tmp_path: Path):
    """/docs draws every operation with every request outside 127.0.0.1 blocked."""
    port = free_port()
    env = {**os.environ, "MACROQUANT_HOME": str(tmp_path), "MACROQUANT_DATABASE_URL": db_url}
    server = subprocess.Popen(
        [sys.executable, "-c", f"""
import uvicorn
from macroquant.api.app import create_app
from macroquant.config.settings import load_settings
app = create_app(load_settings())
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outside: list[str] = []
    try:
        _wait_for_port(port, server)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        local = f"http://127.0.0.1:{port}/"

        def block_outside(route: Any) -> None:
            if route.request.url.startswith(local):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", block_outside)
        page.goto(f"{local}docs")
        page.wait_for_selector(".opblock", timeout=60_000)
        assert page.locator(".opblock").count() >= 10
        assert "MacroQuant API" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert not outside, outside
