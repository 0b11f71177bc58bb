"""Choosing a trained model to look at (not a page): shared by Predict and Look inside."""

from __future__ import annotations

import streamlit as st

from nin_core.i18n import _, format_in_language
from nin_core.network.checkpoint import CheckpointError
from nin_core.network.evaluation import checkpoint_stamp
from nin_core.network.predict import Predictor
from nin_core.runs.models import ModelChoice, best_choice
from ui.state import translated_choice
from ui.text import as_text

_SHOWN = "nin.model"  # (path, choice, picked): the model shown last, and whether the person picked it
_BOX = "nin.model_box"


@st.cache_resource(max_entries=4, show_spinner=False)
def _cached_predictor(path: str, stamp: float) -> Predictor:  # stamp: the file's mtime, so a new file loads afresh
    return Predictor.from_checkpoint(path)


def load_predictor(path: str, stamp: float) -> Predictor:
    """The model of a checkpoint, loaded once (the spinner's words in the reader's language)."""
    with st.spinner(_("Loading the model…")):
        return _cached_predictor(path, stamp)


def pick_model(choices: list[ModelChoice]) -> Predictor:
    """The model chosen in a "Model" box, loaded; a checkpoint that cannot be used stops the page with why.
    The box starts at the model the person picked last, on any page (kept apart from the box, whose state
    Streamlit drops on leaving a page), else at the best one by test accuracy. A model shown before that is gone
    now (its run deleted) is said to be gone, not silently replaced. The box's values are the choices' English
    labels (a language switch keeps the choice); it shows each one's ``shown_label``."""
    labels, paths = [c.label for c in choices], [str(c.path) for c in choices]
    by_label = dict(zip(labels, choices, strict=True))
    shown = st.session_state.get(_SHOWN)
    if shown and shown[0] not in paths:
        st.info(_("**{model}** is no longer there (its run was deleted or its checkpoint removed): showing the best "
                  "model left instead.").format(model=as_text(shown[1].shown_label)), icon=":material/info:")
        shown = None

    def picked() -> None:
        i = labels.index(st.session_state[_BOX])
        st.session_state[_SHOWN] = (paths[i], choices[i], True)

    first = paths.index(shown[0]) if shown and shown[2] else best_choice(choices)
    label = st.selectbox(_("Model"), labels, index=first, key=translated_choice(_BOX), on_change=picked,
                         format_func=format_in_language(lambda label: by_label[label].shown_label),
                         help=_("Finished and stopped runs, newest first, and the demo model; the best by test "
                                "accuracy comes chosen"))
    choice = choices[labels.index(label)]
    st.session_state[_SHOWN] = (str(choice.path), choice, bool(shown and shown[2] and shown[0] == str(choice.path)))
    try:
        return load_predictor(str(choice.path), checkpoint_stamp(choice.path))
    except CheckpointError as e:
        st.error(_("This model cannot be used: {why}").format(why=e))
        st.stop()
