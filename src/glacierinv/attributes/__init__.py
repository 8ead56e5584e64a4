"""Attributes stage: RGI 7-style attributes, hypsometry and flowline length per glacier."""

from glacierinv.attributes.compute import ATTRIBUTE_COLUMNS, compute_attributes

__all__ = ["ATTRIBUTE_COLUMNS", "compute_attributes"]
