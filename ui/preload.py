"""What the pages need, loaded once when the server starts (not a page): the modules they import (torch, pandas,
plotly, SciPy: seconds each on a busy 2-core machine), then, in the background, the exercises' costs. A person's
first visit to a page then does not wait for them."""

import threading

import pandas.io.formats.style  # noqa: F401 - the runs' and exercises' tables
import plotly.graph_objects  # noqa: F401
import scipy.stats  # noqa: F401 - the differences between groups of seeds
import torch  # noqa: F401

import nin_core.lab.estimate  # noqa: F401
import nin_core.lab.explorer  # noqa: F401
import nin_core.lab.export  # noqa: F401
import nin_core.network.evaluation  # noqa: F401
import nin_core.network.predict  # noqa: F401
import nin_core.runs.charts  # noqa: F401
from nin_core.lab import exercises

threading.Thread(target=exercises.warm, name="warm-exercises", daemon=True).start()
