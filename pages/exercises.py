"""Exercises: the chapter's exercises as experiments, run from here (or ``python -m nin_core exercise N``), each
with its table, curves and a conclusion written from the runs' numbers."""

import streamlit as st

from nin_core.i18n import _
from nin_core.lab.exercises import EXERCISES, Experiment
from ui import exercise_parts as parts
from ui.state import inside_app

inside_app()

st.title(_("Exercises"))
st.caption(_("The exercises of d2l 7.3, each an experiment on a configuration that trains in minutes on a CPU. One "
             "button queues its variants; they train in the background, one after another, and what is done is "
             "kept: a second visit trains nothing again. The runs also appear on *Runs*, under their experiment. "
             "From the shell: `python -m nin_core exercise N`."))
labels = {n: f"{n} · {_(ex.title)}" for n, ex in EXERCISES.items()}
OPEN = "exercise.open"  # the open exercise's number: its tab is known by its label, which a language switch changes
if st.session_state.get("exercise") not in labels.values() and st.session_state.get(OPEN) in labels:
    st.session_state["exercise"] = labels[st.session_state[OPEN]]
tabs = st.tabs(list(labels.values()), key="exercise", on_change="rerun")
for tab, (n, ex) in zip(tabs, EXERCISES.items(), strict=True):
    if tab.open:  # only the open tab's experiment is read and drawn
        st.session_state[OPEN] = n
        with tab:
            st.markdown(_("**The book asks:** *{question}*").format(question=_(ex.question)) + "  \n" + _(ex.plan))
            if isinstance(ex, Experiment):  # one that trains
                parts.experiment(ex)
            else:
                parts.resources(ex)
