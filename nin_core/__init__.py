"""Network in Network (d2l chapter 7.3) for the dashboard, in three layers and a command line on top.

- ``nin_core.network``: the network and its training — its settings and configuration, the model, shapes and
  memory, the data, the training loop, checkpoints, evaluation and prediction, devices and threads.
- ``nin_core.runs``: runs kept on disk — the run store, the queue and its background worker, the live route a
  watching browser polls, sweeps, links, and the models a person can pick.
- ``nin_core.lab``: the tools for learning and measuring — the chapter's exercises, Look inside, code export, the
  time estimate and the benchmarks.
- ``nin_core.cli``: ``python -m nin_core``.

Imports run one way only: cli → lab → runs → network (``make lint`` checks it with import-linter), and nothing
here imports Streamlit's pages or ``ui``.
"""

from pathlib import Path

# The repository: where ``python -m nin_core`` finds the package and app.py lies (for processes started here).
ROOT = Path(__file__).resolve().parents[1]
