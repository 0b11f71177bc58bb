"""What a person does with the dashboard, in headless Chromium against the real app (`streamlit run app.py`):
every page opens cleanly; a tiny run trains live to its final metrics; a run is still followed after visiting
another page; a run can be stopped; Predict works on real test images and survives a broken file; Look inside
shows a test image through every layer; Runs lists and overlays runs; Exercises shows a finished experiment.
The screenshots in docs/screenshots/ are taken here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from nin_core.lab.processes import cpu_seconds

from .conftest import (
    LONG,
    PAGE_TITLES,
    ROOT,
    VIEWPORT,
    assert_no_errors,
    expect,
    go_to,
    nav_titles,
    number_input,
    open_app,
    running_app,
    screenshot,
    set_number,
    wait_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = {"": "Network in Network playground", "shapes": "Shapes", "predict": "Predict", "explore": "Look inside",
         "runs": "Runs", "exercises": "Exercises", "search": "Search"}


def test_every_page_opens_without_an_error(page, server):
    open_app(page, server)
    for path, heading in PAGES.items():  # by its link
        page.goto(f"{server.url}/{path}")
        expect(page.get_by_test_id("stHeading").filter(has_text=heading).first).to_be_visible()
        wait_idle(page)
        assert nav_titles(page) == PAGE_TITLES
        assert_no_errors(page)
        if path == "shapes":  # the cpu preset's layers, with where the cost goes
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            page.get_by_test_id("stPlotlyChart").locator(".js-plotly-plot").wait_for()
            screenshot(page, "shapes")
    for title in ("Shapes", "Predict", "Look inside", "Runs", "Playground & training"):  # by the sidebar, one session
        go_to(page, title)
        wait_idle(page)
        assert_no_errors(page)


def test_a_page_opened_by_its_link_on_a_fresh_server_is_the_apps_page(browser, measured_device, tmp_path):
    """A bookmark to a page, opened right after the app (re)started: the app's navigation and layout."""
    with running_app(tmp_path, measured_device) as fresh:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            tab = context.new_page()
            tab.goto(f"{fresh.url}/predict")
            expect(tab.get_by_test_id("stHeading").filter(has_text="Predict").first).to_be_visible(timeout=LONG)
            wait_idle(tab)
            # pages/ is also Streamlit's legacy folder: once this ran the page alone, with its files as navigation
            assert nav_titles(tab) == PAGE_TITLES
        finally:
            context.close()


def choose_tiny(page, server, *, train_size: int, test_size: int, epochs: int, batch_size: int = 64) -> None:
    """The tiny preset, then fewer images, the given epochs and batch size, typed into their fields."""
    open_app(page, server)
    page.get_by_test_id("stRadio").get_by_text("tiny", exact=True).click()
    expect(page).to_have_url(re.compile(r"preset=tiny"))
    number_input(page, "Epochs", "2")  # the fields now hold the tiny preset
    wait_idle(page)
    expect(number_input(page, "Resize (px)")).to_have_value("28")
    set_number(page, "Training images", train_size, "train_size")
    set_number(page, "Test images", test_size, "test_size")
    if epochs != 2:
        set_number(page, "Epochs", epochs, "epochs")
    if batch_size != 64:
        set_number(page, "Batch size", batch_size, "batch_size")
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()


# --- the training page ----------------------------------------------------------------------------------

def panel_header(page):
    """The live run's header line: ``name · run N · status · device``."""
    return page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"· run \d+ ·")).first


def shown_run_id(page) -> int:
    return int(re.search(r"· run (\d+) ·", panel_header(page).inner_text()).group(1))


def whole_run_percent(page) -> int | None:
    """The "Whole run" progress bar's value, read in one step: None while it is not shown (a rerun redrawing it),
    rather than a wait on a bar that went away between finding it and reading it."""
    value = page.evaluate("""() => {
        const bar = [...document.querySelectorAll('[data-testid="live-progress"]')]
            .find(b => b.textContent.includes('Whole run'));
        const fill = bar && bar.querySelector('[role="progressbar"]');
        return fill ? fill.getAttribute('aria-valuenow') : null;
    }""")
    return int(float(value)) if value is not None else None


def header_text(page) -> str:
    """The live run's header line as it is now ("" while a rerun redraws it), without waiting for it."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
        .map(e => e.innerText).find(t => /· run \\d+ ·/.test(t)) || ''""")


def curves(page):
    """The live panel's chart: plotly draws it in this element."""
    return page.get_by_test_id("live-curves")


def trace_points(chart) -> dict[str, int]:
    """Each trace's name and how many points it has (none before plotly first drew the figure)."""
    return dict(chart.evaluate("gd => (gd.data || []).map(t => [t.name, (t.x || []).length])"))


# Installed in the tab: counts the page's script runs (Streamlit marks the app "running" for each, fragment or not).
COUNT_RERUNS = """() => {
    window.ninReruns = 0;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => { if (app.dataset.testScriptState === 'running') window.ninReruns += 1; })
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


STALL_S = 120  # a run whose record in the store has not changed for this long is stuck, however busy the machine


class RunWatch:
    """One run followed in the app's run store, the source of what the page shows. ``run()`` fails only when the
    run stops moving (its status and progress record unchanged for STALL_S): a busy machine makes a run slow,
    which is no failure; a stuck run is."""

    def __init__(self, server, run_id: int):
        from nin_core.runs.store import RunStore

        self.store, self.run_id = RunStore(server.home), run_id
        self.state, self.moved_at = None, time.monotonic()

    def run(self):
        run = self.store.get_run(self.run_id)
        if (run.status, run.progress) != self.state:
            self.state, self.moved_at = (run.status, run.progress), time.monotonic()
        assert time.monotonic() - self.moved_at < STALL_S, \
            f"run {self.run_id} has not moved for {STALL_S} s: {run.status}, {run.progress}"
        return run


def start_run(page, server) -> RunWatch:
    """Press Train: the run it queued (the store's newer one), once the worker trains it and the page shows it."""
    from nin_core.runs.store import RunStore

    store = RunStore(server.home)
    newest = max((r.id for r in store.list_runs()), default=0)
    page.get_by_role("button", name="Train", exact=True).click()
    deadline = time.monotonic() + LONG / 1000
    while not (new := [r.id for r in store.list_runs() if r.id > newest]):
        assert time.monotonic() < deadline, f"pressing Train queued no run within {LONG / 1000:.0f} s"
        page.wait_for_timeout(300)
    watch = RunWatch(server, min(new))
    while watch.run().status == "queued":  # the worker starts, however long that takes on a busy machine
        page.wait_for_timeout(300)
    expect(panel_header(page)).to_contain_text(re.compile(rf"· run {watch.run_id} ·.*running"), timeout=LONG)
    expect(panel_header(page)).to_be_in_viewport()  # brought into view: it starts far below the button
    return watch


def wait_until_percent_above(page, watch: RunWatch, floor: int) -> int:
    """Until the page's Whole run bar shows more than ``floor`` %: for as long as the run moves in the store, however
    slowly; once the store has it past ``floor``, the page must follow within LONG."""
    behind_since = None
    while (value := whole_run_percent(page)) is None or value <= floor:
        run = watch.run()
        assert run.active, f"run {watch.run_id} ended ({run.status}) while the page showed {value}%"
        if run.progress.fraction * 100 >= floor + 1:
            behind_since = behind_since or time.monotonic()
            assert time.monotonic() - behind_since < LONG / 1000, \
                f"the page showed {value}% for {LONG / 1000:.0f} s after the store had run {watch.run_id} past {floor}%"
        page.wait_for_timeout(500)
    return value


def end_run(server, run_id: int, timeout_s: float = 60) -> None:
    """Leave no run training for the next test: ask it to stop (as the Stop button does) and wait till it ends."""
    from nin_core.runs.store import RunStore

    store = RunStore(server.home)
    if store.get_run(run_id).active:
        store.request_stop(run_id)
    deadline = time.monotonic() + timeout_s
    while store.get_run(run_id).active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not store.get_run(run_id).active, f"run {run_id} did not end within {timeout_s:.0f} s of a stop request"


def test_train_a_tiny_run_and_watch_it_live(page, server):
    # 36,000 images in batches of 16: over ten seconds even on an idle machine, so the bars and curves are seen live,
    # and enough steps for the model to learn something
    choose_tiny(page, server, train_size=12000, test_size=500, epochs=3, batch_size=16)
    assert_no_errors(page)
    watch = start_run(page, server)
    run_id = watch.run_id
    page.evaluate(COUNT_RERUNS)
    try:
        percents, live_points, shot = set(), {}, 0
        while watch.run().active:  # the page is looked at for as long as the run trains, however slowly
            assert_no_errors(page)
            value = whole_run_percent(page)
            if value is not None:
                percents.add(value)
            if "running" in header_text(page):
                live_points = trace_points(curves(page))
                # the live curves mid-run: a first shot, and a better one once the first test accuracy is in
                if (not shot and live_points.get("train loss", 0) >= 3) or (shot == 1 and live_points.get("test acc")):
                    screenshot(page, "train")
                    shot += 1
            page.wait_for_timeout(400)
    finally:
        end_run(server, run_id)
    assert watch.run().status == "finished", watch.run().message
    success = page.get_by_test_id("stAlertContentSuccess").filter(has_text="loss")
    expect(success).to_be_visible(timeout=LONG)  # the page shows the end at its next poll and rerun
    # followed by the browser alone: the page's script ran again only for the run's end (a fragment, then the page)
    assert page.evaluate("() => window.ninReruns") <= 2, page.evaluate("() => window.ninReruns")
    assert len({p for p in percents if p < 100}) >= 2, f"the progress bars did not advance: {sorted(percents)}"
    assert live_points.get("train loss", 0) > 0, "no curve points while the run was training"
    assert shot, "the run finished before its curves had three points to show"
    # the finished run: its final metrics in the seed's words, its badge, its curves with every epoch
    expect(success).to_contain_text(re.compile(r"loss \d+\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}"))
    expect(success).to_contain_text("examples/sec on cpu")
    expect(panel_header(page)).to_contain_text("finished")
    assert shown_run_id(page) == run_id
    assert whole_run_percent(page) == 100
    expect(page.get_by_role("button", name=f"Stop run {run_id}", exact=True)).to_have_count(0)
    chart = curves(page)
    # plotly may update its figure a moment after the alert appears
    deadline = time.monotonic() + LONG / 1000
    while trace_points(chart).get("test acc") != 3 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    points = trace_points(chart)
    assert set(points) == {"train loss", "train acc", "test acc"}, points
    # one test point per epoch; train points as d2l's animator draws them (every num_batches // 5 and the last)
    assert points["test acc"] == 3 and points["train loss"] == 15 and points["train acc"] == 15, points
    assert_no_errors(page)


def test_a_run_is_still_followed_after_visiting_another_page(page, server):
    choose_tiny(page, server, train_size=1000, test_size=500, epochs=100)  # runs until stopped, however fast
    watch = start_run(page, server)
    run_id = watch.run_id
    try:
        before = wait_until_percent_above(page, watch, 0)
        go_to(page, "Shapes")
        expect(page.get_by_test_id("stDataFrame")).to_be_visible()
        assert_no_errors(page)
        page.wait_for_timeout(1500)  # the run goes on meanwhile
        go_to(page, "Playground & training")
        expect(panel_header(page)).to_contain_text(f"· run {run_id} ·")
        expect(panel_header(page)).to_contain_text("running")
        wait_until_percent_above(page, watch, before)  # and it is followed live, not a frozen picture
        expect(page.get_by_role("button", name=f"Stop run {run_id}", exact=True)).to_be_visible()
        assert_no_errors(page)
    finally:
        end_run(server, run_id)


def test_stop_a_run(page, server):
    from nin_core.runs.store import RunStore

    choose_tiny(page, server, train_size=1000, test_size=500, epochs=100)  # runs until stopped, however fast
    watch = start_run(page, server)
    run_id = watch.run_id
    try:
        wait_until_percent_above(page, watch, 0)
        page.get_by_role("button", name=f"Stop run {run_id}", exact=True).click()
        expect(panel_header(page)).to_contain_text("stopped", timeout=LONG)
        expect(page.get_by_test_id("stAlertContentWarning").filter(has_text="Stopped")).to_be_visible()
        expect(page.get_by_role("button", name=f"Stop run {run_id}", exact=True)).to_have_count(0)
        assert shown_run_id(page) == run_id
        run = RunStore(server.home).get_run(run_id)
        assert run.status == "stopped" and not run.active
        stopped_at = whole_run_percent(page)
        assert stopped_at is not None and stopped_at < 100
        page.wait_for_timeout(2500)  # nothing goes on training
        assert whole_run_percent(page) == stopped_at
        assert_no_errors(page)
    finally:
        end_run(server, run_id)


# --- Predict and Runs -----------------------------------------------------------------------------------

# Runs of their own, trained with the command line under names no other test uses: what other tests left in the
# app's store (runs still training, runs without curves, runs of other names) changes nothing here.
CLI_TINY = ["-m", "nin_core", "train", "--preset", "tiny", "--train-size", "1000", "--test-size", "500",
            "--batch-size", "16", "--quiet"]


def run_named(server, name: str):
    from nin_core.runs.store import RunStore

    [run] = [r for r in RunStore(server.home).list_runs() if r.name == name]
    return run


@pytest.fixture(scope="module")
def finished_run(server):
    """A finished run with curves and a checkpoint, for the tests below that need one."""
    subprocess.run([sys.executable, *CLI_TINY, "--name", "finished by the tests"], cwd=ROOT,
                   env={**os.environ, "NIN_HOME": str(server.home)}, check=True, timeout=600, capture_output=True)
    run = run_named(server, "finished by the tests")
    assert run.status == "finished", (run.status, run.message)
    return run


def stopped_run(server, processes, name: str):
    """A run trained with the command line until it has curve points, then asked to stop, as the Stop button
    does: it ends stopped, mid-run."""
    from nin_core.runs.store import RunStore

    store = RunStore(server.home)
    proc = processes.start([sys.executable, *CLI_TINY, "--epochs", "100", "--name", name],
                           env={**os.environ, "NIN_HOME": str(server.home)}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    while not any(r.name == name for r in store.list_runs()):
        assert proc.poll() is None, f"the command line ended ({proc.returncode}) before it recorded {name!r}"
        time.sleep(0.3)
    watch = RunWatch(server, run_named(server, name).id)
    while not store.metrics(watch.run_id):
        assert watch.run().active, (watch.run().status, watch.run().message)
        time.sleep(0.3)
    store.request_stop(watch.run_id)
    proc.wait(timeout=LONG / 1000)
    run = watch.run()
    assert run.status == "stopped", (run.status, run.message)
    return run


def choose_exactly(page, picker, labels: list[str]) -> None:
    """Make the multiselect ``picker`` hold ``labels`` and nothing else, as a person does (clear it, then pick each
    from its list), waiting each time for the state that step needs: a rerun of the page (it reruns as runs
    change) can close the list before the option is clicked, so the list is opened again until the pick shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    chosen = picker.locator("[data-tag]")  # each choice shown, titled with its label
    expect(picker).to_be_visible()
    if chosen.count():
        picker.get_by_role("button", name="Clear all").click()
    expect(chosen).to_have_count(0)
    wait_idle(page)
    for label in labels:
        deadline = time.monotonic() + LONG / 1000
        while not chosen.filter(has=page.get_by_title(label, exact=True)).count():
            assert time.monotonic() < deadline, f"{label!r} was not offered within {LONG / 1000:.0f} s"
            picker.locator("input").first.click()
            option = page.get_by_role("option", name=label, exact=True)
            try:
                option.click(timeout=5_000)
            except PlaywrightTimeoutError:  # the list closed under a rerun, or had not opened yet
                page.keyboard.press("Escape")
            wait_idle(page)
        page.keyboard.press("Escape")
        wait_idle(page)
    expect(chosen).to_have_count(len(labels))


def test_predict_real_test_images_and_survive_a_broken_file(page, server, tmp_path, finished_run):
    from nin_core.network.charts import png_bytes
    from nin_core.network.data import CLASS_NAMES, sample_test_images

    files, labels = [], []
    for image, label in sample_test_images(40, seed=11):  # three real test images of three classes
        name = CLASS_NAMES[label].replace("/", "-").replace(" ", "-").lower()
        if len(files) < 3 and not any(f.name.endswith(f"-{name}.png") for f in files):
            files.append(tmp_path / f"test{len(files) + 1}-{name}.png")
            files[-1].write_bytes(png_bytes(image.numpy()))
            labels.append(CLASS_NAMES[label])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a picture")

    open_app(page, server, "Predict")
    model = page.get_by_role("combobox", name="Model", exact=True)
    model.click()  # a finished run (the newest model may be a stopped one)
    page.get_by_role("option", name=re.compile(rf"^#{finished_run.id} .*\(finished")).click()
    expect(model).to_have_value(re.compile(rf"^#{finished_run.id} .*\(finished, test acc \d+\.\d%\)$"))
    wait_idle(page)
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    results = page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"\.png → "))
    uploader.set_input_files(files[:2])
    expect(results).to_have_count(2, timeout=LONG)
    for path in files[:2]:
        expect(results.filter(has_text=path.name)).to_contain_text(
            re.compile(rf"{re.escape(path.name)} → ({'|'.join(map(re.escape, CLASS_NAMES))}) \(\d+%\)"))
    expect(page.get_by_test_id("stProgress")).to_have_count(2 * 3)  # each image's three most likely classes
    expect(page.get_by_test_id("stImageCaption").filter(has_text="class map of")).to_have_count(2)
    expect(page.get_by_test_id("stImageCaption").filter(has_text="as the model sees it")).to_have_count(2)
    page.locator('[data-testid="stImage"] img').last.wait_for()
    assert_no_errors(page)

    model.click()  # the shipped demo model predicts the same uploads (and makes the README's picture)
    page.get_by_role("option", name=re.compile(r"^Demo model")).click()
    expect(model).to_have_value(re.compile(r"^Demo model \(test acc \d+\.\d%\)$"))
    wait_idle(page)
    expect(results).to_have_count(2, timeout=LONG)
    for path, label in zip(files[:2], labels[:2], strict=True):  # the demo model (test acc ≥ 0.92) gets both right
        expect(results.filter(has_text=path.name)).to_contain_text(f"{path.name} → {label} (")
    page.locator('[data-testid="stImage"] img').last.wait_for()
    assert_no_errors(page)
    screenshot(page, "predict")

    uploader.set_input_files([broken])  # a broken file: a message, and the page goes on
    warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="broken.png")
    expect(warning).to_be_visible(timeout=LONG)
    expect(results).to_have_count(2)
    uploader.set_input_files([files[2]])  # the next file is predicted as before
    expect(results).to_have_count(3, timeout=LONG)
    expect(results.filter(has_text=files[2].name)).to_be_visible()
    expect(warning).to_be_visible()
    expect(page.get_by_test_id("stImageCaption").filter(has_text="class map of")).to_have_count(3)
    assert_no_errors(page)


def test_the_live_panel_route_is_served_beside_the_app(server, finished_run):
    """`streamlit run app.py` serves the route a watching tab polls, and plotly.js for its curves."""
    with urllib.request.urlopen(f"{server.url}/api/runs/{finished_run.id}/live?drawn=") as response:
        state = json.load(response)
    assert not state["active"] and state["signature"]["status"] == "finished"
    assert state["bars"][1]["text"] == "Whole run: 100%" and len(state["figure"]["data"]) == 3
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{server.url}/api/runs/99999/live")
    assert missing.value.code == 404
    with urllib.request.urlopen(f"{server.url}/api/plotly.min.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript") and b"plotly.js" in response.read(200)


def test_a_new_tab_loading_plotly_js_costs_the_server_almost_nothing(server):
    """Each new tab's live panel loads plotly.js (4.6 MB). The server's gzip middleware compressed it again for
    every tab: 0.6 s of a core in the server's event loop, every page of every tab waiting meanwhile."""
    ask = urllib.request.Request(f"{server.url}/api/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    urllib.request.urlopen(ask).read()  # the first may compress it, once per server
    before = cpu_seconds({server.proc.pid})
    for _ in range(5):
        with urllib.request.urlopen(ask) as response:
            assert response.headers["Content-Encoding"] == "gzip" and len(response.read()) > 1_000_000
    assert cpu_seconds({server.proc.pid}) - before < 0.5  # it was 3 s


def test_explore_a_random_test_image_with_the_demo_model(page, server):
    open_app(page, server, "Look inside")
    model = page.get_by_role("combobox", name="Model", exact=True)
    model.click()  # the tests before may have trained runs, listed first
    page.get_by_role("option", name=re.compile(r"^Demo model")).click()
    expect(model).to_have_value(re.compile(r"^Demo model \(test acc \d+\.\d%\)$"))
    wait_idle(page)
    result = page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"A test image \(true: .+\) → "))
    expect(result).to_have_count(1)
    expect(page.get_by_test_id("stImageCaption").filter(has_text="class map of")).to_have_count(1)
    expect(page.get_by_test_id("stHeading").filter(has_text="Every layer")).to_have_count(1)
    page.locator('[data-testid="stImage"] img').last.wait_for()
    assert_no_errors(page)
    screenshot(page, "explore")


def test_runs_lists_the_finished_run_and_overlays_two(page, server, finished_run, processes):
    first, other = finished_run, stopped_run(server, processes, "stopped by the runs test")
    labels = [f"#{first.id} {first.name}", f"#{other.id} {other.name}"]

    open_app(page, server, "Runs")
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    # the grid draws on a canvas; its accessible table holds the same cells
    row = table.locator("tr").filter(has=page.locator("td", has_text=re.compile(rf"^{re.escape(first.name)}$")))
    expect(row).to_have_count(1)
    expect(row.locator("td").filter(has_text=re.compile(r"^finished$"))).to_have_count(1)

    choose_exactly(page, page.get_by_test_id("stMultiSelect").filter(has_text="Runs to compare"), labels)
    chart = page.get_by_test_id("stPlotlyChart").first.locator(".js-plotly-plot").first
    expected = {f"{label}: {curve}" for label in labels for curve in ("train loss", "train acc", "test acc")}
    deadline = time.monotonic() + LONG / 1000
    while set(trace_points(chart)) != expected and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    points = trace_points(chart)
    assert set(points) == expected, points
    assert all(points[f"{label}: train loss"] > 0 for label in labels), points  # a stopped run may have no
    assert all(points[f"{labels[0]}: {c}"] > 0 for c in ("train acc", "test acc")), points  # test acc yet
    assert_no_errors(page)
    screenshot(page, "runs")


def test_runs_lists_a_run_from_elsewhere_without_a_click(own_app):
    from nin_core.network.config import TINY
    from nin_core.runs.store import RunStore

    # A store of its own: in the shared one, other tests' runs (long names) push columns of the grid out of view.
    page, server = own_app
    store = RunStore(server.home)
    store.finish(store.create_run(TINY, "a first run", claim=True), "failed", message="made by the test")
    open_app(page, server, "Runs")
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    # another tab or the command line adds a run (claimed and ended at once: no worker trains it)
    run_id = store.create_run(TINY, "from elsewhere", claim=True)
    store.finish(run_id, "failed", message="made by the test")
    row = table.locator("tr").filter(has=page.locator("td", has_text=re.compile(r"^from elsewhere$")))
    expect(row).to_have_count(1, timeout=20_000)  # the page polls every few seconds; nothing was clicked
    expect(row.locator("td").filter(has_text=re.compile(r"^failed$"))).to_have_count(1)
    expect(row.locator("td").filter(has_text=re.compile(r"^—$"))).not_to_have_count(0)  # no metrics: a dash
    assert_no_errors(page)


# --- Exercises ------------------------------------------------------------------------------------------

def test_exercises_shows_a_finished_experiment(page, server):
    """Exercise 2 queued and trained from the shell at a reduced size (two seeds) in the app's store: the page
    offers that size as a quick look, and shows the table, the curves and the conclusion written from the runs."""
    size = ["--train-size", "3000", "--test-size", "500", "--epochs", "1", "--repeats", "2"]
    subprocess.run([sys.executable, "-m", "nin_core", "exercise", "2", *size, "--quiet"], cwd=ROOT,
                   env={**os.environ, "NIN_HOME": str(server.home)}, check=True, timeout=1800, capture_output=True)
    open_app(page, server, "Exercises")
    page.get_by_role("tab", name=re.compile(r"^2 · ")).click()
    wait_idle(page)
    size_box = page.get_by_role("combobox", name="Size", exact=True)
    size_box.click()
    page.get_by_role("option", name="3,000 training images, 500 test images, 1 epoch, 2 seeds (a quick look: its "
                                     "conclusion may differ)").click()
    wait_idle(page)
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="Against two 1×1 convs")).to_be_visible()
    expect(page.get_by_test_id("stAlertContentWarning").filter(has_text="A quick look")).to_be_visible()
    expect(page.get_by_role("button", name="All runs done")).to_be_disabled()
    page.get_by_test_id("stPlotlyChart").locator(".js-plotly-plot").wait_for()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    assert_no_errors(page)
    screenshot(page, "exercises")
