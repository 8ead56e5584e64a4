"""Outlines stage: vectorise classes, clean, flag for review, take manual edits back."""

from glacierinv.outlines.vectorize import vectorize_classes, write_outlines

__all__ = ["vectorize_classes", "write_outlines"]
