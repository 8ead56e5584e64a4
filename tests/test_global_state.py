"""Issue 17.11: no hidden global state. The GDAL block cache set by the caller ([runtime] gdal_cache_mb, the
pipeline's per-stage ``rasterio.Env``) is the one the heavy stages run with; the library never switches the
matplotlib backend; the heap setting of a run is undone when the run ends."""

from __future__ import annotations

import matplotlib
import pytest
import rasterio
from rasterio.env import get_gdal_config


def _spy_open_raster(monkeypatch, module, seen: list):
    real = module.open_raster

    def spy(*args, **kwargs):
        seen.append(get_gdal_config("GDAL_CACHEMAX"))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "open_raster", spy)


def test_caller_gdal_cache_is_kept_in_baseline_and_unet(monkeypatch, tmp_path):
    import glacierinv.segment.baseline as baseline
    import glacierinv.segment.infer as infer
    from tests.segment.conftest import toy_scene, write_stack

    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    seen: list = []
    _spy_open_raster(monkeypatch, baseline, seen)
    _spy_open_raster(monkeypatch, infer, seen)
    with rasterio.Env(GDAL_CACHEMAX=77):
        baseline.classify_stack(stack, tmp_path / "b.tif")
        infer.predict_stack(stack, None, tmp_path / "u.tif", tile_px=64, overlap_px=16)
    assert seen and all(int(v) == 77 for v in seen), seen  # before: 128 inside each function


def test_caller_gdal_cache_is_kept_in_the_stack(monkeypatch, tiny_scene, tmp_path):
    import glacierinv.preprocess.stack as stack
    from glacierinv.config import load_config

    seen: list = []
    monkeypatch.setattr(stack, "_build", lambda *a, **k: seen.append(get_gdal_config("GDAL_CACHEMAX")))
    with rasterio.Env(GDAL_CACHEMAX=77):
        stack.build_feature_stack(load_config(tiny_scene / "config.toml"), tmp_path / "st")
    assert [int(v) for v in seen] == [77]  # before: 256


def test_figures_leave_the_matplotlib_backend_alone(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from glacierinv.analysis.inventory import Inventory
    from glacierinv.analysis.output import figure_png, new_figure
    from glacierinv.analysis.topography import aspect_distribution

    matplotlib.use("svg")
    try:
        fig, axes = new_figure(ncols=2)
        axes[0][0].plot([0, 1], [0, 1])
        assert figure_png(fig).startswith(b"\x89PNG")
        g = gpd.GeoDataFrame({"glac_id": ["a"], "aspect_sec": [1], "area_km2": [1.0]},
                             geometry=[box(0, 0, 1000, 1000)], crs=32643)  # fmt: skip
        assert figure_png(aspect_distribution(Inventory(g, None)).figure).startswith(b"\x89PNG")
        assert matplotlib.get_backend().lower() == "svg"  # before: switched to agg at run time
    finally:
        matplotlib.use("agg")


def test_heap_setting_is_undone(monkeypatch):
    import glacierinv.memory as memory

    calls: list = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(memory, "_libc", lambda: FakeLibc())
    with memory.heap_growth_limited(4 << 20) as ok:
        assert ok and calls == [(-3, 4 << 20)]
    assert calls[-1] == (-3, 128 * 1024)  # glibc's default back
    with memory.heap_growth_limited(0) as ok:
        assert not ok
    assert len(calls) == 2


def test_pipeline_undoes_its_heap_setting(monkeypatch, baseline_run, tiny_scene):
    import glacierinv.memory as memory
    from glacierinv.config import load_config
    from glacierinv.pipeline import run_pipeline

    calls: list = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append(value)
            return 1

        def malloc_trim(self, _):
            return 1

    monkeypatch.setattr(memory, "_libc", lambda: FakeLibc())
    cfg = load_config(tiny_scene / "config.toml")
    cfg = cfg.model_copy(update={
        "segment": cfg.segment.model_copy(update={"method": "baseline"}),
        "runtime": cfg.runtime.model_copy(update={"heap_mmap_threshold_mb": 2.0}),
    })  # fmt: skip
    run_pipeline(cfg, baseline_run.run_dir, stages=("report",))
    assert calls[0] == 2 << 20 and calls[-1] == 128 * 1024


@pytest.mark.parametrize("module", ["glacierinv.analysis.output", "glacierinv.analysis.topography",
                                    "glacierinv.assess.compare", "glacierinv.dem.validate",
                                    "glacierinv.segment.train"])  # fmt: skip
def test_no_backend_switch_in_the_library(module):
    import importlib
    import inspect

    src = inspect.getsource(importlib.import_module(module))
    assert 'matplotlib.use("' not in src and "import matplotlib.pyplot" not in src
