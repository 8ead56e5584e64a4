"""Attributes and units against published RGI values (real OGGM sample data); prints the figures in docs.

Usage: ``.venv/bin/python benchmarks/attributes_validation.py [DATA_DIR]`` (default /work/shared/data).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.attributes import compute_attributes
from glacierinv.units import subdivide


def _mad(a, b) -> float:
    return float(np.nanmedian(np.abs(np.asarray(a, float) - np.asarray(b, float))))


def _dang(a, b) -> np.ndarray:
    return (np.asarray(a, float) - np.asarray(b, float) + 180) % 360 - 180


def oetztal(data: Path) -> None:
    d = data / "oggm-sample" / "test-workflow"
    rgi = gpd.read_file(d / "rgi" / "rgi_oetztal.shp")
    t = time.perf_counter()
    out = compute_attributes(rgi, d / "srtm_oetztal.tif", id_column="RGIId")[0]
    dt = time.perf_counter() - t
    print(f"Ötztal 20 glaciers (RGI5 vs srtm_oetztal EPSG:4326), {dt:.1f} s; median |diff|:")
    print(f"  area {100 * np.median(np.abs(out.area_km2 / rgi.Area - 1)):.3f} %")
    for ours, theirs in (("zmin_m", "Zmin"), ("zmax_m", "Zmax"), ("zmed_m", "Zmed"), ("slope_deg", "Slope")):
        print(f"  {ours} {_mad(out[ours], rgi[theirs]):.2f}")
    print(f"  aspect_deg {np.median(np.abs(_dang(out.aspect_deg, rgi.Aspect))):.2f}")
    print(
        f"  lmax {100 * np.median(np.abs(out.lmax_m / rgi.Lmax - 1)):.1f} %"
        f" (median signed {100 * np.median(out.lmax_m / rgi.Lmax - 1):+.1f} %)"
    )


def rgi7(data: Path) -> None:
    d = data / "oggm-sample"
    ref = gpd.read_file(d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp")
    out = compute_attributes(ref[["rgi_id", "geometry"]], d / "test-workflow" / "srtm_oetztal.tif",
                             id_column="rgi_id")[0]  # fmt: skip
    big = ref.area_km2 >= 1.0
    print(
        f"RGI7 23 glaciers of the HEF complex (RGI7 uses COPDEM30, we SRTM 90 m); median |diff| all / >=1 km² (n={big.sum()}):"
    )
    print(f"  area {100 * np.median(np.abs(out.area_km2 / ref.area_km2 - 1)):.3f} %")
    for c in ("zmin_m", "zmax_m", "zmed_m", "zmean_m", "slope_deg"):
        print(f"  {c} {_mad(out[c], ref[c]):.2f} / {_mad(out[c][big], ref[c][big]):.2f}")
    da = np.abs(_dang(out.aspect_deg, ref.aspect_deg))
    print(f"  aspect_deg {np.median(da):.2f} / {np.median(da[big]):.2f}")
    print(f"  aspect_sec equal: {(out.aspect_sec == ref.aspect_sec).mean():.2f}")
    r = np.abs(out.lmax_m / ref.lmax_m - 1)
    print(f"  lmax {100 * np.median(r):.1f} % / {100 * np.median(r[big]):.1f} %")


def hef_hypsometry(data: Path) -> None:
    d = data / "oggm-sample" / "test-files"
    hef = gpd.read_file(d / "Hintereisferner_RGI5.shp")
    out, hyps = compute_attributes(hef, d / "hef_srtm.tif")
    ref = pd.read_csv(d / "Hintereisferner_V5_hypso.csv", skipinitialspace=True)
    ref.columns = [c.strip() for c in ref.columns]
    mids = np.array([float(c) for c in ref.columns[3:]])
    theirs = dict(zip(mids - 25, ref.iloc[0, 3:].astype(int), strict=True))
    ours = dict(zip(hyps.band_min_m, hyps.share_permille, strict=True))
    bands = sorted(set(theirs) | set(ours))
    diff = np.array([ours.get(b, 0) - theirs.get(b, 0) for b in bands])
    print(
        f"HEF hypsometry (RGI5 outline, hef_srtm) vs Hintereisferner_V5_hypso.csv: "
        f"sum |diff| {np.abs(diff).sum()} ‰ (max band {np.abs(diff).max()} ‰); "
        f"zmed {out.zmed_m.iloc[0]:.0f}"
    )


def _iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


def units(data: Path, min_km2: float) -> None:
    d = data / "oggm-sample"
    cplx = gpd.read_file(d / "test-files" / "rgi7" / "rgi7c_hef.shp")
    ref = gpd.read_file(d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp").to_crs(32632)
    t = time.perf_counter()
    u, _, div = subdivide(cplx, d / "test-workflow" / "srtm_oetztal.tif", min_unit_area_km2=min_km2)
    dt = time.perf_counter() - t
    u = u.to_crs(32632)
    ious = np.array([max(_iou(g, h) for h in u.geometry) for g in ref.geometry])
    print(
        f"units min_unit_area_km2={min_km2}: {len(u)} units, {len(div)} divides, {dt:.1f} s; RGI7 matched "
        f"IoU>=0.5: {(ious >= 0.5).mean():.1%} ({(ious >= 0.5).sum()}/23), median IoU {np.median(ious):.2f}"
    )
    # OGGM's divides of Hintereisferner (3 flow divides of the RGI5 outline)
    oggm = gpd.read_file(d / "test-files" / "divides_hef.shp").to_crs(32632)
    hef = gpd.read_file(d / "test-files" / "Hintereisferner_RGI5.shp")
    uh = subdivide(hef, d / "test-files" / "hef_srtm.tif", min_unit_area_km2=min_km2)[0].to_crs(32632)
    best = [max(_iou(g, h) for h in uh.geometry) for g in oggm.geometry]
    print(
        f"  HEF RGI5 outline alone on hef_srtm: {len(uh)} units vs OGGM divides_hef 3 "
        f"(areas {sorted((oggm.area / 1e6).round(2))} km²); best IoU per OGGM divide {np.round(best, 2).tolist()}"
    )


if __name__ == "__main__":
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data")
    oetztal(data)
    rgi7(data)
    hef_hypsometry(data)
    for m in (0.1, 0.3, 1.0):
        units(data, m)
