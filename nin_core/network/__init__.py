"""The network and its training: everything a single training run needs, and nothing about keeping runs.

Settings and configuration (``settings``, ``config``, ``geometry``), the model and what it costs (``model``,
``shapes``, ``memory``), the data, the learning-rate schedule and the training loop (``data``, ``schedule``,
``train``, ``checkpoint``, ``metrics``), where and how it computes (``devices``, ``threads``, ``distributed``), a
trained model measured and used (``evaluation``, ``predict``), and how these are shown (``charts``, ``durations``).

Imports only the standard library, PyTorch and the plotting libraries: nothing from ``runs``, ``lab``, the CLI or
the pages.
"""
