"""The report: self-contained (no network fetches), numbers recomputed from the inventory, works when parts
are missing; optional headless-Chromium test when /usr/bin/chromium exists."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from rasterio.crs import CRS
from shapely.geometry import box

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2
from glacierinv.io.vector import write_layers
from glacierinv.report import write_report
from glacierinv.report.html import size_class_table

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


class _Fetches(HTMLParser):
    """Collects every attribute that makes a browser fetch something, and inline scripts."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.script_src: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href", "data", "poster", "srcset"):
            if a.get(key):
                self.urls.append(a[key])
        if tag == "script" and a.get("src"):
            self.script_src.append(a["src"])
        if tag == "link" and a.get("rel") == "stylesheet":
            self.urls.append(a.get("href", ""))
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def handle_endtag(self, tag):
        self._in_style = False


def _network_fetches(page: str) -> list[str]:
    p = _Fetches()
    p.feed(page)
    remote = [u for u in p.urls if re.match(r"\s*(https?:)?//", u)]
    css_urls = [u for s in p.styles for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", s)]
    remote += [u for u in css_urls if not u.startswith("data:") and not u.startswith("#")]
    remote += p.script_src  # every script must be inline
    if "tileLayer(" in page.split("<script>", 1)[-1].split("window.L=t});", 1)[-1]:
        remote.append("tileLayer")  # our own code never adds a tile layer
    return remote


def test_size_classes_shares():
    rows = size_class_table(np.array([0.05, 0.2, 0.3, 7.0, 150.0]))
    by = {r["class_km2"]: r for r in rows}
    assert by["<0.1"]["n"] == 1 and by["0.1-0.5"]["n"] == 2 and by[">100"]["n"] == 1
    assert sum(r["n_pct"] for r in rows) == pytest.approx(100)
    assert sum(r["area_pct"] for r in rows) == pytest.approx(100)


def _minimal_run(tmp_path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    crs = CRS.from_epsg(32643)
    g = gpd.GeoDataFrame({"glac_id": ["A", "B"], "debris_km2": [0.1, 0.0], "aspect_sec": [1, 5]},
                         geometry=[box(0, 0, 1000, 1000), box(2000, 0, 2500, 500)], crs=crs)  # fmt: skip
    g["area_km2"] = area_km2(g)
    d = gpd.GeoDataFrame({"glac_id": ["A"]}, geometry=[box(0, 0, 100, 1000)], crs=crs)
    write_layers(tmp_path / "inventory.gpkg", {"glaciers": g, "debris": d})
    return g, d


def test_report_from_a_minimal_run(tmp_path):
    g, d = _minimal_run(tmp_path)
    page = write_report(tmp_path).read_text()
    total = g["area_km2"].sum()
    assert f"{total:.4f}" in page and f"{g['debris_km2'].sum():.4f}" in page  # total and debris area
    assert f"{100 * 0.1 / total:.2f}" in page  # debris share
    assert _network_fetches(page) == []
    assert "No reference labels" in page and "L.map(" in page
    data = json.loads(
        re.search(r'<script id="map-data" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    feats = data["glaciers"]["features"]
    assert [f["properties"]["glac_id"] for f in feats] == ["A", "B"]
    lon, lat = np.array(feats[0]["geometry"]["coordinates"][0]).T
    assert 70 < lon.min() < 76 and 0 <= lat.min() < 1  # lon/lat, not UTM metres
    assert data["debris"] is not None and data["classes"] is None


def test_the_fetch_check_can_fail():
    bad = '<html><script src="https://unpkg.com/leaflet.js"></script><style>a{background:url(http://x/y.png)}</style>'
    assert len(_network_fetches(bad)) == 3


def test_report_needs_inventory(tmp_path):
    with pytest.raises(InputError):
        write_report(tmp_path)


def test_report_embeds_analysis_figures(tmp_path):
    _minimal_run(tmp_path)
    from glacierinv.analysis import run_analyses

    run_analyses(tmp_path / "inventory.gpkg", tmp_path / "analysis", only=["sizes", "spatial"])
    page = write_report(tmp_path).read_text()
    assert "equal-area grid" in page  # caption of the spatial-distribution figure from analysis/
    assert page.count("data:image/png;base64,") >= 3  # size classes, spatial, aspect


def test_report_of_a_pipeline_run(baseline_run):
    page = (baseline_run.run_dir / "report" / "index.html").read_text()
    assert "overall accuracy" in page and "mIoU" in page and "data:image/png;base64," in page
    assert _network_fetches(page) == []


def _chromium(page: Path, tmp: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[str], list[str]]:
    """Load ``page`` in headless Chromium; return the run, the console messages and the page's own requests.

    Console messages (``console.*`` calls and uncaught exceptions) come from ``--enable-logging``; requests
    from a net-log, keeping those the page made (network isolation key ``file://``) so the browser's own
    background traffic does not count. Name resolution is disabled, so nothing can be fetched anyway.
    """
    netlog = tmp / f"netlog-{len(list(tmp.glob('netlog-*')))}.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=4000",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,2400", "--enable-logging=stderr",
           "--v=0", f"--log-net-log={netlog}", *extra, page.as_uri()]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start_job
        and "file://" in e["params"].get("network_isolation_key", "")
        and not e["params"]["url"].startswith(("file:", "data:", "blob:"))
    ]
    return run, console, requests


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (/usr/bin/chromium) not installed")
def test_chromium_checks_catch_console_errors_and_fetches(tmp_path):
    """The checks below can fail: a page that logs an error and loads a remote image is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("boom")</script><img src="https://example.org/x.png">')
    run, console, requests = _chromium(bad, tmp_path, "--dump-dom")
    assert run.returncode == 0
    assert any("boom" in ln for ln in console)
    assert requests == ["https://example.org/x.png"]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (/usr/bin/chromium) not installed")
def test_report_in_headless_chromium(tmp_path):
    _minimal_run(tmp_path)
    page = write_report(tmp_path)
    shot = tmp_path / "report.png"
    dom, console, requests = _chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console == [], console  # no errors, no warnings, no uncaught exceptions
    assert requests == []  # nothing fetched from the network
    # Leaflet drew one interactive SVG path per glacier and per debris patch
    assert dom.stdout.count("leaflet-interactive") >= 3
    shot_run, console, requests = _chromium(page, tmp_path, f"--screenshot={shot}")
    assert console == [] and requests == []
    assert shot.exists() and shot.stat().st_size > 10_000
    (Path(page).parent / "report.png").write_bytes(shot.read_bytes())  # kept beside the page for a human look


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (/usr/bin/chromium) not installed")
def test_pipeline_report_in_headless_chromium(baseline_run, tmp_path):
    """The report of a whole run (analysis figures, review flags, divides) loads cleanly and maps every glacier."""
    page = baseline_run.run_dir / "report" / "index.html"
    n_glaciers = len(gpd.read_file(baseline_run.run_dir / "inventory.gpkg", layer="glaciers"))
    dom, console, requests = _chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0 and console == [] and requests == [], console
    assert dom.stdout.count("leaflet-interactive") >= n_glaciers


def _no_debris_assessment() -> dict:
    """assessment.json of a clean-ice scene: debris absent from reference and prediction (metrics None)."""
    none_cls = {"precision": None, "recall": None, "f1": None, "iou": None, "n_ref": 0, "n_pred": 0}
    ice = {"precision": 0.95, "recall": 0.9, "f1": 0.92, "iou": 0.86, "n_ref": 900, "n_pred": 850}
    return {
        "accuracy": {"overall": {
            "oa": 0.97, "miou": 0.9,
            "per_class": {"background": ice, "clean_ice": ice, "debris": none_cls},
            "ci": {"oa": [0.95, 0.98], "miou": [0.85, 0.93], "f1_clean_ice": [0.9, 0.94],
                   "iou_clean_ice": [0.8, 0.9], "f1_debris": [None, None], "iou_debris": [None, None]},
        }},
        "uncertainty": {"glacier_unc_km2": 0.01, "glacier_unc_pct": 2.0, "debris_unc_pct": None},
    }  # fmt: skip


def test_report_of_a_scene_without_debris(tmp_path):
    """Issue 17.1: a class absent from truth and prediction is reported as absent, never a crash; no empty
    debris panel, no size-class rows of zeros, human labels in the uncertainty table."""
    crs = CRS.from_epsg(32643)
    g = gpd.GeoDataFrame({"glac_id": ["A"], "debris_km2": [0.0]}, geometry=[box(0, 0, 1000, 1000)], crs=crs)
    g["area_km2"] = area_km2(g)
    empty = gpd.GeoDataFrame({"glac_id": []}, geometry=[], crs=crs)
    write_layers(tmp_path / "inventory.gpkg", {"glaciers": g, "debris": empty})
    (tmp_path / "assessment.json").write_text(json.dumps(_no_debris_assessment()))
    page = write_report(tmp_path).read_text()
    assert "absent from the reference and prediction (n_ref = 0, n_pred = 0)" in page
    assert "No supraglacial debris was mapped (n = 0)" in page
    assert "glacier area uncertainty (%)" in page and "glacier_unc_pct" not in page
    sizes = page.split('id="sizes"', 1)[1].split('id="accuracy"', 1)[0]
    assert "<td>0</td><td>0.000</td>" not in sizes  # no row of zeros
    assert sizes.count("<tr>") == 2  # header + the one 0.5-1 km² class
    from glacierinv.analysis.inventory import Inventory
    from glacierinv.analysis.sizes import size_structure

    res = size_structure(Inventory(g, empty))
    assert len(res.figure.axes) == 1 and "n = 0" in " ".join(res.notes)  # no empty debris axes


def test_report_cli_on_a_run_without_debris(tmp_path):
    from typer.testing import CliRunner

    from glacierinv.cli.main import app

    _minimal_run(tmp_path)
    (tmp_path / "assessment.json").write_text(json.dumps(_no_debris_assessment()))
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "absent from the reference" in (tmp_path / "report" / "index.html").read_text()
