"""Scripted shapely edits: each edit type, each repair, and carrying edits over to a re-run."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely

from glacierinv.outlines.refine import diff_outlines, merge_with_edits, validate_edits
from tests.outlines._scene import box_px, gdf

A = box_px(0, 0, 100, 100)  # 0.04 km²
B = box_px(0, 100, 100, 200)  # shares A's east edge
C = box_px(200, 0, 260, 60)  # 0.0144 km²
AUTO = gdf(
    [
        {"outline_id": "G1", "geometry": A},
        {"outline_id": "G2", "geometry": B},
        {"outline_id": "G3", "geometry": C},
    ]
)
AUTO_DEBRIS = gdf(
    [
        {"debris_id": "D1", "outline_id": "G1", "geometry": box_px(80, 10, 100, 40)},
        {"debris_id": "D2", "outline_id": "G1", "geometry": box_px(80, 60, 100, 90)},
    ]
)


def _edited(rows, debris=None):
    gl = gdf(rows)
    gl["reason"] = None
    deb = (AUTO_DEBRIS if debris is None else debris).copy()
    return gl, deb


def _run(rows, debris=None):
    gl, deb = _edited(rows, debris)
    gl, deb, rep = validate_edits(gl, deb, min_area_km2=0.005, pixel_m=2.0)
    out, deb, changes = diff_outlines(AUTO, AUTO_DEBRIS, gl, deb, tol_m2=2.0)
    return out, deb, changes, rep


def _actions(out):
    return dict(zip(out["outline_id"], out["action"], strict=True))


def test_unchanged_is_auto():
    out, _, changes, rep = _run(
        [{"outline_id": k, "geometry": g} for k, g in zip("G1 G2 G3".split(), [A, B, C], strict=True)]
    )
    assert set(out["action"]) == {"auto"} and len(rep) == 0
    assert all(c["action"] == "auto" for c in changes)


def test_moved_vertices_is_edited():
    moved = shapely.Polygon(
        [(x + (6 if i == 2 else 0), y) for i, (x, y) in enumerate(A.exterior.coords[:-1])]
    )
    out, _, _, _ = _run([{"outline_id": "G1", "geometry": moved}, {"outline_id": "G2", "geometry": B},
                         {"outline_id": "G3", "geometry": C}])  # fmt: skip
    assert _actions(out) == {"G1": "edited", "G2": "auto", "G3": "auto"}


def test_added_and_deleted():
    new = box_px(300, 300, 360, 360)
    out, _, changes, _ = _run([{"outline_id": "G1", "geometry": A}, {"outline_id": "G2", "geometry": B},
                               {"outline_id": None, "geometry": new}])  # fmt: skip
    assert _actions(out) == {"G1": "auto", "G2": "auto", "A00001": "added"}
    assert [c["outline_id"] for c in changes if c["action"] == "deleted"] == ["G3"]


def test_split_keeps_id_on_larger_part():
    west, east = box_px(0, 0, 100, 70), box_px(0, 70, 100, 100)
    out, _, _, _ = _run([{"outline_id": "G1", "geometry": west}, {"outline_id": "G1", "geometry": east},
                         {"outline_id": "G2", "geometry": B}, {"outline_id": "G3", "geometry": C}])  # fmt: skip
    acts = _actions(out)
    assert acts["G1"] == "split" and acts["G1_2"] == "split"
    assert out.geometry[list(out["outline_id"]).index("G1")].equals(west)


def test_merge_records_absorbed_original():
    out, _, changes, _ = _run(
        [{"outline_id": "G1", "geometry": A.union(B)}, {"outline_id": "G3", "geometry": C}]
    )
    assert _actions(out) == {"G1": "merged", "G3": "auto"}
    absorbed = [c for c in changes if c["outline_id"] == "G2"]
    assert absorbed[0]["action"] == "merged" and absorbed[0]["into"] == "G1"


def test_debris_only_edit_marks_glacier_edited():
    deb = AUTO_DEBRIS.copy()
    deb.loc[0, "geometry"] = box_px(80, 10, 100, 90)  # the two patches joined: one tongue
    deb = deb.iloc[:1]
    out, d, _, _ = _run(
        [{"outline_id": k, "geometry": g} for k, g in zip("G1 G2 G3".split(), [A, B, C], strict=True)], deb
    )
    assert _actions(out)["G1"] == "edited"
    assert len(d) == 1 and d["debris_id"].iloc[0].startswith("DE")


# ---- repairs --------------------------------------------------------------------------------------------
def _repairs(rows, debris=None):
    gl, deb = _edited(rows, debris)
    return validate_edits(gl, deb, min_area_km2=0.005, pixel_m=2.0)


def test_repair_invalid_geometry():
    x0, y0, x1, y1 = A.bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    gl, _, rep = _repairs([{"outline_id": "G1", "geometry": bowtie}])
    assert "made_valid" in set(rep["repair"])
    assert gl.geometry.is_valid.all() and len(gl) == 2  # the two triangles, exploded
    assert "exploded_multipart" in set(rep["repair"])


def test_repair_overlap_goes_to_the_larger():
    grown = box_px(0, 0, 100, 120)  # 20 px into B
    gl, _, rep = _repairs([{"outline_id": "G1", "geometry": grown}, {"outline_id": "G2", "geometry": B}])
    assert list(rep["repair"]) == ["removed_overlap"] and rep["feature"].iloc[0] == "G2"
    assert gl.geometry.area.sum() == pytest.approx(grown.union(B).area)
    assert gl.geometry.iloc[0].intersection(gl.geometry.iloc[1]).area == pytest.approx(0)


def test_repair_min_area_and_non_polygon():
    tiny = box_px(400, 400, 420, 420)  # 0.0016 km²
    line = shapely.LineString([(0, 0), (1, 1)])
    gl, _, rep = _repairs([{"outline_id": "G1", "geometry": A}, {"outline_id": None, "geometry": tiny},
                           {"outline_id": None, "geometry": line}])  # fmt: skip
    assert set(rep["repair"]) == {"dropped_below_min_area", "dropped_non_polygon"}
    assert list(gl["outline_id"]) == ["G1"]


def test_repair_debris_clipped_and_dropped():
    deb = gdf([
        {"debris_id": "D1", "outline_id": "G1", "geometry": box_px(80, 10, 120, 40)},  # half outside G1
        {"debris_id": "D9", "outline_id": "G1", "geometry": box_px(500, 500, 520, 520)},  # on no glacier
    ])  # fmt: skip
    gl, d, rep = _repairs([{"outline_id": "G1", "geometry": A}], deb)
    assert dict(zip(rep["feature"], rep["repair"], strict=True)) == {
        "D1": "clipped_to_glacier",
        "D9": "dropped_debris_outside",
    }
    assert d.geometry.iloc[0].area == pytest.approx(20 * 30 * 4.0)
    assert d["outline_id"].iloc[0] == "G1"


def test_repair_debris_sliver_and_no_glacier_left():
    _, y0, x1, _ = A.bounds  # G1; debris parts on a glacier smaller than one pixel (4 m²) are dropped
    deb = gdf([
        {"debris_id": "D1", "outline_id": "G1", "geometry": box_px(99, 10, 120, 40)},  # 1 px × 30 px kept
        {"debris_id": "D2", "outline_id": "G1", "geometry": box_px(99, 99, 120, 120)},  # exactly 1 px kept
        {"debris_id": "D3", "outline_id": "G1", "geometry": shapely.box(x1 - 1.5, y0 - 10, x1 + 20, y0 + 1)},  # 1.5 m²
    ])  # fmt: skip
    _, d, rep = _repairs([{"outline_id": "G1", "geometry": A}], deb)
    assert dict(zip(rep["feature"], rep["repair"], strict=True)) == {
        "D1": "clipped_to_glacier",
        "D2": "clipped_to_glacier",
        "D3": "dropped_debris_outside",
    }
    assert sorted(d.geometry.area) == [4.0, 30 * 4.0]
    # every glacier below the minimum area: all debris is dropped as having no glacier left
    _, d, rep = _repairs([{"outline_id": "G1", "geometry": box_px(400, 400, 420, 420)}], deb)
    assert d.empty and list(rep["detail"][rep["layer"] == "debris"]) == ["no glacier left"] * 3


def test_repair_clip_to_scene():
    gl, _, rep = _repairs([{"outline_id": "G1", "geometry": A}], None)
    gl2, _, rep2 = validate_edits(gl.assign(reason=None), AUTO_DEBRIS, min_area_km2=0.005, pixel_m=2.0,
                                  extent=box_px(0, 0, 100, 50).bounds)  # fmt: skip
    assert list(rep2["repair"]) == [
        "clipped_to_scene",
        "dropped_debris_outside",
    ]  # D2 lay in the cut-off part
    assert list(rep2["feature"]) == ["G1", "D2"]
    assert gl2.geometry.iloc[0].area == pytest.approx(100 * 50 * 4.0)


def test_geographic_outlines_refused():
    gl, deb = _edited([{"outline_id": "G1", "geometry": A}])
    with pytest.raises(Exception, match="projected"):
        validate_edits(gl.to_crs(4326), deb, min_area_km2=0.005, pixel_m=2.0)


# ---- re-runs --------------------------------------------------------------------------------------------
def _edits_layer(action, outline_id, geom, auto_geom):
    return gdf([{"outline_id": outline_id, "layer": "glaciers", "action": action, "source_ids": outline_id,
                 "auto_wkt": None if auto_geom is None else auto_geom.wkt, "geometry": geom}])  # fmt: skip


def test_merge_with_edits_keeps_edits_without_conflict():
    edited = A.union(box_px(100, 0, 110, 100))
    edits = _edits_layer("edited", "G1", edited, A)
    merged, conflicts = merge_with_edits(AUTO, edits)
    assert len(conflicts) == 0
    row = merged[merged["outline_id"] == "G1"]
    assert len(row) == 1 and row.geometry.iloc[0].equals(edited) and row["provenance"].iloc[0] == "edited"
    assert set(merged["outline_id"]) == {"G1", "G2", "G3"}


def test_merge_with_edits_lists_conflicts():
    new_auto = AUTO.copy()
    new_auto.loc[0, "geometry"] = box_px(0, 0, 100, 80)  # the automated outline under the edit changed
    edits = pd.concat([_edits_layer("edited", "G1", A.buffer(4), A), _edits_layer("deleted", "G3", C, C)])
    merged, conflicts = merge_with_edits(new_auto, edits)
    assert list(conflicts["outline_id"]) == ["G1"]
    assert conflicts["changed_m2"].iloc[0] == pytest.approx(20 * 100 * 4.0)
    assert "G3" not in set(merged["outline_id"])  # deletion kept
    assert merged.geometry[merged["outline_id"] == "G2"].iloc[0].intersection(
        A.buffer(4)
    ).area == pytest.approx(0)


def test_reason_inferred_from_review_flags():
    from glacierinv.outlines.refine import _assign_reasons

    review = gdf([
        {"flag_id": "F00001", "outline_id": "G2", "reason": "cloud_shadow", "priority": 1, "geometry": B},
        {"flag_id": "F00002", "outline_id": "G1", "reason": "boundary_omission", "priority": 2,
         "geometry": box_px(100, 0, 103, 100)},
        {"flag_id": "F00003", "outline_id": "G1", "reason": "low_confidence", "priority": 3, "geometry": box_px(10, 10, 20, 20)},
    ])  # fmt: skip
    grown = A.union(box_px(100, 0, 103, 100))
    out, deb, changes, _ = _run([{"outline_id": "G1", "geometry": grown}, {"outline_id": "G2", "geometry": B},
                                 {"outline_id": "G3", "geometry": C}])  # fmt: skip
    _assign_reasons(changes, AUTO, review, deb)
    assert {c["outline_id"]: c["reason"] for c in changes if c["action"] != "auto"} == {
        "G1": "boundary_omission"
    }
