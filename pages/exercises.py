"""Exercises: the chapter's exercises as experiments, run from here (or ``python -m nin_core exercise N``), each
with its table, curves and a conclusion written from the runs' numbers."""

import streamlit as st

from nin_core.lab.exercises import EXERCISES, Experiment
from ui import exercise_parts as parts
from ui.state import inside_app

inside_app()

st.title("Exercises")
st.caption("The exercises of d2l 7.3, each an experiment on a configuration that trains in minutes on a CPU. One "
           "button queues its variants; they train in the background, one after another, and what is done is "
           "kept: a second visit trains nothing again. The runs also appear on *Runs*, under their experiment. "
           "From the shell: `python -m nin_core exercise N`.")
tabs = st.tabs([f"{n} · {ex.title}" for n, ex in EXERCISES.items()], key="exercise", on_change="rerun")
for tab, ex in zip(tabs, EXERCISES.values(), strict=True):
    if tab.open:  # only the open tab's experiment is read and drawn
        with tab:
            st.markdown(f"**The book asks:** *{ex.question}*  \n{ex.plan}")
            if isinstance(ex, Experiment):  # one that trains
                parts.experiment(ex)
            else:
                parts.resources(ex)
