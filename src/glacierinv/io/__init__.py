"""Raster and vector I/O at the edges: Grid, windows, checked readers, atomic writers, areas."""

from glacierinv.io.atomic import atomic_path
from glacierinv.io.grid import Grid
from glacierinv.io.raster import iter_windows, open_raster, read_raster, read_window, write_raster
from glacierinv.io.vector import read_vector, write_layers

__all__ = [
    "Grid",
    "atomic_path",
    "iter_windows",
    "open_raster",
    "read_raster",
    "read_window",
    "read_vector",
    "write_layers",
    "write_raster",
]
