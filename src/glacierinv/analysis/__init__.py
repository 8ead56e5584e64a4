"""Inventory analyses (seed sections 4 and 5.2): size structure, spatial distribution, hypsometry, slope,
aspect, AAR glacier types, mainline profiles, DEM-resolution effects and freezing-level exposure.

Each analysis returns an :class:`AnalysisResult` (tidy tables + a matplotlib figure);
:func:`run_analyses` runs them on an inventory file and writes one CSV + one PNG each.
"""

from glacierinv.analysis.inventory import Inventory, load_inventory, to_rgi7_columns
from glacierinv.analysis.output import AnalysisResult
from glacierinv.analysis.run import ANALYSES, AnalysisOptions, analyse_run, run_analyses
from glacierinv.analysis.sampling import TerrainHistograms, sample_terrain
from glacierinv.analysis.sizes import SIZE_CLASSES_KM2, size_classes

__all__ = [
    "ANALYSES",
    "SIZE_CLASSES_KM2",
    "AnalysisOptions",
    "AnalysisResult",
    "Inventory",
    "analyse_run",
    "TerrainHistograms",
    "load_inventory",
    "run_analyses",
    "sample_terrain",
    "size_classes",
    "to_rgi7_columns",
]
