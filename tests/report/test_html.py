"""The report: self-contained (no network fetches), numbers recomputed from the inventory."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
from rasterio.crs import CRS
from shapely.geometry import box

from glacierinv.errors import InputError
from glacierinv.io.vector import write_layers
from glacierinv.report import write_report
from glacierinv.report.html import size_class_table


def test_size_classes_shares():
    rows = size_class_table(np.array([0.05, 0.2, 0.3, 7.0, 150.0]))
    by = {r["class_km2"]: r for r in rows}
    assert by["<0.1"]["n"] == 1 and by["0.1-0.5"]["n"] == 2 and by[">100"]["n"] == 1
    assert sum(r["n_pct"] for r in rows) == pytest.approx(100) and sum(
        r["area_pct"] for r in rows
    ) == pytest.approx(100)


def test_report_from_a_minimal_run(tmp_path):
    crs = CRS.from_epsg(32643)
    g = gpd.GeoDataFrame({"glac_id": ["A", "B"], "area_km2": [1.0, 0.25], "debris_km2": [0.1, 0.0]},
                         geometry=[box(0, 0, 1000, 1000), box(2000, 0, 2500, 500)], crs=crs)  # fmt: skip
    d = gpd.GeoDataFrame({"glac_id": ["A"]}, geometry=[box(0, 0, 100, 1000)], crs=crs)
    write_layers(tmp_path / "inventory.gpkg", {"glaciers": g, "debris": d})
    page = write_report(tmp_path).read_text()
    assert "1.2500" in page and "0.1000" in page  # total and debris area
    fetches = re.findall(r'(?:src|href)\s*=\s*"(https?://[^"]+)"', page)
    assert fetches == []  # nothing loaded from the network
    assert "<svg" in page and "no reference labels" in page


def test_report_needs_inventory(tmp_path):
    with pytest.raises(InputError):
        write_report(tmp_path)


def test_report_of_a_pipeline_run(baseline_run):
    page = (baseline_run.run_dir / "report" / "index.html").read_text()
    assert "overall accuracy" in page and "mIoU" in page and "data:image/png;base64," in page
