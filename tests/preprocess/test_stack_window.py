"""The pure per-window core of the feature stack (:func:`stack_window`) on tiny arrays, no files."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.errors import ConfigError
from glacierinv.preprocess.stack import WindowInputs, stack_window

SHAPE = (4, 5)
ICE = (0.50, 0.45, 0.40, 0.28)  # blue, green, red, nir of clean ice: NIR/red ≈ 0.7, not a cloud
CLOUD = (0.80, 0.80, 0.80, 0.80)  # bright and spectrally flat


def _ms(value=ICE) -> np.ndarray:
    return np.stack([np.full(SHAPE, v, "float32") for v in value])


def _inputs(**kw) -> WindowInputs:
    base = {
        "elevation_m": np.full(SHAPE, 4000.0, "float32"),  # flat: hillshade = sin(sun elevation)
        "cast_shadow": np.zeros(SHAPE, bool),
        "ms": _ms(),
    }
    return WindowInputs(**(base | kw))


def test_primary_only_layers_and_source():
    layers, source, cloud, shadow = stack_window(
        _inputs(), ["blue", "green", "red", "nir", "ndwi"], res_m=2.0
    )
    assert (source == 1).all() and (cloud == 0).all() and (shadow == 0).all()
    np.testing.assert_array_equal(layers["red"], np.full(SHAPE, 0.40, "float32"))
    # NDWI = (green − NIR) / (green + NIR), McFeeters (1996)
    np.testing.assert_allclose(layers["ndwi"], (0.45 - 0.28) / (0.45 + 0.28), rtol=1e-6)
    assert layers["elevation"] is layers["dem"]


def test_invalid_pixel_is_blanked_in_every_channel():
    ms = _ms()
    ms[2, 1, 1] = np.nan  # red missing at one pixel
    layers, source, cloud, shadow = stack_window(_inputs(ms=ms), ["blue", "red", "nir"], res_m=2.0)
    assert source[1, 1] == 0 and cloud[1, 1] == 255 and shadow[1, 1] == 255
    assert np.isnan(layers["blue"][1, 1]) and np.isnan(layers["nir"][1, 1])
    assert int((source == 0).sum()) == 1


def test_bright_flat_pixels_are_cloud_and_filled_from_clear_sentinel2():
    ms = _ms()
    ms[:, 0, :2] = np.array(CLOUD, "float32")[:, None]
    s2 = _ms((0.52, 0.47, 0.42, 0.30))
    s2_cloud = np.zeros(SHAPE, bool)
    s2_cloud[0, 1] = True  # Sentinel-2 is cloudy there too: keep the primary pixel
    layers, source, cloud, _ = stack_window(
        _inputs(ms=ms, s2=s2, s2_roles=("blue", "green", "red", "nir"), s2_cloud=s2_cloud),
        ["blue", "green", "red", "nir"],
        res_m=2.0,
    )
    assert cloud[0, 0] == 1 and cloud[0, 1] == 1 and cloud[1, 0] == 0
    assert source[0, 0] == 2 and source[0, 1] == 1 and (source[1:] == 1).all()
    assert layers["red"][0, 0] == pytest.approx(0.42) and layers["red"][0, 1] == pytest.approx(0.80)


def test_sentinel2_alone_gives_optical_and_swir():
    s2 = np.concatenate([_ms(), np.full((1, *SHAPE), 0.05, "float32")])
    layers, source, _, _ = stack_window(
        _inputs(ms=None, s2=s2, s2_roles=("blue", "green", "red", "nir", "swir")),
        ["green", "swir", "ndsi"],
        res_m=2.0,
    )
    assert (source == 1).all()  # the only optical input counts as the primary image
    np.testing.assert_allclose(layers["ndsi"], (0.45 - 0.05) / (0.45 + 0.05), rtol=1e-6)  # Dozier (1989)


def test_dark_pixel_in_cast_shadow_is_shadow():
    ms = _ms()
    ms[:, 2, 3] = 0.05
    cast = np.zeros(SHAPE, bool)
    cast[2, 3] = cast[2, 2] = True  # cast shadow on a bright pixel is not terrain shadow in the image
    _, _, _, shadow = stack_window(_inputs(ms=ms, cast_shadow=cast), ["red"], res_m=2.0)
    assert shadow[2, 3] == 1 and shadow[2, 2] == 0 and int(shadow.sum()) == 1


def test_missing_channel_and_no_optical_are_config_errors():
    with pytest.raises(ConfigError, match="lst"):
        stack_window(_inputs(), ["red", "lst"], res_m=2.0)
    with pytest.raises(ConfigError, match="no optical input"):
        stack_window(_inputs(ms=None), ["red"], res_m=2.0)
    slope = np.full(SHAPE, 12.0, "float32")
    layers, *_ = stack_window(
        _inputs(slope_deg=slope, thermal_k={"lst": np.full(SHAPE, 270.0)}), ["slope", "lst"], res_m=2.0
    )
    assert (layers["slope"] == 12.0).all() and (layers["lst"] == 270.0).all()
