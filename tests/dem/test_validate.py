import json
import math

import numpy as np
import pytest
from pyproj import Transformer

from glacierinv.dem.validate import classify_slope, validate_dem
from glacierinv.errors import InputError, NoOverlap

from ._helpers import utm_grid, write_dem

RES = 10.0
SLOPES = (2.0, 10.0, 20.0, 40.0)  # one strip per terrain class
X0, Y0 = 520000.0, 6500000.0  # UTM 8N, near Juneau


def _dem():
    """400 × 400 cells at 10 m: four 100-row strips, each a plane tilted eastwards by SLOPES[i]."""
    n = 400
    xx = np.arange(n) * RES
    z = np.empty((n, n))
    for i, s in enumerate(SLOPES):
        z[i * 100 : (i + 1) * 100] = 1000 + math.tan(math.radians(s)) * xx
    return z, utm_grid(n, RES, X0, Y0 + n * RES, epsg=32608)


def _write_atl06(path, lon, lat, h, quality, geoid=None):
    import h5py

    with h5py.File(path, "w") as f:
        half = len(lon) // 2
        for beam, sl in (("gt1l", slice(0, half)), ("gt2r", slice(half, None))):
            g = f.create_group(f"{beam}/land_ice_segments")
            g["longitude"], g["latitude"] = lon[sl], lat[sl]
            g["h_li"] = h[sl].astype("float32")
            g["h_li_sigma"] = np.full(h[sl].shape, 0.1, "float32")
            g["atl06_quality_summary"] = quality[sl].astype("int8")
            g["delta_time"] = np.arange(h[sl].size, dtype="float64")
            if geoid is not None:
                g["dem/geoid_h"] = geoid[sl].astype("float32")
                g["dem/dem_h"] = h[sl].astype("float32")


def _points(z, grid, rng, per_class=200):
    rows, cols = [], []
    for i in range(4):
        rows.append(rng.uniform(i * 100 + 20, i * 100 + 80, per_class))
        cols.append(rng.uniform(20, 380, per_class))
    r, c = np.concatenate(rows), np.concatenate(cols)
    t = grid.transform
    x, y = t.a * c + t.c, t.e * r + t.f
    true = np.concatenate(
        [1000 + math.tan(math.radians(s)) * (cc - 0.5) * RES for s, cc in zip(SLOPES, cols, strict=True)]
    )
    lon, lat = Transformer.from_crs(32608, 4326, always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat), true


def test_classes_from_slope():
    names = classify_slope(np.array([0.0, 4.9, 5.0, 14.9, 15.0, 29.9, 30.0, 80.0, np.nan]))
    assert list(names) == [
        "flat",
        "flat",
        "hilly",
        "hilly",
        "mountainous",
        "mountainous",
        "alpine",
        "alpine",
        "",
    ]
    with pytest.raises(InputError):
        classify_slope(np.array([1.0]), (15, 5, 30))


def test_validation_recovers_bias_and_noise_per_class(tmp_path):
    rng = np.random.default_rng(4)
    z, grid = _dem()
    dem = write_dem(tmp_path / "dem.tif", z, grid)
    lon, lat, true = _points(z, grid, rng)
    sigma = np.repeat([0.5, 1.0, 2.0, 4.0], 200)  # noisier altimetry on steeper slopes
    h = true - 3.0 + rng.normal(0, 1, true.size) * sigma  # the DEM is 3 m above ATL06
    quality = np.zeros(h.size, int)
    quality[::10] = 1  # flagged segments must be dropped
    h[5] = 3.4028235e38  # fill value
    _write_atl06(tmp_path / "atl06.h5", lon, lat, h, quality)
    table = validate_dem(dem, [tmp_path / "atl06.h5"], tmp_path / "val").set_index("terrain_class")
    n_good = 180
    for name, s in zip(("flat", "hilly", "mountainous", "alpine"), (0.5, 1.0, 2.0, 4.0), strict=True):
        row = table.loc[name]
        assert n_good - 1 <= row["n"] <= n_good
        assert abs(row["median_m"] - 3.0) < 4 * s / math.sqrt(n_good) + 0.05
        assert 0.7 * s < row["nmad_m"] < 1.3 * s
    assert table.loc["all", "n"] == table.loc[["flat", "hilly", "mountainous", "alpine"], "n"].sum()
    out = tmp_path / "val"
    assert {p.name for p in out.iterdir()} == {
        "points.csv",
        "by_class.csv",
        "validation.json",
        "validation.png",
    }
    meta = json.loads((out / "validation.json").read_text())
    assert meta["vertical_datum"].startswith("WGS84 ellipsoid")


def test_orthometric_dem_uses_the_atl06_geoid(tmp_path):
    rng = np.random.default_rng(5)
    z, grid = _dem()
    dem = write_dem(tmp_path / "dem.tif", z - 7.0, grid)  # orthometric: ellipsoid height − N (N = 7 m)
    lon, lat, true = _points(z, grid, rng, per_class=20)
    _write_atl06(tmp_path / "a.h5", lon, lat, true, np.zeros(true.size, int), geoid=np.full(true.size, 7.0))
    table = validate_dem(dem, [tmp_path / "a.h5"], tmp_path / "v", dem_datum="egm2008").set_index(
        "terrain_class"
    )
    assert abs(table.loc["all", "median_m"]) < 0.01
    # without geoid_h in the file and no --geoid raster: a clear error, no output
    _write_atl06(tmp_path / "b.h5", lon, lat, true, np.zeros(true.size, int))
    with pytest.raises(InputError, match="geoid"):
        validate_dem(dem, [tmp_path / "b.h5"], tmp_path / "w", dem_datum="egm2008")
    assert not (tmp_path / "w").exists()


def test_real_track_against_its_reference_dem_heights(shared_data, tmp_path):
    """DEM-free self-check on real data: grid a coarse DEM from the reference heights (dem_h) that ATL06
    carries along the granule, then validate the same granule's h_li on it. Shows that the reader, the
    datum handling and the sampling agree on real coordinates; the figures are not a DEM accuracy."""
    from glacierinv.dem.altimetry import read_atl06

    path = shared_data / "icesat2-juneau" / "ATL06_20181111224708_06770102_001_01.h5"
    pts = read_atl06(path)
    x, y = Transformer.from_crs(4326, 32608, always_xy=True).transform(pts["lon"], pts["lat"])
    # DEM from dem_h on a 200 m grid around the track (nearest segment per cell, then filled along-track)
    from glacierinv.dem.gridding import fill_gaps, grid_points_median
    from glacierinv.io.grid import Grid

    grid = Grid.from_bounds(32608, (x.min() - 2000, y.min() - 2000, x.max() + 2000, y.max() + 2000), 200.0)
    zd = grid_points_median(x, y, pts["dem_h_m"].to_numpy(), grid)
    zd, _ = fill_gaps(zd, 200.0, max_distance_m=1500.0)
    dem = write_dem(tmp_path / "dem.tif", zd, grid)
    table = validate_dem(dem, [path], tmp_path / "val").set_index("terrain_class")
    assert table.loc["all", "n"] > 200
    assert abs(table.loc["all", "median_m"]) < 10.0  # same ellipsoid: no datum jump
    with pytest.raises(NoOverlap):
        far_grid = Grid(grid.crs, grid.transform @ grid.transform.translation(-5000, 0), grid.shape)
        far = write_dem(tmp_path / "far.tif", zd, far_grid)
        validate_dem(far, [path], tmp_path / "val2")
