"""Runs kept on disk: the SQLite run store (``store``), the queue and the background worker that trains them
(``jobs``), the live panel's route (``live``), sweeps (``sweep``), a configuration as a link (``urlconfig``), the
models a person can predict with (``models``), and the runs as tables and figures (``charts``).

May import ``nin_core.network``; nothing from ``lab``, the CLI or the pages.
"""
