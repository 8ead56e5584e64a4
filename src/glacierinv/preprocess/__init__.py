"""preprocess stage of glacierinv: seed section 3.1 — from raw imagery to the feature stack.

Modules: :mod:`.stack` (``build_feature_stack``), :mod:`.pansharpen` (``PanSharpener``, Wald protocol),
:mod:`.landsat` (``read_mtl``), :mod:`.thermal` (LST), :mod:`.sentinel2` (``open_sentinel2``, cloud masks),
:mod:`.indices` (NDSI/NDWI/NDVI), :mod:`.align` (phase-correlation co-registration). See docs/preprocess.md.
"""
