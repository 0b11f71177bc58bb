"""中文 / English in a real browser: the sidebar's switch on every page, while a run trains; the page changes
language, the configuration and the run stay as they were."""

from __future__ import annotations

import re

import pytest

from nin_core.i18n import LANGUAGES, _, in_language
from nin_core.lab.exercises import EXERCISES

from .conftest import LONG, PAGE_TITLES, assert_no_errors, expect, number_input, screenshot, set_number, wait_idle
from .test_browser import choose_tiny, end_run, start_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CJK = re.compile(r"[\u3400-\u9fff]")


def said_in(lang: str, message: str) -> str:
    with in_language(lang):
        return _(message)


def switch_language(page, lang: str) -> None:
    """Press the sidebar's switch, as a person does, and wait for the page to be drawn again in ``lang``."""
    page.get_by_test_id("stSidebar").get_by_text(LANGUAGES[lang], exact=True).click()
    expect(page).to_have_url(re.compile(rf"[?&]lang={lang}(&|$)"))
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name=re.compile(re.escape(said_in(lang, PAGE_TITLES[0]))))).to_have_count(1)
    wait_idle(page)


PATHS = dict(zip(PAGE_TITLES, ["", "shapes", "predict", "explore", "runs", "exercises", "search"], strict=True))


def go_to(page, lang: str, title: str) -> None:
    """The sidebar's link to a page, in the language it is shown in, and the page drawn."""
    page.get_by_test_id("stSidebarNav").get_by_role(
        "link", name=re.compile(re.escape(said_in(lang, title)))).click()
    expect(page).to_have_url(re.compile(rf"/{PATHS[title]}\?"))
    expect(page.get_by_test_id("stHeading").first).to_be_visible()
    wait_idle(page)


def main_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def test_the_switch_changes_each_pages_language_and_keeps_the_settings_and_the_running_run(own_app):
    page, server = own_app
    # long enough to be still training after the tour (it is stopped at the end)
    choose_tiny(page, server, train_size=50000, test_size=500, epochs=5, batch_size=16)
    set_number(page, "Learning rate", 0.002, "lr")
    watch = start_run(page, server)
    try:
        lang = "en"
        for title in PAGE_TITLES:
            go_to(page, lang, title)
            assert bool(CJK.search(main_text(page))) == (lang == "zh"), (title, lang)
            if title == "Exercises":  # an exercise other than the first is open
                page.get_by_role("tab").nth(2).click()
                # its experiment drawn (the click reruns the page), before the switch is pressed
                expect(page.get_by_text(said_in(lang, EXERCISES[3].question)[:12])).to_be_visible()
                wait_idle(page)
            lang = "zh" if lang == "en" else "en"
            switch_language(page, lang)
            assert_no_errors(page)
            if title == "Exercises":
                expect(page.get_by_role("tab", selected=True)).to_contain_text(
                    "3 · " + said_in(lang, EXERCISES[3].title))
            if title == PAGE_TITLES[0]:  # a choice is shown under its label in the new language, not the old
                device = page.get_by_role("combobox", name=said_in(lang, "Device"), exact=True)
                expect(device).to_have_value(re.compile("个线程"))
            expect(page.get_by_test_id("stHeading").first).to_contain_text(
                re.compile(r"[\u3400-\u9fff]") if lang == "zh" else re.compile(r"^[^\u3400-\u9fff]*$"))
            if lang == "en":  # nothing Chinese left over from the page before the switch
                assert not CJK.search(main_text(page)), (title, main_text(page)[:500])
        if lang == "en":
            switch_language(page, "zh")
        go_to(page, "zh", PAGE_TITLES[0])
        # the fields hold the configuration as it was set, under their Chinese labels
        expect(number_input(page, said_in("zh", "Learning rate"))).to_have_value("0.002")
        expect(number_input(page, said_in("zh", "Training images"))).to_have_value("50000")
        expect(page).to_have_url(re.compile(r"(?=.*[?&]lr=0\.002)(?=.*[?&]preset=tiny)(?=.*[?&]lang=zh)"))
        run = watch.run()
        assert run.active, f"the run ended ({run.status}: {run.message}) while the language was switched"
        assert [r.id for r in watch.store.list_runs()] == [watch.run_id], "switching the language queued a run"
        expect(page.get_by_test_id("live-curves")).to_be_visible(timeout=LONG)  # the same run, followed live
        screenshot(page, "train-zh")
        switch_language(page, "en")  # back, on this page: its choices are shown in English, the device still auto
        expect(page.get_by_role("combobox", name="Device", exact=True)).to_have_value(re.compile(r"threads?\)$"))
        assert "device=" not in page.url, page.url
    finally:
        end_run(server, watch.run_id)
