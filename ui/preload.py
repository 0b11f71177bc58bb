"""What the pages need, loaded once when the server starts (not a page): the modules they import (torch, pandas,
plotly, SciPy: seconds each on a busy 2-core machine), then, in the background, the meta device's first shapes,
Optuna's first storage, the exercises' costs, plotly.js compressed and the data set's images. A person's first
visit to a page then does not wait for them."""

import contextlib
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
from nin_core.lab import exercises, search
from nin_core.network.config import SEED
from nin_core.network.data import DataNotFoundError, load_fashion_mnist
from nin_core.network.shapes import shape_table
from nin_core.runs import live


def _warm() -> None:
    shape_table(SEED.arch)  # the first convolution on the meta device imports torch._dynamo: two seconds
    search.open_storage("sqlite:///:memory:")  # Optuna imports SQLAlchemy's ORM and alembic on its first: one second
    exercises.warm()
    live.plotly_gzip()  # what a new tab's live panel loads: compressed once, now rather than during a first visit
    # Predict's and Look inside's test images: the data set read once (a third of a second), never downloaded; with
    # no usable data set here, the page that needs one says why when asked
    with contextlib.suppress(DataNotFoundError, ValueError, OSError):
        load_fashion_mnist(download=False)


threading.Thread(target=_warm, name="warm-pages", daemon=True).start()
