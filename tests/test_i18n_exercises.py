"""中文 / English on the Exercises page: each question in the book's own words (d2l-zh 7.3, 练习), the plans, sizes,
tables, curves and buttons, and the conclusions computed from the runs, in each language."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_exercises import SEEDS, SMALL, ended_group, ended_run, with_checkpoints
from test_i18n import CJK, english_words, everything_shown, page_in

from nin_core.i18n import _, in_language
from nin_core.lab import exercises as exs

# d2l-zh, chapter_convolutional-modern/nin.md, 练习 (its $1\times 1$ written as the page writes it, 1×1).
BOOK = {1: "调整NiN的超参数，以提高分类准确性。",
        2: "为什么NiN块中有两个1×1卷积层？删除其中一个，然后观察和分析实验现象。",
        3: "计算NiN的资源使用情况。参数的数量是多少？计算量是多少？训练期间需要多少显存？预测期间需要多少显存？",
        4: "一次性直接将384×5×5的表示缩减为10×5×5的表示，会存在哪些问题？"}
# Names kept in Chinese, beside those test_i18n lets pass: Welch's test (the noise's words), the book's editions
# (d2l-zh, d2l-en), its device (cuda:0), a file format (CSV), the test's device (conftest's fake_throughput).
KEPT = {"Welch", "CI", "p", "zh", "en", "cuda", "CSV", "fake"}


def english_left(texts: list[str]) -> dict[str, list[str]]:
    return {t: words for t in texts if (words := [w for w in english_words(t) if w not in KEPT])}


# --- the questions and computed text -----------------------------------------------------------------------

def test_the_questions_are_the_books_own_words(chinese):
    for number, words in BOOK.items():
        assert _(exs.exercise(number).question) == words
    assert all(CJK.search(_(ex.question)) and CJK.search(_(ex.plan)) and CJK.search(_(ex.title))
               for ex in exs.EXERCISES.values())


def test_the_questions_in_english_are_unchanged():
    assert exs.exercise(1).question == "Tune the hyperparameters to improve the classification accuracy."
    assert exs.exercise(2).question.startswith("Why are there two 1×1 convolutional layers per NiN block?")
    assert exs.exercise(2).name == "exercise 2: 1×1 convolutions"  # the stored name stays English


def exercise_2_frame(store):
    ex = exs.exercise(2).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.70, 0.71, 0.69])
    ended_group(store, ex, "no 1×1 conv", [0.80, 0.81, 0.79])
    ended_group(store, ex, "one 1×1 conv", [0.69, 0.72, 0.70])
    ended_group(store, ex, "three 1×1 convs", [0.70, 0.72])  # a seed short
    return ex, exs.result_frame(ex, store)


def test_a_conclusion_in_english_and_in_chinese_from_the_same_runs(store):
    ex, frame = exercise_2_frame(store)
    english = exs.conclusion(ex, frame)
    assert english.startswith("So far (3 of 4 variants): Against two 1×1 convs (the chapter) (test acc 0.700 ± 0.010 "
                              "(3 runs)") and not CJK.search(english)
    with in_language("zh"):
        chinese = exs.conclusion(ex, frame)
        table = exs.display_frame(frame)
    assert chinese.startswith("目前（4 个变体中的 3 个）：与两个 1×1 卷积（本节）（测试准确率 0.700 ± 0.010"), chinese
    assert "无 1×1 卷积：+0.100" in chinese and "：更好；参数 −26 %" in chinese, chinese
    assert "一个 1×1 卷积：+0.003" in chinese and "：在噪声范围内；参数 −13 %" in chinese, chinese
    assert "最好的平均测试准确率，超出其他每个变体的噪声：无 1×1 卷积，0.800 ± 0.010" in chinese, chinese
    assert not english_left([chinese]), english_left([chinese])
    assert exs.conclusion(ex, frame) == english  # the language is the reader's, the frame stays the same
    assert list(table.columns[:3]) == ["变体", "pointwise_convs", "状态"] and "测试准确率" in table.columns
    assert list(table["变体"]) == [
        "无 1×1 卷积", "一个 1×1 卷积", "两个 1×1 卷积（本节）", "三个 1×1 卷积",
        "原书（d2l-zh）：初始配置，224 px，10 个迭代周期，cuda:0", "原书（d2l-en 0.17）：初始配置"]
    assert list(frame["variant"])[:2] == ["no 1×1 conv", "one 1×1 conv"]  # the data (and its CSV) in English


def test_the_grid_the_stalls_and_the_book_in_chinese(store, chinese):
    ex = exs.exercise(1).sized(**SMALL)
    ended_run(store, ex, "lr 1", None, status="stalled", train_loss=2.302585)
    ended_run(store, ex, "lr 0.1", 0.1, train_loss=2.3031)
    ended_run(store, ex, "lr 1 + batch norm", 0.71)
    ended_run(store, ex, "lr 0.1 + batch norm", 0.64)
    frame = exs.result_frame(ex, store)
    said = exs.conclusion(ex, frame)
    assert said.startswith(
        "目前（6 个变体中的 4 个）：不带批量规范化：学习率 0.1 停留在随机水平，损失 2.303；"
        "学习率 1 停滞于损失 2.303，所有类别图均为零。"
        "带批量规范化：学习率 0.1和1 正常训练（平均测试准确率 0.640和0.710）。"), said
    assert "在 1 个学习率上，批量规范化使平均测试准确率平均变化 +0.540" in said, said
    assert "原书中初始配置的运行（224 px，全部 60,000 张图像，10 个迭代周期）达到测试准确率 0.790" in said, said
    assert not english_left([said]), english_left([said])
    statuses = list(exs.display_frame(frame)["状态"])
    assert statuses[:3] == ["未运行", "随机水平（2.303）", "停滞于 2.303"] and statuses[-1] == "参考", statuses


def test_a_mixed_status_and_what_went_wrong_in_each_language(store):
    ex = exs.exercise(5).sized(**SEEDS)
    ended_group(store, ex, ex.reference, [0.30, 0.35])
    ended_run(store, ex, ex.reference, None, status="stalled", train_loss=2.302585, seed=2)
    frame = exs.result_frame(ex, store)
    row = frame.set_index("variant").loc[ex.reference]
    assert row["status"] == "2 finished · 1 stalled at 2.303"
    assert row["went wrong"] == "1 of 3 runs stalled at loss 2.303, every class map zero"
    assert exs.display_frame(frame)["went wrong"].iloc[0] == row["went wrong"]
    with in_language("zh"):
        shown = exs.display_frame(frame)
        assert shown["状态"].iloc[0] == "2 次已完成 · 1 次停滞于 2.303"
        assert shown["出现的问题"].iloc[0] == "3 次运行中有 1 次停滞于损失 2.303，所有类别图均为零"
        assert shown["运行数"].iloc[0] == "3/3"


def test_the_resource_conclusion_in_chinese(chinese):
    measured = {"the seed at 224 px": {"train": 2.0e9, "predict": 0.4e9},
                "the cpu preset at 28 px": {"train": 0.1e9, "predict": 0.03e9}}
    frame = exs.resource_frame(measured=measured)
    said = exs.resource_conclusion(frame)
    assert said.startswith("224 px 的初始配置有 ") and "实测 2,000 MB（比估算" in said, said
    assert "28 px 的 cpu 预设" in said and not english_left([said]), said
    shown = exs.display_frame(frame)
    assert list(shown["配置"]) == ["224 px 的初始配置", "28 px 的 cpu 预设"] and "训练实测（MB）" in shown.columns


def test_sizes_and_errors_in_chinese(chinese):
    assert exs.size_text(SMALL) == "200 张训练图像，100 张测试图像，1 个迭代周期，1 个种子"
    assert exs.size_text({**SMALL, "train_size": None}).startswith("全部 60,000 张训练图像")
    with pytest.raises(ValueError, match="没有练习 7：请选择 1 到 5"):
        exs.exercise(7)


# --- the page ----------------------------------------------------------------------------------------------

@pytest.fixture
def exercise_page(nin_home, monkeypatch, fake_throughput):
    """The Exercises page in a language (no background worker started, a fixed device speed)."""
    import ui.exercise_parts
    from nin_core.runs import jobs

    monkeypatch.setattr(jobs, "ensure_worker", lambda store: None)
    monkeypatch.setattr(ui.exercise_parts, "ensure_worker", lambda store: None)
    monkeypatch.setattr(exs, "measure_memory", lambda config, batch, training: 10**8)

    def page(lang: str) -> AppTest:
        return page_in(lang, "pages/exercises.py")

    return page


def open_tab(at: AppTest, number: int) -> None:
    at.session_state["exercise"] = next(t.label for t in at.tabs if t.label.startswith(f"{number} · "))
    at.run()
    assert not at.exception, at.exception


def with_every_kind_of_result(store) -> None:
    """Runs of each experiment's variants (at its own size), so that every tab has a table, curves and a
    conclusion; exercise 4's with checkpoints, for its class maps."""
    for number in (1, 2, 5):
        ex = exs.exercise(number)
        for i, variant in enumerate(ex.configs()):
            ended_group(store, ex, variant, [0.5 + i / 100, 0.52 + i / 100, 0.51 + i / 100], accs=(0.3,))
    ex = exs.exercise(1)
    ended_group(store, ex, "lr 1", [None, None, None], status="stalled", train_loss=2.302585)
    with_checkpoints(store, exs.exercise(4))


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_exercises_page_reads_in_one_language(exercise_page, store, lang):
    with_every_kind_of_result(store)
    # AppTest calls a selectbox's format_func again in this thread when it runs the page once more: in its language
    with in_language(lang):
        page_in_one_language(exercise_page(lang), lang)


def page_in_one_language(at: AppTest, lang: str) -> None:
    assert len(at.tabs) == 5
    for number in range(1, 6):
        open_tab(at, number)
        if number == 3:
            at.button(key="exercise-measure").click().run()
            assert not at.exception, at.exception
        if number == 2:
            at.selectbox(key="exercise-size-2").set_value(1).run()  # a quick look: nothing run, a button to run
            assert not at.exception, at.exception
            next(b for b in at.button if b.key == "exercise-run-2").click().run()
            assert not at.exception, at.exception
        texts = everything_shown(at)
        assert at.success or at.info, number
        assert bool(at.get("plotly_chart")) == (number in (1, 4, 5)) and bool(at.image) == (number == 4), number
        if lang == "zh":
            left = english_left(texts)
            assert not left, (number, left)
            assert any(BOOK.get(number, "来自后续章节")[:8] in t for t in texts), number
        else:
            assert not [t for t in texts if CJK.search(t)], number
    assert [t.label for t in at.tabs][0] == ("1 · 学习率与批量规范化" if lang == "zh" else
                                            "1 · Learning rate and batch norm")
