import numpy as np
import pytest

from glacierinv.dem.altimetry import read_atl06
from glacierinv.errors import InputError

JUNEAU = "icesat2-juneau"
# quality-filtered segment counts (atl06_quality_summary == 0 and finite h_li), counted independently
# with h5py over all six beams of each file
EXPECTED = {
    "ATL06_20181014001049_02350102_001_01.h5": 877,
    "ATL06_20181111224708_06770102_001_01.h5": 370,
    "processed_ATL06_20181214211434_11800102_001_01.h5": 4765,
}


def _independent_count(path):
    import h5py

    n = 0
    with h5py.File(path, "r") as f:
        for beam in ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r"):
            g = f[beam]["land_ice_segments"]
            q = g["atl06_quality_summary"][()]
            h = g["h_li"][()]
            n += int(((q == 0) & (h < 1e30)).sum())
    return n


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reader_counts_and_plausible_heights(shared_data, name):
    path = shared_data / JUNEAU / name
    pts = read_atl06(path)
    assert len(pts) == EXPECTED[name] == _independent_count(path)
    assert set(pts["beam"]) <= {"gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r"}
    assert (pts["quality"] == 0).all()
    # Juneau Icefield and the coast around it: sea level (fjords, ellipsoid ≈ geoid + ~5 m) to its
    # highest peaks (~2.6 km); deep negative values would be unfiltered clouds/fill values
    assert pts["h_li_m"].between(-300, 2700).all()
    assert pts["lat"].between(57.5, 59.6).all() and pts["lon"].between(-134.5, -133.5).all()
    assert len(read_atl06(path, quality_only=False)) > len(pts)


def test_geoid_and_reference_dem_self_check(shared_data):
    pts = read_atl06(shared_data / JUNEAU / "ATL06_20181111224708_06770102_001_01.h5")
    # EGM2008 undulation around Juneau is a few metres above the ellipsoid
    assert pts["geoid_h_m"].between(0, 15).all()
    # DEM-free self-check: ATL06 heights against the reference DEM carried in the file (same ellipsoid):
    # the median difference is a few metres at most (glacier change + DEM error), not a datum jump
    dh = pts["h_li_m"] - pts["dem_h_m"]
    assert abs(np.nanmedian(dh)) < 5.0


def test_reduced_file_has_no_geoid(shared_data):
    pts = read_atl06(shared_data / JUNEAU / "processed_ATL06_20181214211434_11800102_001_01.h5")
    assert pts["geoid_h_m"].isna().all()


def test_non_hdf5_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "track.h5"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="not an HDF5 file"):
        read_atl06(bad)


def test_hdf5_without_land_ice_segments(tmp_path):
    import h5py

    path = tmp_path / "atl03.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("gt1l/heights/h_ph", data=np.zeros(3))
    with pytest.raises(InputError, match="land_ice_segments"):
        read_atl06(path)
