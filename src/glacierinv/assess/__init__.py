"""assess stage: pixel accuracy (seed Eqs. 4-6), outline uncertainty, inventory comparison.

Modules: :mod:`~glacierinv.assess.metrics` (confusion matrix, OA/F1/IoU/mIoU, windowed raster accuracy
with block-bootstrap CIs), :mod:`~glacierinv.attributes.uncertainty` (buffer method).
"""

from glacierinv.assess.metrics import accuracy_from_rasters, confusion_matrix, scores
from glacierinv.attributes.uncertainty import buffer_uncertainty

__all__ = ["accuracy_from_rasters", "buffer_uncertainty", "confusion_matrix", "scores"]
