"""The lab: tools for learning from the network and measuring it. The chapter's exercises (``exercises``), one
image through every layer (``explorer``), a configuration as a standalone script (``export``), a run's time before
it starts (``estimate``), and the benchmarks (``bench``; ``watchbench``, what watching a run costs it).

May import ``nin_core.runs`` and ``nin_core.network``; nothing from the CLI or the pages.
"""
