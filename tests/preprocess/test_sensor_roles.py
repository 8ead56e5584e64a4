"""A sensor in the role of thermal source or gap fill = one module + one registration line (issue 24 item 4).

Two toy sensors, declared as a new sensor module would declare them, are registered by the one line that
adds them to ``SENSORS``; the scene, the channel sources, the feature stack and the per-glacier image source
then use them by the role of their keys, with no other change.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from glacierinv.config import load_config
from glacierinv.io.raster import read_on_grid
from glacierinv.preprocess import sensors
from glacierinv.preprocess.sensors import Key, Sensor, ThermalSource

TOY_THERMAL = Sensor(  # a thermal-only source: a land-surface temperature raster in K
    name="toytherm",
    title="toy thermal sensor",
    keys=(Key("toy_lst", "land-surface temperature GeoTIFF (K)", "thermal"),),
    channels={"lst": 10.9},
    native_res_m={"lst": 100.0},
    thermal=lambda path: ThermalSource(
        lst=lambda grid, window=None: read_on_grid(path, grid, window=window, bands=1, require_overlap=False),
        tir=None,
        sun=None,
        files=(path,),
    ),
)


def _open_fill(path):
    from glacierinv.preprocess.sentinel2 import open_sentinel2

    return open_sentinel2(path)  # any reader returning a FillSource


TOY_FILL = Sensor(  # a gap-filling reflectance product
    name="toyfill",
    title="toy gap-fill sensor",
    keys=(Key("toy_fill", "reflectance GeoTIFF with described bands", "fill"),),
    channels={"blue": 0.49, "green": 0.56, "red": 0.665, "nir": 0.842},
    native_res_m={"blue": 10.0, "green": 10.0, "red": 10.0, "nir": 10.0},
    fill=_open_fill,
)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(sensors, "SENSORS", (*sensors.SENSORS, TOY_THERMAL, TOY_FILL))  # the one line


def _config(scene, **inputs):
    cfg = load_config(scene / "config.toml")
    update = {k: (scene / v if isinstance(v, str) else v) for k, v in inputs.items()}
    return cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update=update)})


def test_a_registered_thermal_sensor_gives_the_lst_channel(tiny_scene, tmp_path, registered):
    from glacierinv.preprocess.stack import build_feature_stack

    lst_path = tiny_scene / "truth" / "surface_temperature_k.tif"
    cfg = _config(tiny_scene, landsat_mtl=None, toy_lst="truth/surface_temperature_k.tif")
    cfg = cfg.model_copy(update={"stack": cfg.stack.model_copy(update={"channels": ["red", "lst"]})})
    scene = sensors.open_scene(cfg)
    assert scene.thermal_from == "toytherm (toy_lst)" and lst_path in scene.files()
    ch = sensors.available_channels(scene)
    assert (
        ch["lst"] == "toytherm (toy_lst)" and "tir" not in ch
    )  # the toy source has no brightness temperature
    result = build_feature_stack(cfg, tmp_path / "stack", block_px=150)
    with rasterio.open(result.stack) as ds:
        lst = ds.read(2)
        expected = read_on_grid(lst_path, sensors.open_scene(cfg).primary.grid, bands=1)
    assert lst.shape == expected.shape
    ok = np.isfinite(lst)
    assert ok.mean() > 0.95
    np.testing.assert_allclose(lst[ok], expected[ok], rtol=0, atol=1e-3)


def test_a_registered_fill_sensor_fills_and_is_named_in_the_outputs(tiny_scene, tmp_path, registered):
    from glacierinv.attributes.sources import fill_sensor_of
    from glacierinv.preprocess.stack import build_feature_stack

    cfg = _config(tiny_scene, s2=None, toy_fill="s2.tif")
    scene = sensors.open_scene(cfg)
    assert scene.fill_from == "toyfill (toy_fill)" and scene.fill_sensor == "toyfill"
    assert scene.fill_cloud is None  # s2_cloud_mask belongs to Sentinel-2, not to this fill sensor
    result = build_feature_stack(cfg, tmp_path / "stack", block_px=150)
    assert result.sensors["fill"]["sensor"] == "toyfill"
    assert fill_sensor_of(result.source) == "toyfill"
    with rasterio.open(result.source) as ds:
        assert (ds.read(1) == 2).any()  # the toy fill product filled gaps


def test_one_fill_product_per_scene(tiny_scene, registered):
    from glacierinv.errors import ConfigError

    with pytest.raises(ConfigError, match="one gap-fill product per scene: s2 or toy_fill"):
        sensors.open_scene(_config(tiny_scene, toy_fill="s2.tif"))


def test_sentinel2_fill_is_named_as_before(tiny_scene, tmp_path):
    """The shipped fill sensor: 'sentinel2' in the stack info and in source.tif, Sentinel-2's cloud mask used."""
    from glacierinv.attributes.sources import fill_sensor_of
    from glacierinv.preprocess.stack import build_feature_stack

    cfg = _config(tiny_scene)
    scene = sensors.open_scene(cfg)
    assert scene.fill_from == "sentinel2 (s2)" and scene.fill_cloud == tiny_scene / "s2_cloud.tif"
    assert scene.thermal_from == "landsat (landsat_mtl)"
    cfg = cfg.model_copy(update={"stack": cfg.stack.model_copy(update={"channels": ["red", "nir"]})})
    result = build_feature_stack(cfg, tmp_path / "stack", block_px=150)
    assert fill_sensor_of(result.source) == "sentinel2"
