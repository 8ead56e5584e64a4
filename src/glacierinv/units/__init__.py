"""Units stage: split glacier complexes into glacier units along drainage divides."""

from glacierinv.units.subdivide import divide_lines, split_complex, subdivide, subdivide_windows

__all__ = ["divide_lines", "split_complex", "subdivide", "subdivide_windows"]
