import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from glacierinv.geometry import area_km2


def test_square_same_area_in_utm_and_geographic():
    # 1 km x 1 km square in UTM 43N (Karakoram) → 1.000 km² (UTM scale distortion < 0.1 %)
    sq = gpd.GeoSeries([box(500000, 4000000, 501000, 4001000)], crs=32643)
    a_utm = area_km2(sq)[0]
    a_geo = area_km2(sq.to_crs(4326))[0]
    assert a_utm == pytest.approx(a_geo, rel=1e-6)
    # Central meridian scale factor k0 = 0.9996 → true area = (1/k0)² km²
    assert a_utm == pytest.approx(1 / 0.9996**2, rel=2e-4)


def test_degree_square_area_shrinks_with_latitude():
    eq = gpd.GeoSeries([box(0, 0, 0.01, 0.01), box(0, 60, 0.01, 60.01)], crs=4326)
    a = area_km2(eq)
    # spherical ratio is cos(lat); on WGS84 the meridian radius M grows by (1-e²sin²φ)^-1.5 ≈ 1.0075 and
    # the prime-vertical radius N by (1-e²sin²φ)^-0.5 ≈ 1.0025 at 60°, so the ratio is cos(lat)·1.0100
    ratio = a[1] / a[0]
    assert ratio == pytest.approx(np.cos(np.radians(60.005)) * 1.0101, rel=2e-3)


def test_no_crs_is_an_error():
    with pytest.raises(ValueError):
        area_km2(gpd.GeoSeries([box(0, 0, 1, 1)]))
