"""Text that people typed (run and sweep names), put into the Markdown that Streamlit renders (not a page)."""

from __future__ import annotations

import re

# Every piece of Markdown syntax Streamlit reads starts with an ASCII punctuation mark: links and images,
# emphasis, code, HTML and autolinks, tables, math ($), directives and colours (:red[…]), emoji (:smile:), and
# CommonMark lets each one be backslash-escaped to stand for itself.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def as_text(text: str) -> str:
    """``text`` as Markdown that shows it as written, character for character, never as a link, an image or
    formatting."""
    return _PUNCTUATION.sub(r"\\\1", text)


def as_code(text: str) -> str:
    """``text`` as a Markdown code span that holds it as written, whatever backticks or line breaks it has: a
    run of backticks longer than any inside it fences it (backslashes do not escape in code), and the spaces
    inside the fence are dropped when it renders."""
    text = re.sub(r"[\r\n]+", " ", text)  # a line break could start a new block and end the span early
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"
