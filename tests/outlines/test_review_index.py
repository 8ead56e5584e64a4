"""The glacier index behind the seasonal-snow flag answers as the all-pairs computation it replaced (#25)."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from glacierinv.outlines.review import _flow_targets, _GlacierIndex

boxes = st.lists(
    st.tuples(st.floats(0, 5000), st.floats(0, 5000), st.floats(1, 400), st.floats(1, 400)),
    min_size=1,
    max_size=25,
)


def _index(spec) -> _GlacierIndex:
    geoms = np.array([shapely.box(x, y, x + w, y + h) for x, y, w, h in spec], dtype=object)
    return _GlacierIndex.of(geoms, [w * h / 1e6 for _, _, w, h in spec])


@settings(max_examples=200, deadline=None)
@given(boxes, st.floats(0, 100))
def test_nearest_larger_distance_equals_the_minimum_over_all_larger_glaciers(spec, start_m):
    index = _index(spec)
    for i, geom in enumerate(index.geoms):
        larger = [g for j, g in enumerate(index.geoms) if j != i and index.areas_km2[j] > index.areas_km2[i]]
        want = min((geom.distance(g) for g in larger), default=float("inf"))
        assert index.nearest_larger_m(i, start_m) == want


@settings(max_examples=100, deadline=None)
@given(boxes, st.tuples(st.floats(0, 5000), st.floats(0, 5000), st.floats(1, 2000)))
def test_flow_targets_hold_every_larger_glacier_and_prior_outline_meeting_the_window(spec, window):
    index = _index(spec)
    x, y, side = window
    win = shapely.box(x, y, x + side, y + side)
    prior = np.array([shapely.box(0, 0, 300, 300), shapely.box(4000, 4000, 4100, 4100)], dtype=object)
    for i in range(len(index.geoms)):
        got = _flow_targets(index, i, prior, shapely.STRtree(prior), win)
        larger = [g for j, g in enumerate(index.geoms) if j != i and index.areas_km2[j] > index.areas_km2[i]]
        for g in [*larger, *prior]:
            if g.intersects(win):
                assert any(g is t for t in got)
        assert all(t.envelope.intersects(win) for t in got)
        assert _flow_targets(index, i, prior, None, win) == index.larger_in_box(i, win)
