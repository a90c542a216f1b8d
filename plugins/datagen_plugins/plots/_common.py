"""Shared by the built-in plots: figures without pyplot (no global state, no display: headless)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datagen.plugin import UsageError

COLORS = ("#3b6ea8", "#e07b39", "#5a9e6f", "#b8505a", "#8b6bb1", "#a3844b", "#4aa3a3", "#777777")


def new_figure(width: float = 8.0, height: float = 4.5) -> Any:
    """A matplotlib Figure drawn by the Agg renderer (PNG, SVG, PDF), never a window."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'datagen[metrics]'") from None

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(figure: Any, path: str | Path | None) -> Any:
    """Write the figure when a path is given (PNG unless the suffix says otherwise); return it."""
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target)
    return figure


def written(name: str, figure: Any, out_dir: Path) -> list[Path]:
    """Write a plot plugin's figure as ``out_dir/<name>.png``; the list of files ``render`` returns."""
    path = out_dir / f"{name}.png"
    save(figure, path)
    return [path]


def usable(metrics: Mapping[str, Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """A metric's output, or None when the run did not compute it or skipped it."""
    out = metrics.get(name)
    return out if out and "skipped" not in out else None


def empty(ax: Any, message: str) -> None:
    """A panel that says why it has nothing to show."""
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, color="#666666")
    ax.set_axis_off()


def histogram(ax: Any, summary: Mapping[str, Any], color: str, label: str | None = None) -> bool:
    """Bars of a metric summary's histogram; False when it has none."""
    hist = summary.get("histogram") if isinstance(summary, Mapping) else None
    if not hist or not hist.get("counts"):
        return False
    edges, counts = hist["edges"], hist["counts"]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=color, alpha=0.75, label=label)
    return True
