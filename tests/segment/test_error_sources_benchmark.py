"""benchmarks/segment_error_sources.py charges each error to its true surface type (issue 26)."""

from __future__ import annotations

import numpy as np
import pytest


def test_errors_are_charged_to_their_surface_and_correcting_one_type_moves_it_to_the_diagonal():
    from benchmarks.segment_error_sources import _miou, corrected_miou, error_sources

    truth = np.array([[0, 0, 0, 1], [1, 1, 2, 2], [0, 255, 1, 2]], "uint8")
    pred = np.array([[0, 1, 1, 1], [1, 0, 2, 1], [0, 0, 1, 2]], "uint8")  # 4 errors
    surface = np.array([[0, 8, 8, 1], [1, 2, 3, 3], [0, 0, 1, 3]], "uint8")  # 8 = seasonal snow
    cms = error_sources(pred, truth, surface, 14)
    assert cms["all"].sum() == 11  # the nodata pixel is left out
    assert cms["per_type"][8].tolist() == [[0, 2, 0], [0, 0, 0], [0, 0, 0]]  # snow mapped as ice
    assert cms["per_type"][2].tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]  # missed ice
    assert cms["per_type"].sum(axis=0).tolist() == cms["all"].tolist()
    fixed = corrected_miou(cms["all"], cms["per_type"][8])
    expected = cms["all"] - cms["per_type"][8]
    expected[0, 0] += 2
    assert fixed == pytest.approx(_miou(expected)) and fixed > _miou(cms["all"])
    # correcting every type gives a perfect map
    assert corrected_miou(cms["all"], cms["all"]) == pytest.approx(1.0)
