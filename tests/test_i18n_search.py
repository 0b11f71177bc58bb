"""中文 / English on Search, Look inside and the Shapes table's cells: each page reads in one language (its labels,
choices, captions, tables' columns and word cells, Optuna's figures), and the messages computed for them (the
search space's problems, a layer's description, why an input size breaks the network) follow the language."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import widget
from streamlit.testing.v1 import AppTest
from test_i18n import CJK, english_words, everything_shown, page_in

from nin_core.i18n import in_language
from nin_core.lab import search
from nin_core.lab.search import SearchSpec, parse_param
from nin_core.network.config import CPU, SEED, TINY
from nin_core.network.geometry import size_problem
from nin_core.network.shapes import shape_table


def assert_in_one_language(texts: list[str], lang: str) -> None:
    if lang == "zh":
        left = {t: english_words(t) for t in texts if english_words(t)}
        assert not left, "\n".join(f"{t!r}: {w}" for t, w in left.items())
    else:
        assert not [t for t in texts if CJK.search(t)]


# --- Search -----------------------------------------------------------------------------------------------------

@pytest.fixture
def finished_study(store):
    from test_page_search import small_study

    return small_study(store)


def search_page(lang: str) -> AppTest:
    return page_in(lang, "pages/search.py")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_search_page_with_a_study_reads_in_one_language(lang, finished_study):
    at = search_page(lang)
    study_shown = "显示的研究" if lang == "zh" else "Study shown"
    texts = everything_shown(at, skip_options_of=(study_shown,))
    assert len(at.get("plotly_chart")) == 4 and at.dataframe
    assert_in_one_language(texts, lang)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    frame = at.dataframe[0].value
    if lang == "zh":
        assert "搜索" in [t.value for t in at.title]
        assert sorted(titles) == sorted(["优化历史图", "中间值图", "平行坐标图", "超参数重要性"])
        assert list(frame["状态"]) == ["已完成", "已完成", "已剪枝", "已完成"]
        assert "4 次试验：已完成 3 次、已剪枝 1 次" in [c.value for c in at.caption]
        assert any(m.value.startswith("**最佳试验：#1**") for m in at.markdown)
        names = {t["name"] for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"] if t.get("name")}
        assert "试验2（已剪枝）" in names
    else:
        assert sorted(titles) == sorted(["Optimization History Plot", "Intermediate Values Plot",
                                         "Parallel Coordinate Plot", "Hyperparameter Importances"])
        assert list(frame["state"]) == ["complete", "complete", "pruned", "complete"]


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_search_form_and_its_problems_read_in_one_language(lang, nin_home):
    at = search_page(lang)
    field = "学习率（`lr`）" if lang == "zh" else "Learning rate (lr)"
    widget(at, "text_input", field).set_value("0.5..0.01").run()
    assert not at.exception, at.exception
    assert len(at.error) == 1
    assert ("颠倒" in at.error[0].value) == (lang == "zh")
    assert_in_one_language(everything_shown(at), lang)


def test_a_search_space_problem_in_chinese_and_in_english():
    with in_language("zh"):
        problems = [parse_param(text)[1] for text in ("lr=0.5..0.01", "lr=0.01..0.01", "lr=0..0.5:log", "zz",
                                                      "lr=0.1..1:ln")]
        assert all(p is not None and CJK.search(p.message) for p in problems), problems
        assert problems[0].message == "范围 0.5..0.01 颠倒了：请先写下界"
        issues = search.spec_issues(SearchSpec("", (), TINY, sampler="x", trials=0))
        assert {i.field for i in issues} >= {"study", "sampler", "trials", "params"}
        assert all(CJK.search(i.message) for i in issues), issues
    assert parse_param("lr=0.5..0.01")[1].message == "the range 0.5..0.01 is reversed: write the low end first"


def test_a_study_of_another_space_is_refused_in_the_readers_language(store):
    search.open_study(SearchSpec("s", (parse_param("head")[0],), search.validation_ready(TINY)[0]), store)
    other = SearchSpec("s", (parse_param("lr=0.001..0.01:log")[0],), search.validation_ready(TINY)[0])
    with in_language("zh"), pytest.raises(search.ConfigError) as refused:
        search.open_study(other, store)
    assert [i.message for i in refused.value.issues] == [
        "'s' 已存在，但搜索空间不同（head=gap,fc）：请给出那个空间，或换一个研究名称"]


# --- Look inside ------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.usefixtures("no_demo")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_look_inside_page_reads_in_one_language(lang, nin_home, tmp_path):
    from test_page_explore import WIDE, trained

    trained(nin_home, tmp_path, WIDE)
    at = page_in(lang, "pages/explore.py")
    texts = everything_shown(at)
    assert at.toggle and len(at.image) > 5
    assert_in_one_language(texts, lang)
    if lang == "zh":
        assert any(t.label == "全部 48 个通道" for t in at.toggle)
        assert any("全局平均汇聚层" in c.value for c in at.caption)
    else:
        assert any(t.label == "All 48 channels" for t in at.toggle)


# --- the Shapes table's cells -----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_shapes_tables_cells_read_in_one_language(lang, nin_home):
    at = page_in(lang, "pages/shapes.py", preset="seed")
    cells = everything_shown(at)
    assert any("NiN" in c for c in cells)
    assert_in_one_language(cells, lang)
    at.number_input[0].set_value(40).run()  # too small for the seed: the failing layer's row says why
    assert not at.exception, at.exception
    cells = everything_shown(at)
    assert at.error and len(at.dataframe[0].value.columns) == 8  # the problem's column
    assert_in_one_language(cells, lang)


@pytest.mark.parametrize("config", [SEED, CPU, TINY, CPU.with_overrides(head="fc", pointwise_convs=1,
                                                                       final_relu=False, batch_norm=True),
                                    CPU.with_overrides(pointwise_convs=0)])
def test_every_layer_description_in_chinese_and_in_english(config):
    english = [r.description for r in shape_table(config.arch).rows]
    with in_language("zh"):
        chinese = [r.description for r in shape_table(config.arch).rows]
    assert not {d: english_words(d) for d in chinese if english_words(d)}
    assert not [d for d in english if CJK.search(d)]
    assert [r.layer for r in shape_table(config.arch).rows] == [type(m).__name__ for m in _model(config)]


def _model(config):
    from nin_core.network.model import NiN

    with torch.device("meta"):
        return list(NiN(config.arch))


def test_the_seeds_first_block_and_a_size_too_small_in_both_languages():
    assert shape_table(SEED.arch).rows[0].description == (
        "NiN block 1: 11×11 conv, stride 4, pad 0, then two 1×1 convs, 96 ch")
    with in_language("zh"):
        assert shape_table(SEED.arch).rows[0].description == (
            "NiN 块 1：11×11 卷积，步幅 4，填充 0，之后是两个 1×1 卷积，96 通道")
        problem = size_problem(SEED.arch, 40)
    assert problem is not None and problem.startswith("对这个架构来说，缩放尺寸 40 太小：它至少需要 ")
    assert not english_words(problem)
    assert size_problem(SEED.arch, 40).startswith("resize 40 is too small for this architecture: it needs at least ")


def test_the_shape_tables_text_for_the_shell_in_chinese():
    with in_language("zh"):
        text = shape_table(SEED.arch).to_text()
        failing = shape_table(SEED.arch, 40).to_text()
    header = text.splitlines()[1]
    assert header.split() == ["#", "层", "输出形状", "参数", "乘加", "感受野", "说明"]
    assert "总计：1,992,166 个参数" in text and text.endswith("最小的有效输入：67 px")
    assert "在第 5 层失败：第三个最大汇聚层将得到 1×1 的输入，小于它的 3×3 窗口" in failing
    assert "smallest valid input: 67 px" in shape_table(SEED.arch).to_text()
