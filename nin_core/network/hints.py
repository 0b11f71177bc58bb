"""What a run says about how it ended (its ``message`` and ``hint``), stored in English, shown in the reader's language.

The trainer runs in a worker process, whose language is not the reader's, and the run store holds no language:
so the trainer writes its messages and hints in English from the templates below (``TEMPLATE.format(...)``, the
values already formatted), and a page shows a stored text through ``shown_message``, which recognises the
template it was written from and writes the same values into the template's translation. A text that fits none
(a run's own failure, written by another part of the program) is shown as it was stored.

The pages show ``run.message`` and ``run.hint`` (and a progress's device label) with ``shown_message(...)``.
"""

from __future__ import annotations

import re
from functools import cache

from nin_core.i18n import N_, _

# --- how a run ended (its message) ------------------------------------------------------------------------
STOPPED = N_("stopped in epoch {epoch}, batch {batch}")
DIVERGED = N_("the loss became {loss} in epoch {epoch}")
STALLED = N_("stalled at chance in epoch {epoch}: every class map was zero for {batches} batches in a row "
             "(loss {loss}, accuracy {accuracy})")
ENDED_AT_CHANCE = N_("ended at chance level (loss {loss}, train acc {train_acc})")
AT_CHANCE_AFTER_FIRST_EPOCH = N_("at chance level after its first epoch (loss {loss}, train acc {train_acc})")
STOPPED_BEFORE_START = N_("stopped before it started")
STOPPED_WAITING = N_("stopped while waiting for the device")

# --- what to change (its hint) ----------------------------------------------------------------------------
DIVERGED_HINT = N_("The loss became NaN or infinite: the steps are too large. Lower the learning rate (try a tenth "
                   "of it), or use plain SGD without momentum.")
STALLED_HINT = N_("Every class map went to zero: the ReLU after the last NiN block feeds the global pool directly, "
                  "so once all its outputs are zero every logit is zero, the loss is exactly ln {classes} = {loss}, "
                  "accuracy is chance ({accuracy}) and no gradient flows back. It happens when the effective step is "
                  "too large: lower the learning rate, drop the momentum, keep xavier init, or turn on batch norm.")
SGD_SLOW_START_HINT = N_("NiN with plain SGD stays near loss {loss} for its first few hundred steps. Train on more "
                         "images or for more epochs, turn on batch norm, or try AdamW with lr 0.001 to 0.003.")
SLOW_START_HINT = N_("{optimizer} did not get NiN off chance level: try a lower learning rate (a third of {lr}), "
                     "more training images, or batch norm.")

# --- the device a run trains on (its progress's label) ----------------------------------------------------
CPU_THREAD = N_("CPU ({threads} thread)")
CPU_THREADS = N_("CPU ({threads} threads)")

TEMPLATES = (STOPPED, DIVERGED, STALLED, ENDED_AT_CHANCE, AT_CHANCE_AFTER_FIRST_EPOCH, STOPPED_BEFORE_START,
             STOPPED_WAITING, DIVERGED_HINT, STALLED_HINT, SGD_SLOW_START_HINT, SLOW_START_HINT, CPU_THREAD,
             CPU_THREADS)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """The template as a regular expression: its text as it is, each ``{name}`` any non-empty value."""
    parts, seen = re.split(r"\{(\w+)\}", template), set()
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            regex += f"(?P={part})" if part in seen else f"(?P<{part}>.+?)"
            seen.add(part)
    return re.compile(regex, re.DOTALL)


def shown_message(text: str | None) -> str | None:
    """A stored run message, hint or device label in the reader's language: the translation of the template it
    was written from, with its values; a text written from no template (or None) as it is."""
    if not text:
        return text
    for template in TEMPLATES:
        match = _pattern(template).fullmatch(text)
        if match:
            return _(template).format(**match.groupdict())
    return text
