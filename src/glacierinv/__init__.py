"""glacierinv: high-resolution glacier inventories from satellite imagery and DEMs.

The stages follow the 2 m Karakoram Glacier Inventory (2mKGI) workflow: preprocess → terrain/DEM →
segment → outlines → units → attributes → assess → analyse → report. See ``docs/`` and DESIGN.md.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
