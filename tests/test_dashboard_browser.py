"""Every dashboard page rendered by a real browser (headless Chromium) to a PNG.

The Streamlit server runs on 127.0.0.1 against a seeded database; Playwright drives the
system Chromium (no browser download). Each PNG is checked: the page's own header and no
error box are on it, Plotly charts drew where the page has them, and the image is a real
picture of the page (size, not blank). The PNGs are kept in ``$MACROQUANT_SCREENSHOTS``
when set (default: the test's temporary folder) so a person can look at them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.local_http import free_port
from tests.test_dashboard import _seed

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# page key -> (header on the page, minimum number of Plotly charts drawn)
PAGES = {"overview": ("Overview", 1), "strategies": ("Strategies", 2),
         "positions": ("Positions & exposure", 1), "signals": ("Signals", 1),
         "orders": ("Orders & fills", 0), "data": ("Data health", 0),
         "runs": ("Pipeline runs", 0)}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: chromium)")


@pytest.fixture
def dashboard(db_url: str, tmp_path: Path) -> Iterator[str]:
    _seed(db_url)
    port = free_port()
    env = {**os.environ, "MACROQUANT_DATABASE_URL": db_url, "MACROQUANT_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                pytest.fail(f"streamlit exited: {server.stdout.read()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_every_page_renders_to_a_png(dashboard: str, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    out = Path(os.environ.get("MACROQUANT_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        for key, (header, charts) in PAGES.items():
            page.goto(f"{dashboard}/?page={key}")
            page.get_by_role("heading", name=header, exact=True).wait_for(timeout=60_000)
            page.wait_for_selector("[data-testid='stStatusWidget']", state="detached",
                                   timeout=60_000)
            if charts:
                page.wait_for_function(
                    f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                    timeout=60_000)
            page.wait_for_timeout(500)  # let the last chart finish its transition
            drawn = page.locator(".js-plotly-plot").count()
            assert drawn >= charts, (key, drawn)
            assert page.locator("[data-testid='stException']").count() == 0, key
            path = out / f"dashboard-{key}.png"
            page.screenshot(path=str(path), full_page=True)
            with Image.open(path) as image:
                assert image.width == 1400 and image.height >= 600, (key, image.size)
                pixels = np.asarray(image.convert("L"), dtype=float)
            # a real page: light background with dark text and coloured charts
            assert pixels.std() > 10, (key, pixels.std())
            assert (pixels < 100).mean() > 0.002, key
        browser.close()
