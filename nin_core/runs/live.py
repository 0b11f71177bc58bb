"""A run as its live panel shows it, and the HTTP route that keeps a watching browser up to date.

Watching must cost the run nothing. A Streamlit rerun every poll (the script, the delta, React redrawing the
page) took 0.17 cores per watching tab on a 2-core machine, and each burst stalled both of PyTorch's threads. So
while a run is queued or running, the browser itself asks ``GET /api/runs/{id}/live`` (under the app's base path)
every ``POLL_S`` seconds and redraws only what changed; Streamlit reruns only when the page must change (the run
started, ended, was asked to stop, moved in the queue). Everything here is plain data, made the same way for the
page's first draw and for every poll.

Every word the panel draws (bars, figures' names, the curves' titles, axes and legend, its notes) is made here, in
the language of the page (``lang``, which the browser sends back with each poll): the component's JavaScript shows
what it is given and holds no words of its own.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path

from nin_core.i18n import DEFAULT, LANGUAGES, _, in_language, language
from nin_core.network.charts import curves_figure
from nin_core.network.durations import format_duration
from nin_core.network.status import RunStatus
from nin_core.runs.store import Run, RunNotFound, RunStore
from nin_core.runs.sweep import queue_position

POLL_S = 2.0  # the curves still move at least this often
# The routes' one prefix. st.App mounts added routes at exactly their path, while Streamlit serves its own routes
# and the page under ``server.baseUrlPath``: so the routes and the URLs the browser asks are put under it too.
API = "/api"
LIVE = "/runs/{run_id}/live"  # under API: a run's panel state
PLOTLY = "/plotly.min.js"  # under API


def api_path(path: str, base_url_path: str = "") -> str:
    """Where the app serves ``path`` of its API, under Streamlit's ``server.baseUrlPath`` ("/nin", "nin/" or "")."""
    base = base_url_path.strip("/")
    return (f"/{base}" if base else "") + API + path


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def signature(run: Run, store: RunStore) -> dict:
    """What the page draws of a run beyond the live panel (its badge, Stop or Cancel, its place in the queue,
    its outcome): when it changes, the browser asks Streamlit to rerun the page."""
    place = queue_position(store.list_runs(), run.id) if run.status == RunStatus.QUEUED else None
    return {"status": run.status, "stop_requested": run.stop_requested, "place": place}


def panel_state(run: Run, store: RunStore, drawn: int | None = None, base_url_path: str = "") -> dict:
    """The live panel's content: its two progress bars and six figures as text, and the curves as a plotly figure
    (JSON) unless the browser already drew the ``drawn`` points there are; the URL to ask for it again, and the
    language it is in (asked for again with it). Its words are in the current language."""
    p = run.progress
    state: dict = {"run": run.id, "active": run.active, "signature": signature(run, store),
                   "poll_ms": int(POLL_S * 1000), "url": api_path(LIVE.format(run_id=run.id), base_url_path),
                   "plotly_url": api_path(PLOTLY, base_url_path), "lang": language(),
                   "texts": {"no_plotly": _("The curves could not be drawn: plotly.js did not load."),
                             "lost": _("Lost contact with the app; trying again…")},
                   "bars": [], "metrics": []}
    if run.status != RunStatus.QUEUED and (run.status == RunStatus.RUNNING or p.reported):
        epochs, batches = p.epochs or run.config.train.epochs, p.batches
        fraction = round(p.fraction, 4)  # more digits than a bar can show only lengthen every poll's JSON
        state["bars"] = [
            {"value": round(min(1.0, p.batch / batches), 4) if batches else 0.0,
             "text": _("Epoch {epoch}/{epochs} · batch {batch}/{batches} · {phase}").format(
                 epoch=p.epoch, epochs=epochs, batch=p.batch, batches=batches or "…", phase=p.phase.label)},
            {"value": fraction, "text": _("Whole run: {percent}").format(percent=format(fraction, ".0%"))}]
        state["metrics"] = [
            [_("images/s"), _number(p.examples_per_sec, ",.0f")],
            [_("ETA"), format_duration(p.eta_s) if run.active else "—"],
            [_("elapsed"), format_duration(p.elapsed_s)],
            [_("train loss"), _number(p.train_loss, ".3f")],
            [_("val acc") if run.config.train.validation_size else _("test acc"), _number(p.test_acc, ".3f")],
            [_("lr"), _number(p.lr, ".2g")]]
    points = store.metrics(run.id)
    state["points"] = len(points)
    if (points or run.status == RunStatus.RUNNING) and len(points) != drawn:
        # plotly.js's own defaults instead of a template: a template is most of the JSON of every update
        figure = curves_figure({run.name: points}, run.config.train.epochs)
        figure.update_layout(template=None, xaxis_automargin=True, yaxis_automargin=True)
        state["figure"] = json.loads(figure.to_json())
    return state


# --- the routes, served beside the app by `streamlit run app.py` (see app.py) ------------------------------------

_NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # the browser takes each answer as the type it is sent as
_NOT_KEPT = {"Cache-Control": "no-store", **_NOSNIFF}
_MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id names no run, and would overflow the query


def _count(text: str) -> int | None:
    """``text`` as a run's id or a number of points: ASCII digits within SQLite's integer, else None."""
    return int(text) if re.fullmatch(r"[0-9]{1,19}", text) and int(text) <= _MAX_ID else None


def _live(request, base_url_path: str):
    from starlette.responses import JSONResponse

    run_id, store = _count(request.path_params["run_id"]), RunStore()
    try:
        run = store.get_run(run_id) if run_id is not None else None
    except RunNotFound:
        run = None
    if run is None:
        return JSONResponse({"error": "no such run"}, status_code=404, headers=_NOT_KEPT)
    lang = request.query_params.get("lang", DEFAULT)  # the page's language, which the panel state it drew gave
    with in_language(lang if lang in LANGUAGES else DEFAULT):
        state = panel_state(run, store, _count(request.query_params.get("drawn", "")), base_url_path)
    return JSONResponse(state, headers=_NOT_KEPT)


def _plotly_file() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@functools.cache
def plotly_gzip() -> bytes:
    """plotly.js compressed once. Left to the server's gzip middleware, its 4.6 MB were compressed again for every
    new tab, in the server's event loop: 0.6 s of a core during which no page of any tab moved on."""
    return gzip.compress(_plotly_file().read_bytes(), compresslevel=6, mtime=0)


def _plotly(request):
    """plotly.js from the plotly package, the same version as the figures it draws; kept by the browser."""
    from starlette.responses import FileResponse, Response

    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding", **_NOSNIFF}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(plotly_gzip(), media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(_plotly_file(), media_type="text/javascript", headers=headers)


def routes(base_url_path: str = "") -> list:
    """Starlette routes for ``st.App``, under Streamlit's ``server.baseUrlPath``: a run's panel state, and plotly.js
    for the browser to draw its curves."""
    from starlette.routing import Route

    def live(request):
        return _live(request, base_url_path)

    # Any segment is the route's, validated there: with an int convertor, "abc" or "-1" fell through to the app's
    # page (200, HTML) where the browser expects JSON.
    return [Route(api_path(LIVE, base_url_path), live),
            Route(api_path(PLOTLY, base_url_path), _plotly)]
