"""Analysis results (tidy tables + one figure) and writing them atomically; the shared plot style."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from glacierinv.io.atomic import atomic_path

__all__ = ["PALETTE", "AnalysisResult", "GROUP_COLOURS", "new_figure", "figure_png"]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
GLACIER_COLOUR, DEBRIS_COLOUR = PALETTE[0], PALETTE[1]
GROUP_COLOURS = {"Alpine": PALETTE[0], "Mustagh": PALETTE[2], "Turkestan": PALETTE[1],
                 "surging": PALETTE[3], "all": PALETTE[7]}  # fmt: skip


@dataclass
class AnalysisResult:
    """What one analysis produces: named tidy tables (→ ``<name>[_<table>].csv``) and a figure (→ PNG)."""

    name: str
    tables: dict[str, pd.DataFrame]
    figure: object | None = None  # a matplotlib Figure
    notes: list[str] = field(default_factory=list)

    def paths(self, out_dir: str | Path) -> list[Path]:
        out = Path(out_dir)
        files = [out / self._csv_name(k) for k in self.tables]
        if self.figure is not None:
            files.append(out / f"{self.name}.png")
        return files

    def _csv_name(self, key: str) -> str:
        return f"{self.name}.csv" if key == "" else f"{self.name}_{key}.csv"

    def write(self, out_dir: str | Path, dpi: int = 120) -> list[Path]:
        """Write every table as CSV and the figure as PNG (each atomically); closes the figure."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for key, table in self.tables.items():
            target = out / self._csv_name(key)
            with atomic_path(target) as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")
            written.append(target)
        if self.figure is not None:
            target = out / f"{self.name}.png"
            with atomic_path(target) as tmp:
                tmp.write_bytes(figure_png(self.figure, dpi=dpi))
            written.append(target)
        return written


def new_figure(ncols: int = 1, nrows: int = 1, width_in: float = 5.0, height_in: float = 3.8):
    """A matplotlib figure with readable font sizes, without pyplot: no display and no global backend
    change (``matplotlib.use`` is never called by the library)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10}):
        fig = Figure(figsize=(width_in * ncols, height_in * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def figure_png(fig, dpi: int = 120) -> bytes:
    """PNG bytes of a figure (a pyplot-free :class:`matplotlib.figure.Figure`, freed when unreferenced).

    The figure is laid out once (``tight_layout``) and drawn once: ``tight_layout`` leaves a placeholder
    layout engine on the figure, for which ``savefig`` would first draw the whole figure once more (a
    dry run for layout engines) — a third of the analyse stage's figure time — so it is removed first.
    """
    buf = io.BytesIO()
    fig.tight_layout()
    fig.set_layout_engine(None)  # the layout is fixed now: no dry-run draw in savefig
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
