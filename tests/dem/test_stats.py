import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from glacierinv.dem.stats import dh_summary, nmad


def test_nmad_of_normal_errors_is_their_sigma():
    v = np.random.default_rng(1).normal(0.0, 2.0, 200_000)
    assert abs(nmad(v) - 2.0) < 0.03


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=50), st.floats(-1e3, 1e3))
def test_nmad_is_shift_invariant(values, shift):
    v = np.array(values)
    assert abs(nmad(v + shift) - nmad(v)) < 1e-6 * (1 + np.abs(v).max() + abs(shift))


def test_summary_fields():
    s = dh_summary(np.array([1.0, -1.0, np.nan, 3.0]))
    assert s["n"] == 3 and s["median_m"] == 1.0
    assert abs(s["rmse_m"] - np.sqrt(11 / 3)) < 1e-12
