"""Matplotlib for jobs without a display: one place that picks the Agg backend and one atomic save."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (jobs and tests have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_png: str | Path, dpi: int | None = None) -> None:
    """Write `fig` as PNG atomically (a killed job leaves no half figure) and close it."""
    import matplotlib.pyplot as plt

    from leukoflow.core.io import atomic_path

    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", **({"dpi": dpi} if dpi else {}))
    plt.close(fig)
