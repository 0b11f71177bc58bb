"""What the pages share (none of it is a page): navigation, the run store and THE configuration (``state``), the
settings form (``settings_form``), a run as it stands with its live panel (``live_run``, ``live_panel.js/.css``),
the Model box (``model_picker``), and the larger sections of Look inside and Exercises (``explore_parts``,
``exercise_parts``). Streamlit lives here and in ``pages/``; the computing is in ``nin_core``.
"""
