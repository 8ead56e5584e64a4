"""Units stage: split glacier complexes into glacier units along drainage divides."""

from glacierinv.units.subdivide import divide_lines, subdivide

__all__ = ["divide_lines", "subdivide"]
