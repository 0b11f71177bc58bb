"""The most likely classes for an image, as bars (not a page): Predict's and Look inside's."""

from __future__ import annotations

from nin_core.i18n import _


def top_classes(container, top_k: list[tuple[str, float]]) -> None:
    """Each class (its name in the catalog's English) with its probability, the most likely first. Streamlit's own
    bars, not a chart: a chart would load plotly.js (4.7 MB) into the tab for three numbers, a second of a first
    visit on a 2-core machine (docs/benchmarks.md, "Page switches")."""
    for name, p in top_k:
        container.progress(min(max(p, 0.0), 1.0), text=f"{_(name)} · {p:.1%}")
