"""Attributes and units against published RGI values (real OGGM sample data); prints the figures in docs.

Usage: ``.venv/bin/python benchmarks/attributes_validation.py [DATA_DIR] [--sweep]`` (default
/work/shared/data); ``--sweep`` adds the units parameter sweep of docs/units.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.attributes import compute_attributes
from glacierinv.attributes.centerlines import centerline_lengths_m
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
    own = ~rgi.RGIId.str.contains("_d0")  # the two divides of RGI50-11.00719 carry their parent's Lmax
    r = np.abs(out.lmax_m[own] / rgi.Lmax[own] - 1)
    print(f"  lmax of the {own.sum()} glaciers with their own RGI Lmax {100 * np.median(r):.1f} %")


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


def lmax_definitions(data: Path) -> None:
    """Per glacier: our longest line (Kienholz et al. 2014, RGI 7's lmax_m) and our line from the highest
    point (Machguth & Huss 2014's start point, RGI 5/6's Lmax) against RGI 5 and RGI 7."""
    d = data / "oggm-sample"
    dem = d / "test-workflow" / "srtm_oetztal.tif"
    for name, path, idc, refc in (
        ("RGI 5 Ötztal", d / "test-workflow" / "rgi" / "rgi_oetztal.shp", "RGIId", "Lmax"),
        ("RGI 7 HEF complex", d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp", "rgi_id", "lmax_m"),
    ):
        gdf = gpd.read_file(path)
        ref = gdf[refc].to_numpy(float)
        longest, highest = centerline_lengths_m(gdf, dem), centerline_lengths_m(gdf, dem, heads="highest")
        print(
            f"lmax per glacier, {name} (reference {refc}): id, area km², reference, longest, highest (m, %)"
        )
        for gid, a, r, lo, hi in zip(
            gdf[idc], gdf.to_crs(32632).area / 1e6, ref, longest, highest, strict=True
        ):
            print(f"  {gid:26s} {a:6.2f} {r:6.0f} {lo:6.0f} ({100 * (lo / r - 1):+5.1f} %) {hi:6.0f} "
                  f"({100 * (hi / r - 1):+5.1f} %)")  # fmt: skip
        own = ~gdf[idc].astype(str).str.contains("_d0").to_numpy()
        for label, v in (("longest", longest), ("highest", highest)):
            e = v / ref - 1
            print(f"  {label}: median |diff| {100 * np.median(np.abs(e)):.1f} % (signed {100 * np.median(e):+.1f} %)"
                  f"; the {own.sum()} with their own value {100 * np.median(np.abs(e[own])):.1f} %")  # fmt: skip


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


def _best(units, ref) -> np.ndarray:
    return np.array([max(_iou(g, h) for h in units.geometry) for g in ref.geometry])


def units(data: Path, **kw) -> None:
    """Default (``kw`` empty) or one setting: RGI 7 HEF complex, and the independent checks."""
    d = data / "oggm-sample"
    cplx = gpd.read_file(d / "test-files" / "rgi7" / "rgi7c_hef.shp")
    ref = gpd.read_file(d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp").to_crs(32632)
    t = time.perf_counter()
    u, _, div = subdivide(cplx, d / "test-workflow" / "srtm_oetztal.tif", **kw)
    dt = time.perf_counter() - t
    ious = _best(u.to_crs(32632), ref)
    print(
        f"units {kw or 'default'}: RGI7 HEF complex {len(u)} units (RGI 7: 23), matched IoU>=0.5 "
        f"{(ious >= 0.5).mean():.1%} ({(ious >= 0.5).sum()}/23), median IoU {np.median(ious):.2f}, {dt:.1f} s"
    )
    # independent: the 20 RGI5 Ötztal glaciers dissolved into complexes and re-split
    rgi = gpd.read_file(d / "test-workflow" / "rgi" / "rgi_oetztal.shp").to_crs(32632)
    whole = rgi.union_all().buffer(0.01).buffer(-0.01)
    oc = gpd.GeoDataFrame(geometry=list(whole.geoms), crs=32632)
    uo = subdivide(oc, d / "test-workflow" / "srtm_oetztal.tif", **kw)[0].to_crs(32632)
    io = _best(uo, rgi)
    print(
        f"  Ötztal RGI5 dissolved ({len(oc)} complexes): {len(uo)} units (RGI 5: 20), matched "
        f"{(io >= 0.5).sum()}/20, median IoU {np.median(io):.2f}"
    )
    # independent: OGGM's divides of Hintereisferner and Chhota Shigri
    for shp, dem, dv in (
        ("Hintereisferner_RGI5.shp", "hef_srtm.tif", "divides_hef.shp"),
        ("RGI50-14.15990.shp", "dem_chhota_shigri.tif", "divides_RGI50-14.15990.shp"),
    ):
        g = gpd.read_file(d / "test-files" / shp)
        crs = g.estimate_utm_crs()
        ug = subdivide(g, d / "test-files" / dem, **kw)[0].to_crs(crs)
        rv = gpd.read_file(d / "test-files" / dv).to_crs(crs)
        print(
            f"  {dv}: {len(ug)} units vs {len(rv)} (areas {sorted((rv.area / 1e6).round(2))} km²); "
            f"best IoU per divide {np.round(_best(ug, rv), 2).tolist()}"
        )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = Path(args[0]) if args else Path("/work/shared/data")
    oetztal(data)
    rgi7(data)
    hef_hypsometry(data)
    lmax_definitions(data)
    units(data)
    if "--sweep" in sys.argv:
        for kw in ({"smooth_m": 0}, {"smooth_m": 100}, {"smooth_m": 300}, {"reach_m": 0}, {"reach_m": 600},
                   {"min_unit_area_km2": 0.05}, {"min_unit_area_km2": 0.2}):  # fmt: skip
            units(data, **kw)
