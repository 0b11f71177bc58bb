"""The real app in a real browser: one `streamlit run app.py` for the whole session (its own free port, its own
temporary NIN_HOME), Debian's Chromium driven by Playwright, and helpers for Streamlit's DOM.

Chromium missing (or Playwright not installed) fails these tests with a message saying how to get it:
`make test` installs both. Set NIN_SKIP_BROWSER=1 to skip them on purpose.
Screenshots go to /tmp/nin-screenshots, so a test run leaves the checkout as it was; `make screenshots` sets
NIN_SCREENSHOT_DIR=docs/screenshots to renew the README's."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from nin_core.lab.estimate import CACHE_FILE
from nin_core.lab.watchbench import AppDidNotStart, serve_app

try:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # Streamlit reruns are asynchronous and CI machines are slow
except ImportError:  # the browser fixture says so
    expect = None

ROOT = Path(__file__).resolve().parents[2]


def _suite_conftest():
    """tests/conftest.py, for ``stop_recorded_processes`` (it stops the workers a NIN_HOME recorded, by pid)."""
    spec = importlib.util.spec_from_file_location("nin_suite_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stop_recorded_processes = _suite_conftest().stop_recorded_processes

CHROMIUM = os.environ.get("NIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1400, "height": 900}
# One folder, each run's shots replacing the last's: a folder per run would pile up in /tmp.
SHOTS = Path(os.environ.get("NIN_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "nin-screenshots")
MAX_SHOT_BYTES = 400_000
LONG = 120_000  # ms: what a page may take on a shared 2-core CI machine while a run trains beside it


def _skip_or_fail(message: str) -> None:
    if os.environ.get("NIN_SKIP_BROWSER") == "1":
        pytest.skip(f"NIN_SKIP_BROWSER=1: {message}")
    pytest.fail(message + " (`make test` installs it; set NIN_SKIP_BROWSER=1 to skip the browser tests)",
                pytrace=False)


@dataclass
class Server:
    url: str
    home: Path
    log: Path
    proc: subprocess.Popen

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def measured_device(tmp_path_factory) -> Path:
    """The device's speed and the default preset's own steps as the training page measures and keeps them
    (``estimates.json``), measured once for the session in a process of its own. Each app a test starts on a fresh
    home begins with them, as a returning person's does, rather than measuring again on its first page (ten seconds
    on 2 cores, each time). The measuring itself is tested in test_estimate_sweep_url.py."""
    home = tmp_path_factory.mktemp("measured")
    subprocess.run([sys.executable, "-c", "import sys; from nin_core.lab.estimate import measure_for_new_session; "
                    "measure_for_new_session(sys.argv[1])", str(home)], cwd=ROOT, check=True, timeout=600)
    return home / CACHE_FILE


def fresh_home(base: Path, measured: Path) -> Path:
    """A new NIN_HOME under ``base`` holding only what the training page measures (``measured_device``)."""
    home = base / "nin-home"
    home.mkdir(parents=True)
    shutil.copy(measured, home / CACHE_FILE)
    return home


@contextlib.contextmanager
def running_app(base: Path, measured: Path):
    """`streamlit run app.py` on a free port with a fresh NIN_HOME under ``base`` (the watch bench's serve_app);
    at the end it is stopped by its pid, with the training worker it started (by the pid the run store recorded)."""
    home, log = fresh_home(base, measured), base / "streamlit.log"
    with contextlib.ExitStack() as stack:
        try:
            url, proc = stack.enter_context(serve_app(home, log))
        except AppDidNotStart as e:
            pytest.fail(str(e), pytrace=False)
        stack.callback(stop_recorded_processes, home)  # before the server stops
        yield Server(url, home, log, proc)


@pytest.fixture(scope="session")
def server(tmp_path_factory, measured_device) -> Server:
    """The app, shared by the tests of the session (each test opens its own browser session on it)."""
    if os.environ.get("NIN_SKIP_BROWSER") == "1":
        pytest.skip("NIN_SKIP_BROWSER=1")
    with running_app(tmp_path_factory.mktemp("e2e"), measured_device) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser():
    if os.environ.get("NIN_SKIP_BROWSER") == "1":
        pytest.skip("NIN_SKIP_BROWSER=1")
    if not Path(CHROMIUM).is_file() and not shutil.which(CHROMIUM):
        _skip_or_fail(f"Chromium is missing: the browser tests need it at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("Playwright for Python is not installed (it is in requirements.txt)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextlib.contextmanager
def new_tab(browser):
    """A fresh tab (its own Streamlit session); JavaScript errors in it fail the test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(LONG)
    tab = context.new_page()
    js_errors: list[str] = []
    tab.on("pageerror", lambda e: js_errors.append(str(e)))
    yield tab
    context.close()
    assert not js_errors, f"JavaScript errors in the page: {js_errors}"


@pytest.fixture
def page(browser, server):
    """A fresh tab on the shared app."""
    with new_tab(browser) as tab:
        yield tab


@pytest.fixture
def own_app(browser, tmp_path, measured_device):
    """An app with a run store of its own and a tab on it, ``(page, server)``: for a test whose page must not show
    the runs other tests left in the shared store."""
    with running_app(tmp_path, measured_device) as srv, new_tab(browser) as tab:
        yield tab, srv


# --- helpers for Streamlit's DOM ------------------------------------------------------------------------

def wait_idle(page, timeout: float = LONG) -> None:
    """Until the script has finished its run."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(
        1, timeout=timeout)


def wait_charts_loaded_ahead(page) -> None:
    """Until the tab has loaded Streamlit's chart code ahead (ui/prefetch.py), as it does, when idle, while a person
    reads the first page."""
    page.wait_for_function("() => window.ninPrefetched !== undefined", timeout=LONG)
    page.evaluate("() => window.ninPrefetched")


PAGE_TITLES = ["Playground & training", "Shapes", "Predict", "Look inside", "Runs", "Exercises", "Search"]


def open_app(page, server: Server, title: str | None = None) -> None:
    """Open the app at its address, then (with ``title``) go to that page by the sidebar, as a person does."""
    page.goto(server.url + "/")
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link")).to_have_count(len(PAGE_TITLES))
    wait_idle(page)
    if title:
        go_to(page, title)
        wait_idle(page)


def nav_titles(page) -> list[str]:
    """The sidebar's page titles (without their icons' ligature names)."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    links.first.wait_for()
    return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]


def go_to(page, title: str) -> None:
    """Switch page as a person does: the sidebar's link (same session, no reload)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(re.escape(title))).click()
    page.get_by_test_id("stHeading").filter(has_text=title.split(" &")[0]).first.wait_for()


def assert_no_errors(page) -> None:
    """No exception box and no error alert anywhere on the page."""
    exceptions = page.get_by_test_id("stException")
    errors = page.get_by_test_id("stAlertContentError")
    assert exceptions.count() == 0, exceptions.all_inner_texts()
    assert errors.count() == 0, errors.all_inner_texts()


def number_input(page, label: str, value: str | None = None):
    """The number field labelled ``label``. A rerun that rebuilds the fields (a preset picked) shows the old copy
    beside the new one for a moment: this waits until only one is left (holding ``value``, if given)."""
    page.wait_for_function(
        """([label, value]) => {
            const fields = [...document.querySelectorAll('input[type="number"]')].filter(
                f => f.getAttribute('aria-label') === label);
            return fields.length === 1 && (value === null || fields[0].value === value);
        }""", arg=[label, value], timeout=LONG)
    return page.get_by_role("spinbutton", name=label, exact=True)


def set_number(page, label: str, value: int | float, url_param: str | None = None) -> None:
    """Type a number and press Enter, as a person does; with ``url_param``, wait until the link carries it."""
    field = number_input(page, label)
    field.fill(str(value))
    field.press("Enter")
    if url_param:
        expect(page).to_have_url(re.compile(rf"[?&]{url_param}={value}(&|$)"))
    wait_idle(page)


def screenshot(page, name: str, max_height: int = 3000) -> Path:
    """A full-page PNG: Streamlit scrolls inside its own container, so the viewport is stretched to the content
    for the shot, then put back. Colours are reduced if the file would be over MAX_SHOT_BYTES."""
    content = """() => {
        const main = document.querySelector('[data-testid="stMain"]');
        const inner = document.querySelector('[data-testid="stMainBlockContainer"]');
        const bottom = inner ? inner.getBoundingClientRect().bottom + (main ? main.scrollTop : 0) : 0;
        return Math.ceil(Math.max(bottom + 24, main ? main.scrollHeight : 0));
    }"""
    try:
        for _ in range(3):  # the layout settles at the new size (charts re-lay out), then measure again
            height = int(min(max(page.evaluate(content), VIEWPORT["height"]), max_height))
            if height == page.viewport_size["height"]:
                break
            page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
            page.wait_for_timeout(700)
        png = page.screenshot(full_page=True, animations="disabled", caret="hide")
    finally:
        page.set_viewport_size(VIEWPORT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if len(png) > MAX_SHOT_BYTES:
        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(buf, "PNG", optimize=True)
        png = buf.getvalue()
    path.write_bytes(png)
    assert len(png) < MAX_SHOT_BYTES, f"{path} is {len(png):,} bytes"
    return path
