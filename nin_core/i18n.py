"""The language a person reads, and the messages in it: gettext catalogs kept with Babel (``make translations``).

English is the source text (its catalog is the identity); ``locale/zh`` holds the Chinese, in d2l-zh's own terms
(``locale/glossary.csv``). The language is a context variable, so each script run of the app (its own thread)
and the command line each read theirs: the app sets it at the start of every run, the CLI from ``--lang`` or
``LANG``. A message is marked ``_()`` where it is shown; one declared at import time (a setting's label) is marked
``N_()`` there and translated with ``_()`` where it is shown. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import cache
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("nin_language", default=DEFAULT)


class CatalogMissing(RuntimeError):
    """A language whose compiled catalog (.mo) is not there: ``make translations`` (or ``make setup``) builds it."""


def set_language(lang: str) -> Token[str]:
    """Make ``lang`` (a key of LANGUAGES) the language of what follows in this context; the token resets it."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    _catalog(lang)  # a missing catalog fails here, where the language is chosen, not at the first message
    return _language.set(lang)


def reset_language(token: Token[str]) -> None:
    _language.reset(token)


def language() -> str:
    return _language.get()


def language_of(tag: str | None) -> str:
    """The language for a locale tag (a browser's ``zh-CN``, a shell's ``zh_CN.UTF-8``): Chinese for any zh,
    English for anything else."""
    return "zh" if tag and tag.replace("-", "_").split("_")[0].lower() == "zh" else DEFAULT


@cache
def _catalog(lang: str) -> NullTranslations:
    """The compiled catalog, read once per language. None is ever left silently English: a missing .mo fails."""
    if lang == DEFAULT:
        return NullTranslations()
    mo = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.is_file():
        raise CatalogMissing(f"the {LANGUAGES[lang]} messages are not compiled ({mo} is missing): "
                             "run `make translations`")
    with mo.open("rb") as f:
        return Translations(f, domain=DOMAIN)


def _(message: str) -> str:
    """``message`` in the current language (gettext's empty message is its catalog's header: left as it is)."""
    return _catalog(language()).gettext(message) if message else message


def N_(message: str) -> str:
    """Marks a message where it is declared (at import time, before any language is chosen); ``_()`` shows it."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog(language()).ngettext(singular, plural, n)


@contextmanager
def in_language(lang: str) -> Iterator[None]:
    """The block in ``lang``; after it, the language there was before."""
    token = set_language(lang)
    try:
        yield
    finally:
        reset_language(token)


def format_in_language(format_func: Callable[[Any], str]) -> Callable[[Any], str]:
    """A widget's ``format_func`` that writes in the current language wherever it is called later: Streamlit's
    AppTest calls it again outside the script run (to find a choice among the labels), where no language is set."""
    lang = language()

    def formatted(value: Any) -> str:
        with in_language(lang):
            return format_func(value)

    return formatted


def format_count(value: int) -> str:
    """A count (parameters, multiply-adds) as the current language writes it, from Babel's CLDR data."""
    return format_decimal(value, locale="zh_Hans_CN" if language() == "zh" else "en_US")
