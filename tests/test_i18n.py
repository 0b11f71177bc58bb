"""中文 / English: every message has its Chinese, in the book's terms; the pages and the CLI follow the language."""

from __future__ import annotations

import csv
import json
import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import APP
from streamlit.testing.v1 import AppTest

from nin_core import ROOT
from nin_core.cli import main
from nin_core.i18n import LOCALE_DIR, _, in_language, language_of
from nin_core.network.config import SETTINGS, RunConfig

PO = LOCALE_DIR / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\([^)]*\))?[sdifr]")
CJK = re.compile(r"[\u3400-\u9fff]")
# What may stay in Latin letters on a Chinese page: names, units, values and code.
NAMES = {"nin", "fashion", "mnist", "sgd", "adamw", "bf16", "float32", "cpu", "gpu", "px", "b", "kb", "mb", "gb", "m",
         "auto", "seed", "tiny", "bn", "k", "d2l", "relu", "conv2d", "maxpool2d", "sequential", "dropout",
         "adaptiveavgpool2d", "flatten", "linear", "docs", "benchmarks", "md", "adam", "material", "gray",
         "violet", "badge", "science", "english", "json", "fake", "optuna", "tpe", "asha", "hyperband",
         "sqlite", "nesterov", "pytorch", "distributeddataparallel", "torchrun", "avx", "amx", "n", "ch6", "py",
         "idx", "csv", "batchnorm2d", "true", "false", "cuda",
         "floatdistribution", "intdistribution", "categoricaldistribution"}  # Optuna's classes, on its hover
# The settings' names and choice values are code a person types (on the command line, in a link or JSON): they stay.
CODE_WORDS = {w.lower() for s in SETTINGS.values() for text in (s.name, *map(str, s.spec.choices))
              for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text)}
# The seed's two closing lines stay exactly as the book prints them, in either language.
CLOSING_LINES = re.compile(r"loss [\d.]+, train acc [\d.]+, test acc [\d.]+|[\d.]+ examples/sec on \S+")


def catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="zh")


def code_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map=[(f"{d}/**.py", "python") for d in ("nin_core", "ui", "pages")] + [("app.py", "python")],
            keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_in_the_code_has_its_chinese():
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog() if m.id}
    missing = sorted(m for m in code_messages() - {""}
                     if m not in translated or not translated[m].string or translated[m].fuzzy)
    assert not missing, "messages without Chinese (run make translations, translate them in the .po):\n" + "\n".join(
        missing)


def test_translations_keep_their_placeholders():
    wrong = []
    for m in catalog():
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        for text in strings:
            if m.id and sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(ids[-1])):
                wrong.append(f"{ids[-1]!r} → {text!r}")
    assert not wrong, "\n".join(wrong)


def test_the_compiled_catalog_is_not_older_than_its_source():
    assert MO.exists() and MO.stat().st_mtime >= PO.stat().st_mtime, "run make translations"


# The book's own sentences, quoted as d2l-zh writes them even where its wording differs from its usual term
# (exercise 1 says 分类准确性, not 准确率).
QUOTED_FROM_THE_BOOK = {"Tune the hyperparameters to improve the classification accuracy."}


def test_the_translations_use_the_glossarys_terms():
    with (LOCALE_DIR / "glossary.csv").open(encoding="utf-8") as f:
        glossary = list(csv.DictReader(f))
    wrong = []
    for m in catalog():
        if not m.id or m.id in QUOTED_FROM_THE_BOOK:
            continue
        english = PLACEHOLDER.sub("", m.id if isinstance(m.id, str) else m.id[0])
        string = m.string if isinstance(m.string, str) else m.string[0]
        wrong += [f"{m.id!r}: {term['chinese']} (for {term['english']}) not in {string!r}" for term in glossary
                  if re.search(rf"(?<![\w-]){re.escape(term['english'])}(?![\w-])", english, re.IGNORECASE)
                  and term["chinese"] not in string]
    assert not wrong, "\n".join(wrong)


def test_language_of_a_locale():
    assert [language_of(t) for t in ("zh-CN", "zh_CN.UTF-8", "zh-Hant-TW", "en-US", "C.UTF-8", "", None)] == [
        "zh", "zh", "zh", "en", "en", "en", "en"]


def test_messages_follow_the_language_and_english_is_the_source():
    with in_language("zh"):
        assert _("Learning rate") == "学习率" and _("") == ""
        issues = RunConfig().with_overrides(lr=-1.0, warmup_epochs=20.0).validate()
        assert [i.field for i in issues] == ["train.lr", "train.warmup_epochs"]
        assert all(CJK.search(i.message) for i in issues), issues
    assert _("Learning rate") == "Learning rate"


# --- the pages -------------------------------------------------------------------------------------------

def shapes_page(lang: str) -> AppTest:
    return page_in(lang, "pages/shapes.py", preset="seed")


def shown_texts(at: AppTest) -> list[str]:
    """What a person reads: labels, help, captions, Markdown, headings, messages, metrics and column names."""
    texts = [w.label for kind in ("number_input", "selectbox", "metric") for w in at.get(kind)]
    texts += [w.help or "" for kind in ("number_input", "selectbox") for w in at.get(kind)]
    texts += [e.value for kind in ("caption", "markdown", "title", "subheader", "header", "info", "warning",
                                   "error") for e in at.get(kind)]
    for frame in at.dataframe:  # a column is shown under its configured label, where it has one
        config = json.loads(frame.proto.columns or "{}")
        texts += [str(config.get(str(c), {}).get("label") or c) for c in frame.value.columns]
        texts += [c.get("help", "") for c in config.values() if isinstance(c, dict)]
    return texts


def english_words(text: str) -> list[str]:
    # Markdown and HTML marks, code, placeholders, the book's editions' names (d2l-zh, d2l-en)
    text = re.sub(r":[a-z-]+\[|:material/\w+:|\*\*|`[^`]*`|\{[^}]*\}|<[^>]*>|\bd2l-(?:zh|en)\b", " ",
                  CLOSING_LINES.sub(" ", text))
    # a Latin letter joined to Chinese is part of a Chinese word (the book's T恤)
    # a letter right after a digit is part of a number or a unit (8.75e-05, 28px)
    return [w for w in re.findall(r"(?<![0-9])[A-Za-z][A-Za-z0-9]*(?![A-Za-z0-9\u3400-\u9fff])", text)
            if w.lower() not in NAMES | CODE_WORDS]


@pytest.mark.slow
def test_the_shapes_page_in_chinese_leaves_no_english(nin_home):
    at = shapes_page("zh")
    left = {t: english_words(t) for t in shown_texts(at) if english_words(t)}
    assert not left, left
    assert "形状" in [t.value for t in at.title]


@pytest.mark.slow
def test_the_shapes_page_in_english_has_no_chinese(nin_home):
    at = shapes_page("en")
    assert not [t for t in shown_texts(at) if CJK.search(t)]
    assert "Shapes" in [t.value for t in at.title]


@pytest.mark.slow
def test_the_link_sets_the_language_and_the_switch_keeps_the_configuration(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "tiny", "lr": "0.01", "lang": "zh"})
    at.run()
    assert not at.exception, at.exception
    assert "学习率" in [n.label for n in at.number_input]
    values = [(n.key, n.value) for n in at.number_input]
    (switch,) = [w for w in at.get("button_group") if w.label == "Language / 语言"]
    switch.set_value("en").run()
    assert not at.exception, at.exception
    assert at.query_params["lang"] == ["en"] or at.query_params["lang"] == "en"
    assert "Learning rate" in [n.label for n in at.number_input]
    assert [(n.key, n.value) for n in at.number_input] == values
    assert at.query_params["lr"] in ("0.01", ["0.01"]) and at.query_params["preset"] in ("tiny", ["tiny"])


@pytest.mark.slow
def test_the_open_exercise_stays_open_in_the_other_language(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "en"
    at.switch_page("pages/exercises.py").run()
    at.session_state["exercise"] = at.tabs[2].label  # exercise 3, as a click on its tab leaves it
    at.run()
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["exercise"] == at.tabs[2].label and CJK.search(at.tabs[2].label)


# --- every page, in each language (one contract over the app's pages) -------------------------------------

PAGES = ["pages/train.py", "pages/shapes.py", "pages/predict.py", "pages/explore.py", "pages/runs.py",
         "pages/exercises.py", "pages/search.py"]


LANGUAGE_SWITCH = "Language / 语言"  # names both languages, on every page


def figure_texts(at: AppTest) -> list[str]:
    """What the plotly figures say in words: titles, axis titles and tick labels, annotations, legend names, colour
    bar titles, hover text and the categories on an axis. Ticks naming a setting by its key (Optuna's parallel
    coordinates) are code, as typed."""
    texts = []
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        layout = figure.get("layout", {})
        texts.append((layout.get("title") or {}).get("text") or "")
        for key, axis in layout.items():
            if re.fullmatch(r"[xy]axis\d*", key):
                texts.append((axis.get("title") or {}).get("text") or "")
                texts += [t for t in axis.get("ticktext") or [] if t not in SETTINGS]
        texts += [a.get("text") or "" for a in layout.get("annotations", [])]
        for trace in figure["data"]:
            hover = trace.get("hovertemplate") or ""  # one for the trace, or one per point
            texts += [trace.get("name") or ""] + [re.sub(r"%\{[^}]*\}", " ", h)
                                                  for h in ([hover] if isinstance(hover, str) else hover)]
            texts.append((((trace.get("marker") or {}).get("colorbar") or {}).get("title") or {}).get("text") or "")
            texts += [v for axis in ("x", "y") if isinstance(trace.get(axis), list) for v in trace[axis]
                      if isinstance(v, str)]
    return texts


def everything_shown(at: AppTest, *, skip_options_of: tuple[str, ...] = ()) -> list[str]:
    """``shown_texts`` and the rest a page can show: buttons, expanders, tabs, choices, alerts, toasts, help,
    image captions, the tables' cells and the figures' words. The options of the choices labelled in
    ``skip_options_of`` are left out (names someone typed: a study's)."""
    texts = shown_texts(at) + [e.value for kind in ("success", "toast", "exception") for e in at.get(kind)]
    texts += [w.label for kind in ("button", "expander", "tab", "radio", "checkbox", "toggle", "text_input",
                                   "slider", "select_slider", "multiselect", "link_button", "download_button")
              for w in at.get(kind)]
    groups = [w for w in at.get("button_group") if w.label != LANGUAGE_SWITCH]
    texts += [w.label for w in groups] + [str(o) for w in groups for o in w.options]
    texts += [w.help or "" for kind in ("text_input", "multiselect", "button", "toggle", "metric")
              for w in at.get(kind)]
    texts += [str(o) for kind in ("radio", "selectbox", "multiselect") for w in at.get(kind)
              if w.label not in skip_options_of for o in w.options]
    texts += [w.placeholder or "" for w in at.get("text_input")]
    texts += [c for image in at.image for c in image.captions]
    texts += [cell for frame in at.dataframe for column in frame.value.columns for cell in frame.value[column]
              if isinstance(cell, str)]
    return [t for t in texts + figure_texts(at) if t]


def page_in(lang: str, page: str | None = None, **params: str) -> AppTest:
    """The app (or one of its pages) opened by a link with ``?lang=`` and ``params``, drawn without an error."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"lang": lang, **params})
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def two_finished_runs(store):
    from test_page_runs import finished_run

    return [finished_run(store, "tiny", acc, checkpoint=True) for acc in (0.7, 0.8)]


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_reads_in_one_language(page, lang, two_finished_runs, fake_throughput):
    texts = everything_shown(page_in(lang, page, preset="tiny"))
    if lang == "zh":
        left = {t: english_words(t) for t in texts if english_words(t)}
        assert not left, left
    else:
        assert not [t for t in texts if CJK.search(t)]


# --- the command line ------------------------------------------------------------------------------------

def cli_help(capsys, monkeypatch, *args: str, **env: str) -> str:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit):
        main([*args, "train", "--help"])
    return capsys.readouterr().out


def test_the_cli_in_chinese_from_lang_or_the_locale(capsys, monkeypatch):
    assert "学习率" in cli_help(capsys, monkeypatch, "--lang", "zh")
    assert "学习率" in cli_help(capsys, monkeypatch, LANG="zh_CN.UTF-8")
    english = cli_help(capsys, monkeypatch, LANG="zh_CN.UTF-8", LC_ALL="C.UTF-8")
    assert "Learning rate" in english and not CJK.search(english)
    assert "Learning rate" in cli_help(capsys, monkeypatch, "--lang", "en", LANG="zh_CN.UTF-8")


@pytest.mark.slow
def test_the_predict_page_in_chinese_names_the_books_classes(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "zh"
    at.switch_page("pages/predict.py").run()  # the demo model is there
    next(b for b in at.button if b.label == "随机抽取测试图像").click().run()
    assert not at.exception, at.exception
    verdicts = [m.value for m in at.markdown if "真实类别" in m.value]
    assert len(verdicts) == 8
    book = ("T恤", "裤子", "套衫", "连衣裙", "外套", "凉鞋", "衬衫", "运动鞋", "包", "短靴")  # d2l-zh's labels
    assert all(re.search(rf"→ \*\*({'|'.join(book)})\*\*.*真实类别：\*\*({'|'.join(book)})\*\*", v) for v in verdicts)
    texts = shown_texts(at) + [b.label for b in at.button]
    left = {t: english_words(t) for t in texts if english_words(t)}
    assert not left, left
