"""dem stage of glacierinv."""

from glacierinv.lazy import lazy_exports

# Stereo DSM, co-registration and altimetry validation, exported lazily so that importing
# ``glacierinv.dem.terrain`` stays light (terrain attributes live in dem.terrain).
_LAZY = {
    "read_atl06": "altimetry",
    "read_atl06_many": "altimetry",
    "CoregResult": "coreg",
    "coregister_arrays": "coreg",
    "coregister_dem": "coreg",
    "fill_gaps": "gridding",
    "fuse_dsms": "gridding",
    "grid_points_median": "gridding",
    "mosaic_dsms": "gridding",
    "remove_outliers": "gridding",
    "RPCModel": "rpc",
    "read_rpc": "rpc",
    "merge_with_fallback": "sources",
    "dh_summary": "stats",
    "nmad": "stats",
    "StereoParams": "stereo",
    "StereoResult": "stereo",
    "dsm_from_stereo": "stereo",
    "triangulate": "stereo",
    "write_dsm": "stereo",
    "classify_slope": "validate",
    "stats_by_class": "validate",
    "validate_dem": "validate",
}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
