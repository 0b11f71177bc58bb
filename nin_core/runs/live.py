"""A run as its live panel shows it, and the HTTP route that keeps a watching browser up to date.

Watching must cost the run nothing. A Streamlit rerun every poll (the script, the delta, React redrawing the
page) took 0.17 cores per watching tab on a 2-core machine, and each burst stalled both of PyTorch's threads. So
while a run is queued or running, the browser itself asks ``GET /api/runs/{id}/live`` every ``POLL_S`` seconds
and redraws only what changed; Streamlit reruns only when the page must change (the run started, ended, was asked
to stop, moved in the queue). Everything here is plain data, made the same way for the page's first draw and for
every poll.
"""

from __future__ import annotations

import json
from pathlib import Path

from nin_core.network.charts import curves_figure
from nin_core.network.durations import format_duration
from nin_core.runs.store import Run, RunNotFound, RunStore
from nin_core.runs.sweep import queue_position

POLL_S = 2.0  # the curves still move at least this often
API = "/api"


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def signature(run: Run, store: RunStore) -> dict:
    """What the page draws of a run beyond the live panel (its badge, Stop or Cancel, its place in the queue,
    its outcome): when it changes, the browser asks Streamlit to rerun the page."""
    place = queue_position(store.list_runs(), run.id) if run.status == "queued" else None
    return {"status": run.status, "stop_requested": run.stop_requested, "place": place}


def panel_state(run: Run, store: RunStore, drawn: int | None = None) -> dict:
    """The live panel's content: its two progress bars and six figures as text, and the curves as a plotly figure
    (JSON) unless the browser already drew the ``drawn`` points there are."""
    p = run.progress
    state: dict = {"run": run.id, "active": run.active, "signature": signature(run, store),
                   "poll_ms": int(POLL_S * 1000), "url": f"{API}/runs/{run.id}/live", "bars": [], "metrics": []}
    if run.status != "queued" and (run.status == "running" or p):
        epochs, batches = p.get("epochs") or run.config.train.epochs, p.get("batches") or 0
        fraction = min(1.0, p.get("fraction", 0.0))
        state["bars"] = [
            {"value": min(1.0, p.get("batch", 0) / batches) if batches else 0.0,
             "text": f"Epoch {p.get('epoch', 1)}/{epochs} · batch {p.get('batch', 0)}/{batches or '…'} · "
                     f"{p.get('phase', 'starting')}"},
            {"value": fraction, "text": f"Whole run: {fraction:.0%}"}]
        state["metrics"] = [
            ["images/s", _number(p.get("examples_per_sec"), ",.0f")],
            ["ETA", format_duration(p.get("eta_s")) if run.active else "—"],
            ["elapsed", format_duration(p.get("elapsed_s"))],
            ["train loss", _number(p.get("train_loss"), ".3f")],
            ["val acc" if run.config.train.validation_size else "test acc", _number(p.get("test_acc"), ".3f")],
            ["lr", _number(p.get("lr"), ".2g")]]
    points = store.metrics(run.id)
    state["points"] = len(points)
    if (points or run.status == "running") and len(points) != drawn:
        # plotly.js's own defaults instead of a template: a template is most of the JSON of every update
        figure = curves_figure({run.name: points}, run.config.train.epochs)
        figure.update_layout(template=None, xaxis_automargin=True, yaxis_automargin=True)
        state["figure"] = json.loads(figure.to_json())
    return state


# --- the routes, served beside the app by `streamlit run app.py` (see app.py) ------------------------------------

def _live(request):
    from starlette.responses import JSONResponse

    drawn = request.query_params.get("drawn", "")
    store = RunStore()
    try:
        run = store.get_run(request.path_params["run_id"])
    except RunNotFound:
        return JSONResponse({"error": "no such run"}, status_code=404)
    state = panel_state(run, store, int(drawn) if drawn.isdigit() else None)
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


def _plotly(_request):
    """plotly.js from the plotly package, the same version as the figures it draws; kept by the browser."""
    import plotly
    from starlette.responses import FileResponse

    return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                        media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def routes() -> list:
    """Starlette routes for ``st.App``: a run's panel state, and plotly.js for the browser to draw its curves."""
    from starlette.routing import Route

    return [Route(API + "/runs/{run_id:int}/live", _live), Route(API + "/plotly.min.js", _plotly)]
