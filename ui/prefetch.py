"""Streamlit's chart code loaded into a tab while its first page is read (not a page).

Streamlit loads the code of a kind of element the first time a tab shows one: for a plotly chart, a 4.7 MB module
that a 2-core machine's Chromium takes one to two seconds to load and run, paid by the first page with a chart
(Runs, Search, Exercises' figures), page switch included (docs/benchmarks.md, "Page switches"). A component on
every page imports that module once per tab when the browser is idle; the page that needs it later finds it there.
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

_JS = """
export default function ({data}) {
    // once per tab, when the page is idle: the same URL as Streamlit's own import, so the same module
    window.ninPrefetched ??= new Promise(resolve => (window.requestIdleCallback ?? setTimeout)(resolve))
        .then(() => Promise.all(data.paths.map(path => import(new URL(path, window.location.origin).href)
            .catch(() => null))));  // a module that failed here is loaded by Streamlit as it would have been
}
"""
_PREFETCH = st.components.v2.component("nin_prefetch", html="", js=_JS)
MODULES = ("PlotlyChart",)  # Streamlit's element code loaded ahead: the charts on Runs, Search and Exercises


@functools.cache
def module_paths(base_url_path: str) -> tuple[str, ...]:
    """Where Streamlit serves those modules (their names carry a hash of their content): none it does not ship."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    base = base_url_path.strip("/")
    return tuple(f"{'/' + base if base else ''}/static/js/{found.name}"
                 for name in MODULES for found in sorted(folder.glob(f"{name}.*.js"))[:1])


def chart_code() -> None:
    """Loads the modules ahead, drawing nothing (in the sidebar, out of the page's way)."""
    if paths := module_paths(st.get_option("server.baseUrlPath")):
        with st.sidebar:
            _PREFETCH(data={"paths": list(paths)}, key="nin.prefetch")
