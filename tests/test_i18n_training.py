"""中文 / English on the Playground & training page and in a run's live panel: the page's titles, captions, the
link's warnings, the estimate, Train, the code and the sweep, the run panel (status, Stop, queue, outcome, Continue)
and the words the live panel's JavaScript draws, which come from Python (``panel_state``) in the page's language;
and the computed text behind them (the sweep's problems, why a run cannot continue, the estimate), in each language.
The seed's closing lines stay as the book prints them, in both languages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from conftest import live_panels
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest
from test_continue import ended_run
from test_i18n import CJK, english_words, everything_shown, page_in
from test_page_runs import finished_run

from nin_core.i18n import in_language
from nin_core.network.config import SEED, TINY
from nin_core.network.hints import CPU_THREADS, DIVERGED, DIVERGED_HINT, STOPPED_WAITING
from nin_core.network.metrics import MetricPoint, Phase, Progress
from nin_core.runs import jobs
from nin_core.runs.live import panel_state, routes
from nin_core.runs.store import RunStore
from nin_core.runs.sweep import SWEEPABLE, plan_sweep

# Names that stay as they are on a Chinese page: PyTorch, Nesterov, the script's file name (nin.py), a run's name
# as typed (test_continue's "ended"), a loss that became nan; the sweep's picker names each setting's key, as links
# and the CLI write it, after its label: 学习率（lr）; a link's target (#training) is not read.
KEPT = {"PyTorch", "Nesterov", "py", "ended", "nan", "NaN"}
LINK_TARGET = re.compile(r"\]\([^)]*\)")
CHANGES = {"zh": "相对 **", "en": "Changed from "}  # the caption of changes from the preset (ui/state.py)
KEY_IN_OPTION = re.compile(r"（(" + "|".join(SWEEPABLE) + r")）$")
# The seed's closing lines (loss …, train acc …, test acc … / … examples/sec on …) stay as the book prints them.
CLOSING = re.compile(r"^loss [0-9.]+, train acc [0-9.]+, test acc [0-9.]+$|^[0-9.,]+ examples/sec on \S+$")


@pytest.fixture
def cpu_rate(monkeypatch):
    """A fixed device speed (no timing), on a device named as a real CPU is: ``CPU (2 threads)``, stored in English
    and shown in the reader's language."""
    from nin_core.lab import estimate

    monkeypatch.setattr(estimate, "_cache", {})
    monkeypatch.setattr(estimate, "measure_throughput", lambda device, dtype=None: estimate.Throughput(
        CPU_THREADS.format(threads=2), 1e10, 1e-3, time.time()))


@pytest.fixture
def no_worker(monkeypatch):
    monkeypatch.setattr(jobs, "ensure_worker", lambda store: None)  # what is queued is what these tests look at


# --- what the page and its live panel show ------------------------------------------------------------------

def panel_words(state: dict) -> list[str]:
    """Every word the live panel draws: its bars, its figures' names, its notes, the curves' titles and legend."""
    words = [b["text"] for b in state["bars"]] + [label for label, _value in state["metrics"]]
    words += list(state["texts"].values())
    figure = state.get("figure")
    if figure:
        layout = figure["layout"]
        words += [(layout.get(axis) or {}).get("title", {}).get("text", "") for axis in ("xaxis", "yaxis")]
        words += [layout.get("title", {}).get("text", "")] + [t.get("name", "") for t in figure["data"]]
    return words


def shown(at: AppTest) -> list[str]:
    """What a person reads on the page: everything_shown, the metrics' help, the live panel's words, and the
    download button; the seed's closing lines left out (they stay English). Left to their own tests
    (tests/test_i18n.py): the settings form (ui/settings_form.py) and the caption of changes from the preset
    (ui/state.py)."""
    form = max(at.columns, key=lambda column: len(column.number_input))  # the settings form's column
    theirs = set(everything_shown(form))
    changes = CHANGES.get(language_of(at), "Changed from ")
    texts = [t for t in everything_shown(at) if t not in theirs and not t.startswith(changes)]
    texts += [m.proto.help for m in at.metric] + [b.proto.label for b in at.get("download_button")]
    texts += [line for e in at.success for line in e.value.split("  \n")]
    texts = [t for t in texts if t and not CLOSING.match(t) and "examples/sec" not in t]
    for state in live_panels(at):
        texts += panel_words(state)
    return texts


def language_of(at: AppTest) -> str:
    lang = at.query_params["lang"]
    return lang[0] if isinstance(lang, list) else lang


def english_left(texts: list[str]) -> dict[str, list[str]]:
    left = {}
    for text in texts:
        words = [w for w in english_words(LINK_TARGET.sub("]", KEY_IN_OPTION.sub("", text))) if w not in KEPT]
        if words:
            left[text] = words
    return left


def sweep(at: AppTest, setting: str, values: str) -> AppTest:
    """Choose the sweep's first setting and its values."""
    at.selectbox(key="sweep.setting0").set_value(setting).run()
    return at.text_input(key="sweep.values0").input(values).run()


def open_page(lang: str, **params: str) -> AppTest:
    return page_in(lang, **{"preset": "tiny", **params})


def watching(store: RunStore, lang: str) -> Iterator[AppTest]:
    """A run training (its bars, figures and curves), another queued behind it, a sweep being planned; then Stop."""
    run_id = store.create_run(TINY.with_overrides(epochs=3), "tiny")
    store.claim(run_id)
    store.mark_running(run_id, "cpu")
    store.record(run_id, Progress.from_dict({
        "epoch": 2, "epochs": 3, "batch": 50, "batches": 200, "phase": "training", "fraction": 0.4167,
        "examples_per_sec": 5123.4, "eta_s": 14, "elapsed_s": 10, "train_loss": 1.23456, "test_acc": 0.5,
        "lr": 0.003, "device": CPU_THREADS.format(threads=2)}), [MetricPoint(0.2, 2.2, 0.2),
                                                                  MetricPoint(1.0, 1.5, 0.4, 0.5)])
    store.create_run(TINY, "nin")
    at = open_page(lang)
    yield sweep(at, "lr", "0.001, 0.003")
    assert at.button(key="sweep.queue").label == {"en": "Queue 2 runs", "zh": "将 2 个运行加入队列"}[lang]
    yield next(b for b in at.button if b.key == f"stop-{run_id}").click().run()
    assert at.toast


def ended(store: RunStore, lang: str) -> Iterator[AppTest]:
    """A run stopped while it waited for its device (a stored English message), which can continue; continued."""
    run_id = ended_run(store)
    store.finish(run_id, "stopped", message=STOPPED_WAITING)
    yield (at := open_page(lang))
    assert at.warning and at.number_input(key=f"continue-epochs-{run_id}")
    at.number_input(key=f"continue-epochs-{run_id}").set_value(4)
    yield next(b for b in at.button if b.label in ("Continue training", "继续训练")).click().run()
    assert at.toast


def diverged(store: RunStore, lang: str) -> Iterator[AppTest]:
    run_id = store.create_run(TINY, "sgd")
    store.mark_running(run_id, "cpu")
    store.finish(run_id, "diverged", message=DIVERGED.format(loss="nan", epoch=1), hint=DIVERGED_HINT)
    yield (at := open_page(lang))
    assert at.error and at.info


def finished(store: RunStore, lang: str) -> Iterator[AppTest]:
    finished_run(store, "tiny", 0.8)
    yield open_page(lang)


def problems(store: RunStore, lang: str) -> Iterator[AppTest]:
    """A link with a value it cannot read and one the configuration rejects; a sweep listing a value twice."""
    yield (at := open_page(lang, lr="0", epochs="2.5"))
    assert at.warning, "the link's problem is not said"
    yield sweep(at, "momentum", "0.9 0.9")


def hours(store: RunStore, lang: str) -> Iterator[AppTest]:
    """The seed on a CPU (the device cpu_rate measures): hours, said with what to do about it."""
    at = open_page(lang, preset="seed")
    assert at.warning, "no warning of hours"
    yield at


def first_train(store: RunStore, lang: str) -> Iterator[AppTest]:
    """No runs yet; then Train: its toast, the pointer to the run and the queued run's panel."""
    yield (at := open_page(lang))
    assert at.info, "no runs yet: nothing says so"
    yield next(b for b in at.button if b.label in ("Train", "训练")).click().run()
    assert at.toast


SCENES = [watching, ended, diverged, finished, problems, hours, first_train]


@pytest.mark.slow
@pytest.mark.parametrize("scene", SCENES, ids=[s.__name__ for s in SCENES])
def test_the_training_page_in_chinese_leaves_no_english(scene, store, cpu_rate, no_worker):
    for at in scene(store, "zh"):  # each step as it is shown, before the next
        assert not at.exception, [e.value for e in at.exception]
        left = english_left(shown(at))
        assert not left, left
        assert "网络中的网络（NiN）试验场" in [t.value for t in at.title]


@pytest.mark.slow
@pytest.mark.parametrize("scene", SCENES, ids=[s.__name__ for s in SCENES])
def test_the_training_page_in_english_has_no_chinese(scene, store, cpu_rate, no_worker):
    for at in scene(store, "en"):
        assert not at.exception, [e.value for e in at.exception]
        assert not [t for t in shown(at) if CJK.search(t)]
        assert "Network in Network playground" in [t.value for t in at.title]


@pytest.mark.slow
def test_the_sweeps_choice_stays_when_the_language_changes(store, cpu_rate, no_worker):
    """The pickers' values are the settings' keys, their labels in the page's language; the choice is given back to
    the picker after a switch (a browser sends back the other language's label: checked in a real one)."""
    at = sweep(open_page("en"), "lr", "0.001, 0.003")
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="sweep.setting0")
    assert picker.value == "lr" and picker.options[picker.index] == "学习率（lr）"
    assert at.button(key="sweep.queue").label == "将 2 个运行加入队列"


@pytest.mark.slow
def test_the_seeds_closing_lines_stay_as_the_book_prints_them(store, cpu_rate, no_worker):
    run_id = finished_run(store, "tiny", 0.8)
    for lang in ("zh", "en"):
        (success,) = open_page(lang).success
        assert success.value == "loss 0.700, train acc 0.700, test acc 0.800  \n900.0 examples/sec on cpu", run_id


# --- the live panel's words, made in Python ---------------------------------------------------------------

def training_run(store: RunStore, validation: bool = False) -> int:
    overrides = {"validation_size": 1000} if validation else {}
    run_id = store.create_run(TINY.with_overrides(epochs=3, **overrides), "followed")
    store.claim(run_id)
    store.mark_running(run_id, "cpu")
    store.record(run_id, Progress.from_dict({
        "epoch": 2, "epochs": 3, "batch": 50, "batches": 200, "phase": "evaluating", "fraction": 0.4167,
        "examples_per_sec": 5123.4, "eta_s": 14, "elapsed_s": 75, "train_loss": 1.23456, "test_acc": 0.5,
        "lr": 0.003}), [MetricPoint(0.2, 2.2, 0.2), MetricPoint(1.0, 1.5, 0.4, 0.5)])
    return run_id


def test_the_live_panel_speaks_english(store):
    state = panel_state(store.get_run(training_run(store)), store)
    assert state["lang"] == "en"
    assert [b["text"] for b in state["bars"]] == ["Epoch 2/3 · batch 50/200 · evaluating", "Whole run: 42%"]
    assert [label for label, _value in state["metrics"]] == ["images/s", "ETA", "elapsed", "train loss", "test acc",
                                                              "lr"]
    assert dict(state["metrics"])["elapsed"] == "1m 15s"
    assert state["texts"] == {"no_plotly": "The curves could not be drawn: plotly.js did not load.",
                              "lost": "Lost contact with the app; trying again…"}
    layout = state["figure"]["layout"]
    assert (layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]) == ("epoch", "loss / accuracy")
    assert not [w for w in panel_words(state) if CJK.search(w)]


def test_the_live_panel_speaks_chinese(store, chinese):
    state = panel_state(store.get_run(training_run(store, validation=True)), store)
    assert state["lang"] == "zh"
    assert [b["text"] for b in state["bars"]] == ["迭代周期 2/3 · 批量 50/200 · " + Phase.EVALUATING.label,
                                                  "整个运行：42%"]
    metrics = dict(state["metrics"])
    assert list(metrics) == ["图像/秒", "预计剩余", "已用时间", "训练损失", "验证准确率", "学习率"]
    assert metrics["训练损失"] == "1.235" and metrics["图像/秒"] == "5,123"
    assert state["texts"]["lost"] == "与应用失去了连接，正在重试…"
    assert [t["name"] for t in state["figure"]["data"]] == ["训练损失", "训练准确率", "测试准确率"]
    left = english_left(panel_words(state))
    assert not left, left


def test_the_route_answers_in_the_language_the_page_asked_for(store):
    """The browser polls with the language of the state the page drew (``lang``): the route answers in it, and in
    English for none or one it does not know; what it answers in is not left set for whoever comes next."""
    run_id = training_run(store)
    http = TestClient(Starlette(routes=routes()))
    chinese = http.get(f"/api/runs/{run_id}/live?lang=zh&drawn=").json()
    assert chinese["lang"] == "zh" and chinese["bars"][1]["text"] == "整个运行：42%"
    assert chinese["figure"]["layout"]["xaxis"]["title"]["text"] == "迭代周期"
    for query in ("drawn=", "lang=xx&drawn=", "lang=en&drawn=2"):
        english = http.get(f"/api/runs/{run_id}/live?{query}").json()
        assert english["lang"] == "en" and english["bars"][1]["text"] == "Whole run: 42%", query
    assert panel_state(store.get_run(run_id), store)["lang"] == "en"


# --- computed text ----------------------------------------------------------------------------------------

def sweep_messages(*axes: tuple[str, str]) -> list[str]:
    return [i.message for i in plan_sweep(TINY, list(axes)).issues]


def test_sweep_problems_in_each_language():
    english = sweep_messages(("lr", "0.1 0.1"), ("lr", "0.2"))
    assert english == ["is chosen twice: pick two different settings"]
    assert sweep_messages(("lr", "0.1 0.1")) == ["0.1 is listed twice"]
    assert sweep_messages(("lr", "")) == ["give at least one value, separated by commas"]
    assert sweep_messages(("lr", " ".join(str(i / 100) for i in range(1, 18)))) == [
        "17 runs is more than 16: use fewer values"]
    with in_language("zh"):
        assert sweep_messages(("lr", "0.1 0.1"), ("lr", "0.2")) == ["被选了两次：请选择两个不同的设置"]
        assert sweep_messages(("lr", "0.1 0.1")) == ["0.1 列出了两次"]
        assert sweep_messages(("nope", "1")) == ["'nope' 不能扫描；请从 " + ", ".join(SWEEPABLE) + " 中选择"]
        assert sweep_messages(("lr", " ".join(str(i / 100) for i in range(1, 18)))) == [
            "17 个运行超过了 16 个：请减少取值"]


def test_why_a_run_cannot_continue_in_each_language(store):
    live = store.create_run(TINY, "live")
    store.mark_running(live, "cpu")
    ended = ended_run(store)
    assert jobs.continue_issues(store, store.get_run(live), 5)[0] == [
        f"run {live} is running: only a stopped, interrupted or finished run can continue"]
    assert jobs.continue_issues(store, store.get_run(ended), 1)[0] == [
        f"run {ended} has trained 1 epochs: give a total above that, got 1"]
    with in_language("zh"):
        assert jobs.continue_issues(store, store.get_run(live), 5)[0] == [
            f"运行 {live} 训练中：只有已停止、已中断或已完成的运行才能继续"]
        assert jobs.continue_issues(store, store.get_run(ended), 1)[0] == [
            f"运行 {ended} 已训练了 1 个迭代周期：请给出比它大的总数，收到的是 1"]


def test_the_estimate_in_each_language(cpu_rate):
    from nin_core.lab.estimate import estimate_run, throughput

    rate = throughput("cpu")
    estimate = estimate_run(SEED.with_overrides(device="cpu", repeats=3), rate, time_steps=False)
    assert estimate.takes_hours
    assert re.fullmatch(r"about .+ for its 3 seeds", estimate.text), estimate.text
    assert estimate.warning.startswith(f"These runs would take **{estimate.text}** on CPU (2 threads). NiN at this")
    with in_language("zh"):
        assert re.fullmatch(r"约 .+（3 个种子合计）", estimate.text), estimate.text
        assert estimate.warning.startswith(f"这些运行在 CPU（2 个线程） 上需要 **{estimate.text}**。这种规模的 NiN")
        assert estimate.device_text == "CPU（2 个线程）" and not english_left([estimate.warning])
