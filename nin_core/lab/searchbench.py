"""``python -m nin_core.searchbench``: what a search costs beyond its runs, what pruning saves, and how fast the
Search page draws a large study.

1. **Pruning.** One small space, the same trials in the same order (a learning rate on a log grid, enqueued), trained
   as a search twice in one process: with the default pruner (successive halving) and with none. Reported: each
   search's best validation accuracy, its training time (the runs' own durations, summed) and their ratio. One
   order says little (successive halving never prunes the first trials, whatever they are), so the unpruned
   search's curves are then handed to each pruner the search offers (``make_pruner``: Optuna's own, deciding as in
   a search) in ``--orders`` shuffles: in what share of the orders the best trial survives, and the training time
   left, from each run's measured seconds per epoch.
2. **A trial's cost beyond its run**, from those searches: each trial's wall time in Optuna (start to end) less
   its run's (queued to ended, as the store records it).
3. **The Search page with many trials**: a study of ``--trials`` finished trials (three settings, curves of six
   epochs) in a fresh store, the app served as ``make run`` serves it, in a fresh headless Chromium tab each time:
   the seconds until its figures, table and best trial are drawn and its script has ended (timed in the page), (a)
   from a click on *Search* in the sidebar of the app's first page, settled (as a person goes there), and (b) from
   opening the page by its address (Streamlit's own start in a new tab included).

    python -m nin_core.searchbench                   # about 5 minutes on an idle 2-core machine
    python -m nin_core.searchbench --skip-pruning    # the page only
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from nin_core.lab.search import Param, SearchSpec, make_pruner, open_study, parse_param, run_search
from nin_core.lab.watchbench import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, serve_app
from nin_core.network.config import TINY
from nin_core.runs.store import RunStore

# Trials of ten seconds each: tiny on 4,000 images judged on 500, 8 epochs; rates from hopeless to too high.
BASE = TINY.with_overrides(train_size=4000, validation_size=500, test_size=None, epochs=8, device="cpu")
RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
SPACE = "lr=0.00001..0.03:log"


def _param(text: str) -> Param:
    param, issue = parse_param(text)
    assert param is not None, issue
    return param


@dataclass(frozen=True)
class Curve:
    """A trial of the unpruned search: its validation accuracy after each epoch, its value, and its run's training
    seconds per epoch."""

    accuracy: dict[int, float]
    value: float
    epoch_s: float


def pruning(home: Path, pruner: str, order: list[float]) -> dict:
    """One search over ``order``'s rates with ``pruner``: its best value, training seconds and trials' overheads, and
    the curves of the trials that gave a value."""
    store = RunStore(home)
    spec = SearchSpec(f"prune-{pruner}", (_param(SPACE),), BASE, sampler="random", pruner=pruner,
                      trials=len(order))
    study = open_study(spec, store)
    for lr in order:
        study.enqueue_trial({"lr": lr})
    started = time.monotonic()
    study = run_search(spec, store, say=lambda line: None)
    wall = time.monotonic() - started
    runs = {r.id: r for r in store.list_runs()}
    training, costs, curves = 0.0, [], []
    for t in study.trials:
        run = runs[t.user_attrs["run_id"]]
        assert run.finished_at and run.started_at and t.datetime_complete and t.datetime_start  # all ended
        training += run.finished_at - run.started_at
        costs.append((t.datetime_complete - t.datetime_start).total_seconds() - (run.finished_at - run.created_at))
        if t.state == TrialState.COMPLETE and t.intermediate_values:
            curves.append(Curve(t.intermediate_values, t.values[0],
                                (run.finished_at - run.started_at) / len(t.intermediate_values)))
    return {"pruner": pruner, "best": study.best_value, "best_lr": study.best_params["lr"], "training_s": training,
            "wall_s": wall, "pruned": sum(t.state == TrialState.PRUNED for t in study.trials),
            "max_overhead_s": max(costs), "median_overhead_s": statistics.median(costs), "curves": curves}


def replay(curves: list[Curve], pruner: str, orders: int) -> dict:
    """The curves handed to the search's ``pruner`` in ``orders`` shuffles, epoch by epoch as a search reports them:
    the share of orders whose best trial survives, and the training time left (a share of the unpruned search's)."""
    spec = SearchSpec("replay", (_param(SPACE),), BASE, pruner=pruner)
    best, full = max(c.value for c in curves), sum(c.epoch_s * len(c.accuracy) for c in curves)
    kept, left = 0, []
    for seed in range(orders):
        study = optuna.create_study(direction="maximize", pruner=make_pruner(spec))
        seconds = 0.0
        for curve in random.Random(seed).sample(curves, len(curves)):
            trial, pruned = study.ask(), False
            for epoch, accuracy in sorted(curve.accuracy.items()):
                seconds += curve.epoch_s
                trial.report(accuracy, epoch)
                if epoch < BASE.train.epochs and trial.should_prune():  # as the search's judge asks
                    pruned = True
                    break
            if pruned:
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, curve.value)
        kept += study.best_value == best
        left.append(seconds / full)
    return {"pruner": pruner, "kept": kept / orders, "left": statistics.mean(left)}


def large_study(home: Path, trials: int) -> None:
    """``trials`` finished trials of a three-setting space, each with a curve of six epochs (a tenth pruned)."""
    store = RunStore(home)
    params = tuple(_param(p) for p in ("lr=0.001..0.5:log", "batch_size=32..256:log", "batch_norm"))
    study = open_study(SearchSpec("search", params, BASE), store)
    space = {"lr": FloatDistribution(0.001, 0.5, log=True), "batch_size": IntDistribution(32, 256, log=True),
             "batch_norm": CategoricalDistribution((False, True))}
    rng = random.Random(0)
    for n in range(trials):
        pruned = n % 10 == 9
        curve = {e: min(0.95, 0.5 + 0.07 * e + rng.uniform(-0.05, 0.05)) for e in range(1, 3 if pruned else 7)}
        study.add_trial(create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE, value=None if pruned else curve[6],
            params={"lr": 10 ** rng.uniform(-3, -0.3), "batch_size": rng.randint(32, 256),
                    "batch_norm": rng.random() < 0.5}, distributions=space, intermediate_values=curve))


# In the page, polled every frame (no round trip of the bench counted): the milliseconds from ``window.__from`` (the
# click, or the navigation's start) to the Search page drawn: four figures, the best trial, the table, the script
# ended.
DRAWN_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const figures = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(
        f => f.querySelector('.main-svg') !== null);
    if (window.__from === undefined || app === null || app.dataset.testScriptState !== 'notRunning') return false;
    if (figures.length < 4 || document.querySelector('[data-testid="stDataFrame"]') === null) return false;
    if (!document.body.innerText.includes('Best trial: #')) return false;
    return performance.now() - window.__from;
}"""
ARM_JS = """() => { document.addEventListener('click', () => { window.__from = performance.now(); },
                                         {capture: true, once: true}); }"""


def page_draw(home: Path, tmp: Path, tabs: int) -> dict[str, list[float]]:
    """Seconds to the Search page drawn in fresh tabs: ``switch``, from a click on its link in the sidebar of the
    settled first page; ``address``, from opening the page by its address (the navigation's start)."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"switch": [], "address": []}
    with serve_app(home, tmp / "streamlit.log", as_make_run=True) as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for _ in range(tabs):
                for way in times:
                    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]  # a plain dict
                    page = context.new_page()
                    page.set_default_timeout(120_000)
                    if way == "switch":
                        page.goto(url)
                        page.locator('[data-testid="stBaseButton-primary"]').first.wait_for()  # Train
                        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
                        page.wait_for_function("() => window.ninPrefetched !== undefined")  # a person reads
                        page.evaluate("() => window.ninPrefetched")  # the page meanwhile: its idle work done
                        page.evaluate(ARM_JS)
                        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Search").click()
                    else:
                        page.add_init_script("window.__from = 0;")  # performance.now() counts from navigation
                        page.goto(f"{url}/search")
                    drawn = page.wait_for_function(DRAWN_JS, polling="raf")
                    times[way].append(drawn.json_value() / 1000)
                    context.close()
        finally:
            browser.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nin_core.searchbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="finished trials in the study the page draws")
    parser.add_argument("--tabs", type=int, default=3, help="fresh tabs timed on the page, one after another")
    parser.add_argument("--orders", type=int, default=500, help="shuffles of the trials replayed through each pruner")
    parser.add_argument("--skip-pruning", action="store_true")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="nin-searchbench-") as folder:
        tmp = Path(folder)
        if not args.skip_pruning:
            order = random.Random(0).sample(RATES, len(RATES))
            print(f"pruning: {len(order)} trials of {SPACE} in the order {order}, {BASE.train.epochs} epochs each",
                  flush=True)
            rows = [pruning(tmp / pruner, pruner, order) for pruner in ("asha", "none")]
            for r in rows:
                print(f"  pruner {r['pruner']:<5} best validation acc {r['best']:.4f} (lr {r['best_lr']:g}), "
                      f"{r['pruned']} pruned, training {r['training_s']:.1f} s, search wall {r['wall_s']:.1f} s, "
                      f"trial beyond its run: median {r['median_overhead_s']:.3f} s, max {r['max_overhead_s']:.3f} s",
                      flush=True)
            asha, none = rows
            # the same rate trains to slightly different sums when the thread tuner changes counts at other moments
            print(f"  pruning: the same best trial: {asha['best_lr'] == none['best_lr']}, training time "
                  f"{asha['training_s'] / none['training_s']:.0%} of the unpruned search's "
                  f"({1 - asha['training_s'] / none['training_s']:.0%} less)", flush=True)
            print(f"replayed: the unpruned search's {len(none['curves'])} curves in {args.orders} orders", flush=True)
            for pruner in ("asha", "median", "hyperband"):
                r = replay(none["curves"], pruner, args.orders)
                print(f"  pruner {pruner:<9} best trial kept in {r['kept']:.0%} of the orders, training time "
                      f"{r['left']:.0%} of the unpruned search's ({1 - r['left']:.0%} less)", flush=True)
        large_study(tmp / "page", args.trials)
        times = page_draw(tmp / "page", tmp, args.tabs)
        for way, said in (("switch", "clicked in the sidebar"), ("address", "opened by its address")):
            print(f"the Search page with {args.trials} finished trials, {said}, fresh tabs: "
                  + ", ".join(f"{t:.2f} s" for t in times[way]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
