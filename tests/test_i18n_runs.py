"""中文 / English on the Runs page: its table (column names and statuses), the comparison of groups of seeds and its
verdicts against their noise, the charts (titles, axes, legends, hover), the evaluation and the deleting; and the
noise's sentences, computed text, in each language."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest
from test_groups import ended, stopped_and_mixed
from test_i18n import CJK, english_words, everything_shown, page_in
from test_page_runs import finished_run

from nin_core.lab.exercises import exercise
from nin_core.network.config import TINY
from nin_core.network.metrics import Phase
from nin_core.network.status import RunStatus
from nin_core.runs.charts import differences, group_label
from nin_core.runs.groups import queue_group
from nin_core.runs.noise import compare, spread

# Run names are typed by people and stay as they are: these are among the names test_i18n lets pass.
NAME, OTHER, MIXED, LAST = "tiny", "nin", "sgd", "adamw"
FORMATS = {"JSON"}  # a file format's name, as the download's label gives it (配置（JSON）)


def english_left(texts: list[str]) -> str:
    left = {t: words for t in texts if (words := [w for w in english_words(t) if w not in FORMATS])}
    return "\n".join(f"{t!r}: {w}" for t, w in left.items())


# --- computed text -----------------------------------------------------------------------------------------

def test_the_noise_verdicts_in_english():
    assert compare([0.70, 0.71, 0.69], [0.80, 0.81, 0.79]).text().endswith(": better")
    assert compare([0.80, 0.81, 0.79], [0.70, 0.71, 0.69]).text().endswith(": worse")
    within = compare([0.437, 0.581, 0.50], [0.52, 0.46, 0.60]).text()
    assert within.startswith("+0.021 (95 % CI −") and "Welch p = " in within and within.endswith(": within noise")
    assert compare([0.7], [0.8]).text() == ("+0.100: no noise estimate with one run on a side (3 repeats of each "
                                            "would give one)")
    assert spread([0.8, 0.82, 0.84]).text() == "0.820 ± 0.020 (3 runs)" and spread([0.8]).text() == "0.800 (1 run)"


def test_the_noise_verdicts_in_chinese(chinese):
    better = compare([0.70, 0.71, 0.69], [0.80, 0.81, 0.79]).text()
    assert re.fullmatch(r"\+0\.100（95 % 置信区间 \+0\.\d{3} … \+0\.\d{3}，Welch检验 p值 = [0-9.e-]+）：更好",
                        better), better
    assert compare([0.80, 0.81, 0.79], [0.70, 0.71, 0.69]).text().endswith("：更差")
    assert compare([0.437, 0.581, 0.50], [0.52, 0.46, 0.60]).text().endswith("：在噪声范围内")
    assert compare([0.7], [0.8]).text() == "+0.100：有一方只有一个运行，无法估计噪声（每方各重复 3 次即可得到估计）"
    assert spread([0.8, 0.82, 0.84]).text() == "0.820 ± 0.020（3 个运行）"
    assert spread([0.8]).text() == "0.800（1 个运行）"
    for text in (better, spread([0.8]).text()):
        assert not english_words(text), text
    assert Phase.LOADING_DATA.label == "加载数据中" and RunStatus.FINISHED.label == "已完成"


def test_a_groups_status_problems_and_comparison_in_chinese(store, chinese):
    mixed, by_name = stopped_and_mixed(store)
    assert by_name["mixed"].status_text() == "已完成 2 个 · 已发散 1 个"
    assert by_name["stopped"].problems() == "3 个运行中已停止 2 个：其数值基于有测试准确率的 2 个运行"
    assert group_label(by_name["mixed"]) == f"#{mixed[0]}–{mixed[-1]} mixed（3 个种子）"
    lines = differences({"mixed": by_name["mixed"], "stopped": by_name["stopped"]})
    assert lines[0] == "mixed：3 个运行中已发散 1 个：其数值基于有测试准确率的 2 个运行"
    assert lines[2].startswith("stopped 对比 mixed：−0.060（95 % 置信区间") and lines[2].endswith("：在噪声范围内")


# --- the page ------------------------------------------------------------------------------------------------

@pytest.fixture
def runs_to_read(store):
    """Two groups of three seeds (one clearly better), a group with a run that diverged, a failed run of an exercise,
    a queued run of a search and, newest, a finished run with a checkpoint (the one looked at closely)."""
    for name, accs, lr in ((NAME, (0.70, 0.71, 0.69), 0.05), (OTHER, (0.80, 0.81, 0.79), 0.1)):
        for run_id, acc in zip(queue_group(store, TINY.with_overrides(repeats=3, lr=lr), name), accs, strict=True):
            ended(store, run_id, acc)
    mixed = queue_group(store, TINY.with_overrides(repeats=3, lr=0.02), MIXED)
    ended(store, mixed[0], 0.7)
    ended(store, mixed[1], 0.72)
    ended(store, mixed[2], None, RunStatus.DIVERGED)
    store.finish(store.create_run(TINY, OTHER, experiment=exercise(1).name), RunStatus.FAILED)
    store.create_run(TINY, OTHER, experiment=f"search {NAME}")
    return finished_run(store, LAST, 0.5, checkpoint=True)


def runs_page(lang: str) -> AppTest:
    at = page_in(lang, "pages/runs.py")
    at.multiselect[0].set_value(at.multiselect[0].options[::-1]).run()  # every group, the oldest first
    assert not at.exception, at.exception
    return at


def evaluated(at: AppTest, run_id: int) -> AppTest:
    at.number_input[0].set_value(200)
    at.toggle(key=f"evaluate_{run_id}").set_value(True).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_the_runs_page_in_chinese_leaves_no_english(runs_to_read):
    at = runs_page("zh")
    texts = everything_shown(at)
    assert "运行" in [t.value for t in at.title] and "测试准确率" in at.dataframe[0].value.columns
    assert any(t.endswith("：更好") for t in texts), texts  # the comparison, judged against the noise
    assert any("已发散 1 个" in t for t in texts) and "已完成" in list(at.dataframe[0].value["状态"])
    assert "迭代周期" in texts and "训练损失" in " ".join(texts)
    assert at.selectbox(key="runs-experiment").options == ["全部运行", "练习 1：学习率与批量规范化", f"搜索 {NAME}"]
    texts += everything_shown(at.toggle(key="runs.singles").set_value(True).run())  # each run on its own
    next(b for b in at.button if b.label == "删除这个运行…").click().run()
    texts += everything_shown(at)
    texts += everything_shown(evaluated(at, runs_to_read))
    assert "预测类别" in texts and "T恤" in texts  # the confusion matrix, with the book's class names
    assert at.image and all(CJK.search(c) for c in at.image[0].captions)  # the mistakes: true → predicted
    left = english_left(texts)
    assert not left, left


@pytest.mark.slow
def test_the_runs_page_in_english_has_no_chinese(runs_to_read):
    at = runs_page("en")
    texts = everything_shown(at)
    assert any(t.endswith(": better") for t in texts), texts
    texts += everything_shown(at.toggle(key="runs.singles").set_value(True).run())
    next(b for b in at.button if b.label == "Delete this run…").click().run()
    texts += everything_shown(at)
    texts += everything_shown(evaluated(at, runs_to_read))
    assert "predicted class" in texts and "t-shirt" in texts
    assert not [t for t in texts if CJK.search(t)]
