"""The chart code a tab loads ahead (ui/prefetch.py) is the module Streamlit itself imports for a plotly chart: a
Streamlit upgrade that renames or drops it fails here, not silently in a slower first visit."""

from pathlib import Path

import streamlit as st

from ui.prefetch import MODULES, module_paths

STATIC = Path(st.__file__).parent / "static"


def test_each_module_loaded_ahead_is_one_streamlit_serves():
    paths = module_paths("")
    assert [Path(p).name.split(".")[0] for p in paths] == list(MODULES)
    for path in paths:
        assert path.startswith("/static/js/") and (STATIC / path.lstrip("/")).is_file(), path
        # the page's own code names it so: the import is the same module, not a second copy
        assert any(Path(path).name in f.read_text() for f in (STATIC / "static" / "js").glob("index.*.js"))


def test_under_a_base_path_they_are_asked_where_streamlit_serves_them():
    assert module_paths("/nin/") == tuple("/nin" + p for p in module_paths(""))
