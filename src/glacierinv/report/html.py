"""The run report: one self-contained, offline HTML page (no CDN, no network, nothing beside it).

Sections: summary (number, area ± buffer uncertainty, clean ice, debris and its share, size classes of
glaciers and debris patches), accuracy against reference labels and uncertainty (when assessed), an
interactive map, the analysis figures, the attribute table (click a header to sort) and the stage timings
from ``run.json``. Every part is optional except the inventory: missing files give a short note.

The map is Leaflet 1.9.4 (BSD-2-Clause, vendored in ``report/assets`` and inlined): glaciers, debris,
divides and review flags as GeoJSON in lon/lat (simplified to about 1/3000 of the map extent), clickable
for their attributes, on a plain background; the classification (``classes.tif``) is an optional image
overlay warped to Web Mercator (≤ 1200 px, nearest neighbour). No tile server is used.

Figures are embedded PNGs: the inventory-only ones (size classes, aspect) are drawn here, and every PNG in
the run's ``analysis/`` folder (written by ``glacierinv analyse``) is embedded with a caption.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import mapping

from glacierinv.analysis.output import DEBRIS_COLOUR, GLACIER_COLOUR, PALETTE, figure_png
from glacierinv.analysis.sizes import SIZE_CLASSES_KM2, size_classes
from glacierinv.errors import InputError
from glacierinv.io.atomic import atomic_path
from glacierinv.io.vector import list_layers, read_vector
from glacierinv.pipeline.runfolder import MANIFEST, RunFolder
from glacierinv.report.overlay import classes_overlay
from glacierinv.taskmap import map_batched

__all__ = ["FIGURE_CAPTIONS", "SIZE_CLASSES_KM2", "size_class_table", "write_report"]

log = logging.getLogger(__name__)

#: Captions of the analysis figures (by PNG name) in the order they are shown.
FIGURE_CAPTIONS = {
    "size_classes": "Size structure: number and area share per size class of glaciers and debris patches "
    "(seed Figs. 8b, 9b).",
    "spatial_distribution": "Spatial distribution of glacier and debris-patch number (colour) and area "
    "(circle size) on an equal-area grid (seed Figs. 8a, 9a).",
    "hypsometry": "Elevation distribution of glacier and supraglacial debris area (seed Fig. 10a).",
    "slope": "Slope distribution of glacier and debris area (seed Fig. 10b).",
    "aspect": "Glacier number and area by aspect sector (seed Fig. 10c).",
    "glacier_types": "AAR glacier types: elevation-area, slope-area and slope-area fraction per type "
    "(seed Fig. 12a-c).",
    "profiles": "Normalised mainline profiles per type: elevation, slope, area concentration "
    "(median and inter-quartile range; seed Fig. 12d-f).",
    "dem_resolution": "DEM-resolution effects: fine − coarse DEM differences per type, means with 95 % "
    "bootstrap confidence intervals (seed Fig. 14a-d).",
    "freezing_level": "Glacier and debris area below elevation thresholds and below a freezing level "
    "raised by warming (seed Fig. 14e-f).",
}

_TABLE_COLUMNS = ("glac_id", "area_km2", "area_unc_km2", "debris_km2", "debris_frac", "zmin_m", "zmed_m",
                  "zmax_m", "zmean_m", "slope_deg", "aspect_deg", "aspect_sec", "lmax_m", "glac_type", "aar",
                  "surge_type", "img_source", "dem_source", "provenance")  # fmt: skip
_POPUP_COLUMNS = ("glac_id", "area_km2", "area_unc_km2", "debris_km2", "debris_frac", "zmin_m", "zmed_m",
                  "zmax_m", "slope_deg", "aspect_deg", "lmax_m", "glac_type", "img_source", "dem_source",
                  "provenance")  # fmt: skip


def size_class_table(area_km2: np.ndarray) -> list[dict]:
    """Number and area share per size class (seed Fig. 8 classes) as a list of rows (see ``size_classes``)."""
    t = size_classes(np.asarray(area_km2, dtype="float64"))
    return t[["class_km2", "n", "n_pct", "area_km2", "area_pct"]].to_dict("records")


# ------------------------------------------------------------------------------------------ html helpers
def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(rows: list[dict], digits: int = 3, sortable: bool = False, cls: str = "") -> str:
    if not rows:
        return "<p class='note'>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c), digits)}</td>" for c in cols) + "</tr>" for r in rows
    )
    attrs = " class='sortable'" if sortable else (f" class='{cls}'" if cls else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _asset(name: str) -> bytes:
    return resources.files("glacierinv.report").joinpath("assets", name).read_bytes()


def _leaflet() -> tuple[str, str]:
    """Leaflet's JS and CSS, the CSS image references rewritten to data URIs."""
    css = _asset("leaflet.css").decode("utf-8")
    for img in ("layers-2x.png", "layers.png"):
        uri = "data:image/png;base64," + base64.b64encode(_asset(f"leaflet-{img}")).decode()
        css = css.replace(f"url(images/{img})", f"url({uri})")
    css = css.replace("url(images/marker-icon.png)", "none")  # no markers are used
    return _asset("leaflet.js").decode("utf-8"), css


# ------------------------------------------------------------------------------------------ map data
def _props(row: pd.Series, cols) -> dict:
    out = {}
    for c in cols:
        if c in row.index:
            s = _fmt(row[c], 3)
            if s != "":
                out[c] = s
    return out


def _geojson(gdf: gpd.GeoDataFrame | None, cols, tol_m: float) -> dict | None:
    """The features of ``gdf`` as GeoJSON in lon/lat, simplified by ``tol_m`` metres in the frame's local
    metric CRS; the geometries are converted as tasks over batches of features (:mod:`glacierinv.taskmap`:
    per geometry, so the same for any batching), the properties here."""
    if gdf is None or len(gdf) == 0:
        return None
    import shapely

    from glacierinv.geometry import local_metric_crs

    geoms = list(gdf.geometry.values)
    weights = [float(n) for n in shapely.get_num_coordinates(np.asarray(geoms, dtype=object))]
    work = partial(_lonlat_geometries, gdf.crs, local_metric_crs(gdf), tol_m)
    lonlat = map_batched(work, geoms, weights, name="report_geojson")
    feats = [{"type": "Feature", "properties": _props(row, cols), "geometry": g}
             for (_, row), g in zip(gdf.iterrows(), lonlat, strict=True) if g is not None]  # fmt: skip
    return {"type": "FeatureCollection", "features": feats}


def _lonlat_geometries(crs, metric_crs, tol_m: float, geoms: list) -> list[dict | None]:
    """A task of :func:`_geojson`: each geometry (in ``crs``) in ``metric_crs``, simplified by ``tol_m``
    (topology preserving), in lon/lat as a rounded GeoJSON mapping; None for a missing or empty one."""
    metric = gpd.GeoSeries(geoms, crs=crs)
    metric = metric if metric.crs == metric_crs else metric.to_crs(metric_crs)
    simple = metric.simplify(tol_m, preserve_topology=True) if tol_m > 0 else metric
    lonlat = gpd.GeoSeries(simple, crs=metric_crs).to_crs(4326)
    # shapely's GeoJSON mapping (what GeoSeries.to_json writes, without a GeoDataFrame per feature)
    return [None if g is None or g.is_empty else _round(mapping(g)) for g in lonlat]


def _round(g: dict) -> dict:
    """A GeoJSON geometry mapping with its coordinates as lists of [lon, lat] rounded to 1e-6 degrees."""

    def r(c):
        return [round(c[0], 6), round(c[1], 6)] if isinstance(c[0], (int, float)) else [r(x) for x in c]

    g = dict(g)
    if "coordinates" in g:
        g["coordinates"] = r(g["coordinates"])
    elif "geometries" in g:
        g["geometries"] = [_round(dict(x)) for x in g["geometries"]]
    return g


def _map_data(run: Path, glaciers, debris, divides, review, block_px: int = 1024) -> dict:
    from glacierinv.geometry import to_metric

    left, bottom, right, top = to_metric(glaciers).total_bounds if len(glaciers) else (0, 0, 0, 0)
    tol = max(right - left, top - bottom) / 3000.0
    review_cols = [c for c in (review.columns if review is not None else []) if c != "geometry"][:8]
    data = {
        "glaciers": _geojson(glaciers, _POPUP_COLUMNS, tol),
        "debris": _geojson(debris, ("glac_id",), tol),
        "divides": _geojson(divides, (), tol),
        "review": _geojson(review, review_cols, tol),
        "classes": classes_overlay(run / RunFolder.CLASSES, block_px=block_px)
        if (run / RunFolder.CLASSES).exists()
        else None,
        "canvas": len(glaciers) > 2000,
        "colours": {
            "glacier": GLACIER_COLOUR,
            "debris": DEBRIS_COLOUR,
            "divide": PALETTE[7],
            "review": PALETTE[3],
        },
    }
    return data


# ------------------------------------------------------------------------------------------ sections
def _summary(glaciers, debris, unc: dict) -> str:
    area = float(glaciers["area_km2"].sum()) if len(glaciers) else 0.0
    if "debris_km2" in glaciers:
        deb = float(glaciers["debris_km2"].fillna(0).sum())
    elif debris is not None and len(debris):
        from glacierinv.geometry import area_km2

        deb = float(area_km2(debris).sum())
    else:
        deb = float("nan")
    a_unc = unc.get("glacier_unc_km2")
    if a_unc is None and "area_unc_km2" in glaciers:
        a_unc = float(glaciers["area_unc_km2"].fillna(0).sum())  # sum of per-glacier buffers (upper bound)
    d_unc = unc.get("debris_unc_km2")
    n_patches = 0 if debris is None else int(len(debris.geometry.explode(index_parts=False)))
    rows = [
        {"figure": "glaciers", "value": str(len(glaciers))},
        {"figure": "glacier area (km²)", "value": f"{area:.4f}" + (f" ± {a_unc:.4f}" if a_unc is not None else "")},
        {"figure": "clean ice (km²)", "value": f"{area - deb:.4f}" if np.isfinite(deb) else ""},
        {"figure": "supraglacial debris (km²)",
         "value": (f"{deb:.4f}" + (f" ± {d_unc:.4f}" if d_unc is not None else "")) if np.isfinite(deb) else ""},
        {"figure": "debris share of glacier area (%)", "value": f"{100 * deb / area:.2f}" if area and np.isfinite(deb) else ""},
        {"figure": "glaciers with debris",
         "value": str(int((glaciers["debris_km2"].fillna(0) > 0).sum())) if "debris_km2" in glaciers else ""},
        {"figure": "debris patches", "value": str(n_patches) if debris is not None else ""},
    ]  # fmt: skip
    return _table(rows)


def _warnings(glaciers, manifest: dict) -> str:
    """The run's warnings (stage summaries in run.json) and a plain statement when nothing was found."""
    items = []
    if len(glaciers) == 0:
        items.append(
            "No glacier was found in this scene: the inventory is empty (all layers present, zero rows)."
        )
    for name, rec in (manifest.get("stages") or {}).items():
        for w in (rec.get("summary") or {}).get("warnings") or []:
            items.append(f"{name}: {w}")
    if not items:
        return ""
    lis = "".join(f"<li>{html.escape(str(w))}</li>" for w in items)
    return f"<div class='warnings'><strong>Warnings</strong><ul>{lis}</ul></div>"


def _size_rows(t) -> list[dict]:
    """Size-class rows that hold something (no rows of zeros), with readable column names."""
    rows = t[t["n"] > 0][["class_km2", "n", "n_pct", "area_km2", "area_pct"]]
    return rows.rename(columns={"class_km2": "size class (km²)", "n_pct": "n (%)", "area_km2": "area (km²)",
                                "area_pct": "area (%)"}).to_dict("records")  # fmt: skip


def _size_tables(glaciers, debris) -> str:
    g = size_classes(glaciers["area_km2"].to_numpy(dtype="float64") if len(glaciers) else np.array([]))
    rows = _size_rows(g)
    out = "<h3>Glaciers</h3>" + (_table(rows) if rows else "<p class='note'>No glacier in the inventory.</p>")
    parts = debris.geometry.explode(index_parts=False) if debris is not None and len(debris) else None
    if parts is not None and (~parts.is_empty).any():
        d = size_classes(_areas_km2(parts[~parts.is_empty]))
        out += "<h3>Debris patches</h3>" + _table(_size_rows(d))
    else:
        out += "<h3>Debris patches</h3><p class='note'>No supraglacial debris was mapped (n = 0).</p>"
    return out


def _areas_km2(geoms: gpd.GeoSeries) -> np.ndarray:
    """Geodesic area (km²) of each geometry, as tasks over batches of geometries (:mod:`glacierinv.taskmap`)."""
    import shapely

    items = list(geoms.values)
    weights = [float(n) for n in shapely.get_num_coordinates(np.asarray(items, dtype=object))]
    return np.asarray(
        map_batched(partial(_areas_batch, geoms.crs), items, weights, name="report_areas"), "float64"
    )


def _areas_batch(crs, geoms: list) -> list[float]:
    """A task of :func:`_areas_km2`: :func:`glacierinv.geometry.area_km2` of the batch's geometries."""
    from glacierinv.geometry import area_km2

    return area_km2(gpd.GeoSeries(geoms, crs=crs)).tolist()


def _finite_pair(c) -> bool:
    return (
        isinstance(c, (list, tuple))
        and len(c) == 2
        and all(isinstance(v, (int, float)) and np.isfinite(v) for v in c)
    )


def _accuracy(assessment: dict) -> str:
    acc = (assessment.get("accuracy") or {}).get("overall")
    if not acc:
        return "<p class='note'>No reference labels were given: accuracy not assessed.</p>"
    ci = acc.get("ci") or {}

    def with_ci(key: str, v):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "not defined"
        c = ci.get(key)
        return _fmt(v, 4) + (f" [{c[0]:.4f}, {c[1]:.4f}]" if _finite_pair(c) else "")

    rows = [{"metric": "overall accuracy", "value": with_ci("oa", acc.get("oa"))},
            {"metric": "mIoU", "value": with_ci("miou", acc.get("miou"))}]  # fmt: skip
    absent = []
    for name, cls in (acc.get("per_class") or {}).items():
        n_ref, n_pred = cls.get("n_ref"), cls.get("n_pred")
        if n_ref == 0 or n_pred == 0:  # a class missing from the reference or the map: no score, no CI
            where = " and ".join(w for w, n in (("reference", n_ref), ("prediction", n_pred)) if n == 0)
            text = f"absent from the {where} (n_ref = {n_ref}, n_pred = {n_pred})"
            rows.append({"metric": f"F1 {name}", "value": text})
            rows.append({"metric": f"IoU {name}", "value": text})
            absent.append(name)
            continue
        rows.append({"metric": f"F1 {name}", "value": with_ci(f"f1_{name}", cls.get("f1"))})
        rows.append({"metric": f"IoU {name}", "value": with_ci(f"iou_{name}", cls.get("iou"))})
    note = "<p class='note'>95 % block-bootstrap confidence intervals in brackets.</p>" if ci else ""
    if absent:
        note += (f"<p class='note'>Class(es) {html.escape(', '.join(absent))} absent from the reference or the "
                 "prediction: no F1/IoU or confidence interval is reported for them.</p>")  # fmt: skip
    return _table(rows) + note


UNCERTAINTY_LABELS = {
    "method": "method",
    "buffer_px": "buffer (pixels)",
    "pixel_size_m": "pixel size (m)",
    "buffer_m": "buffer (m)",
    "n_glaciers": "glaciers",
    "n_complexes": "glacier complexes",
    "glacier_area_km2": "glacier area (km²)",
    "glacier_unc_km2": "glacier area uncertainty (km²)",
    "glacier_unc_pct": "glacier area uncertainty (%)",
    "n_debris": "debris polygons",
    "debris_area_km2": "debris area (km²)",
    "debris_unc_km2": "debris area uncertainty (km²)",
    "debris_unc_pct": "debris area uncertainty (%)",
    "area_km2": "inventory glacier area (km²)",
    "truth_area_km2": "reference glacier area (km²)",
    "area_rel_diff": "glacier area difference to reference (relative)",
    "debris_km2": "inventory debris area (km²)",
    "truth_debris_km2": "reference debris area (km²)",
}


def _label(key: str) -> str:
    """Human label of an uncertainty/truth key (unknown keys: underscores → spaces)."""
    return UNCERTAINTY_LABELS.get(key, key.replace("_", " "))


def _uncertainty(assessment: dict) -> str:
    unc = assessment.get("uncertainty") or {}
    rows = [{"quantity": _label(k), "value": v} for k, v in unc.items() if isinstance(v, (int, float, str))]
    truth = assessment.get("truth_areas") or {}
    rows += [{"quantity": f"truth comparison: {_label(k)}", "value": v} for k, v in truth.items()]
    return _table(rows, 4) if rows else "<p class='note'>No uncertainty figures in assessment.json.</p>"


def _stages(manifest: dict) -> str:
    rows = []
    for name, rec in (manifest.get("stages") or {}).items():
        rows.append({"stage": name, "status": rec.get("status"), "seconds": rec.get("seconds"),
                     "started": rec.get("started"), "error": rec.get("error") or ""})  # fmt: skip
    return _table(rows) if rows else "<p class='note'>No run.json in the run folder.</p>"


def _figures(glaciers, debris, analysis_dir: Path | None) -> str:
    from glacierinv.analysis.inventory import Inventory

    pngs: dict[str, bytes] = {}
    if analysis_dir is not None and analysis_dir.is_dir():
        for p in sorted(analysis_dir.glob("*.png")):
            pngs[p.stem] = p.read_bytes()
    if len(glaciers):
        inv = Inventory(glaciers, debris)
        if "size_classes" not in pngs:
            from glacierinv.analysis.sizes import size_structure

            pngs["size_classes"] = figure_png(size_structure(inv).figure)
        if "aspect" not in pngs and {"aspect_sec", "aspect_deg"} & set(glaciers.columns):
            from glacierinv.analysis.topography import aspect_distribution

            pngs["aspect"] = figure_png(aspect_distribution(inv).figure)
    order = [k for k in FIGURE_CAPTIONS if k in pngs] + sorted(k for k in pngs if k not in FIGURE_CAPTIONS)
    parts = []
    for k in order:
        cap = FIGURE_CAPTIONS.get(k, k.replace("_", " "))
        parts.append(f"<figure>{_img(pngs[k], cap)}<figcaption>{html.escape(cap)}</figcaption></figure>")
    if analysis_dir is None or not analysis_dir.is_dir():
        parts.append("<p class='note'>Only the inventory-only figures are shown. Run "
                     "<code>glacierinv analyse</code> (or <code>glacierinv report RUN --analyse</code>) for "
                     "hypsometry, slope, glacier types, profiles, DEM-resolution and freezing-level figures.</p>")  # fmt: skip
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em} td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left} .scroll{overflow:auto;max-height:32em}
table.sortable th{cursor:pointer} table.sortable th:hover{background:#e4e4e4}
#map{height:560px;border:1px solid #bbb;background:#f4f4f0} .note{color:#666;font-size:.9em}
figure{margin:1em 0} figure img{max-width:100%} figcaption{color:#444;font-size:.9em}
.leaflet-popup-content table{font-size:.85em;margin:0}
.warnings{background:#fff4e0;border:1px solid #e6a100;padding:.4em .8em;margin:.6em 0}
"""

_JS = """
(function(){
var D=JSON.parse(document.getElementById('map-data').textContent);
function popup(f){var p=f.properties||{},r='';for(var k in p){r+='<tr><th>'+k+'</th><td>'+p[k]+'</td></tr>';}
 return r?'<table>'+r+'</table>':'';}
function each(f,l){var h=popup(f);if(h){l.bindPopup(h);}}
var map=L.map('map',{attributionControl:false,preferCanvas:D.canvas,zoomSnap:0.25});
L.control.scale({imperial:false}).addTo(map);
var ov={},C=D.colours,first=null;
if(D.classes){ov['classification (clean ice / debris)']=L.imageOverlay(D.classes.url,D.classes.bounds,{opacity:0.55});}
if(D.glaciers){first=ov['glaciers']=L.geoJSON(D.glaciers,{style:{color:C.glacier,weight:1.2,fillColor:C.glacier,fillOpacity:0.25},onEachFeature:each}).addTo(map);}
if(D.debris){ov['supraglacial debris']=L.geoJSON(D.debris,{style:{color:C.debris,weight:0.8,fillColor:C.debris,fillOpacity:0.6},onEachFeature:each}).addTo(map);}
if(D.divides){ov['divides']=L.geoJSON(D.divides,{style:{color:C.divide,weight:1.5,dashArray:'4 3'}}).addTo(map);}
if(D.review){ov['review flags']=L.geoJSON(D.review,{style:{color:C.review,weight:2,fill:false},onEachFeature:each});}
L.control.layers(null,ov,{collapsed:false}).addTo(map);
if(first&&first.getLayers().length){map.fitBounds(first.getBounds(),{padding:[10,10]});}
else if(D.classes){map.fitBounds(D.classes.bounds);}else{map.setView([0,0],2);}
window.glacierinvMap=map;
})();
(function(){
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){var asc=true;th.addEventListener('click',function(){
  var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
  rows.sort(function(a,c){var x=a.cells[i].textContent,y=c.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);
   var r=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?r:-r;});
  asc=!asc;rows.forEach(function(r){b.appendChild(r);});});});});
})();
"""


def _read_optional(path: Path, layer: str):
    if not path.exists() or layer not in list_layers(path):
        return None
    return read_vector(path, layer=layer, allow_empty=True)


def _read_json(p: Path) -> dict:
    """A run's JSON file; {} when it is missing or not valid JSON (logged)."""
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; ignored in the report", p)
        return {}


@dataclass(frozen=True, eq=False)
class _RunInputs:
    """What the report shows of a run folder: its layers (None when absent) and JSON files ({} when absent)."""

    glaciers: gpd.GeoDataFrame  # RGI7 column names, with area_km2 (km², geodesic)
    debris: gpd.GeoDataFrame | None
    divides: gpd.GeoDataFrame | None
    review: gpd.GeoDataFrame | None  # review flags of outlines.gpkg
    assessment: dict  # assessment.json
    manifest: dict  # run.json


def _read_run(run: Path) -> _RunInputs:
    """Read the report's inputs from the run folder ``run``; InputError when it has no ``inventory.gpkg``.

    The glaciers get RGI7 column names and, when they have none, an ``area_km2`` column (geodesic, km²).
    """
    from glacierinv.analysis.inventory import to_rgi7_columns

    inventory = run / RunFolder.INVENTORY
    if not inventory.exists():
        raise InputError("no inventory.gpkg in the run folder", run, "Run the attributes stage first")
    glaciers = to_rgi7_columns(read_vector(inventory, layer="glaciers", allow_empty=True))
    if "area_km2" not in glaciers.columns:
        from glacierinv.geometry import area_km2

        glaciers["area_km2"] = area_km2(glaciers) if len(glaciers) else []
    return _RunInputs(
        glaciers,
        debris=_read_optional(inventory, "debris"),
        divides=_read_optional(inventory, "divides"),
        review=_read_optional(run / RunFolder.OUTLINES, "review"),
        assessment=_read_json(run / RunFolder.ASSESSMENT),
        manifest=_read_json(run / MANIFEST),
    )


def _map_json(run: Path, inputs: _RunInputs, block_px: int) -> str:
    """The map's data (:func:`_map_data`; ``block_px``: window of the ``classes.tif`` reads) as compact JSON
    to inline in a ``<script>`` element, with ``</`` escaped so that it cannot close the element."""
    data = _map_data(run, inputs.glaciers, inputs.debris, inputs.divides, inputs.review, block_px)
    map_json = json.dumps(data, separators=(",", ":"))
    return map_json.replace("</", "<\\/")  # cannot close the script element


def _page(name: str, run: Path, inputs: _RunInputs, map_json: str, analysis_dir: Path) -> str:
    """The whole HTML page of run ``run``, titled ``name``: Leaflet's and the page's CSS, the sections in
    reading order (summary with warnings, size classes, accuracy, uncertainty, map, figures of
    ``analysis_dir``, attribute table, stages; rendered in that order) and the scripts (the map data
    ``map_json``, Leaflet, the page's JS)."""
    from glacierinv import __version__

    glaciers, debris = inputs.glaciers, inputs.debris
    assessment, manifest = inputs.assessment, inputs.manifest
    js, css = _leaflet()
    show = [c for c in _TABLE_COLUMNS if c in glaciers.columns]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(name)}</title>
<style>{css}</style>
<style>{_CSS}</style>
</head><body>
<h1>{html.escape(name)}</h1>
<p class="note">Glacier inventory report written by glacierinv {__version__} from <code>{html.escape(str(run))}</code>.
Opens offline: everything is in this file.</p>
<h2 id="summary">Summary</h2>{_warnings(glaciers, manifest)}{_summary(glaciers, debris, assessment.get("uncertainty") or {})}
<h2 id="sizes">Size classes</h2>{_size_tables(glaciers, debris)}
<h2 id="accuracy">Accuracy</h2>{_accuracy(assessment)}
<h2 id="uncertainty">Uncertainty</h2>{_uncertainty(assessment)}
<h2 id="map-section">Map</h2>
<p class="note">Glaciers (blue), supraglacial debris (orange), divides (dashed); click an outline for its
attributes; switch layers top right. No background tiles (offline).</p>
<div id="map"></div>
<h2 id="figures">Figures</h2>{_figures(glaciers, debris, analysis_dir)}
<h2 id="table">Glaciers</h2><p class="note">Click a column header to sort.</p>
<div class="scroll">{_table(glaciers[show].to_dict("records"), sortable=True)}</div>
<h2 id="stages">Stages</h2>{_stages(manifest)}
<script id="map-data" type="application/json">{map_json}</script>
<script>{js}</script>
<script>{_JS}</script>
</body></html>
"""


def write_report(
    run_dir: str | Path, *, out_dir: str | Path | None = None, title: str | None = None,
    analysis_dir: str | Path | None = None, block_px: int = 1024,
) -> Path:  # fmt: skip
    """Write ``report/index.html`` (or ``out_dir/index.html``) for a run folder.

    Parameters
    ----------
    run_dir
        Run folder with at least ``inventory.gpkg`` (layer ``glaciers``); ``run.json``,
        ``assessment.json``, ``classes.tif``, ``outlines.gpkg`` (review flags) and ``analysis/`` are used
        when present.
    out_dir
        Folder of ``index.html`` (default ``run_dir/report``).
    title
        Page title (default: the run's config name).
    analysis_dir
        Folder of analysis PNGs to embed (default ``run_dir/analysis``).
    block_px
        Window size of the reads of ``classes.tif`` for the map overlay (tasks on the run's cluster when
        one is set: :mod:`glacierinv.report.overlay`); the page does not depend on it.

    Returns
    -------
    Path of the written ``index.html``.
    """
    run = Path(run_dir)
    out = Path(out_dir) if out_dir else run / "report"
    inputs = _read_run(run)
    map_json = _map_json(run, inputs, block_px)  # before the sections: the map's tasks run first
    name = title or (inputs.manifest.get("config") or {}).get("name") or "glacier inventory"
    adir = Path(analysis_dir) if analysis_dir else run / "analysis"
    body = _page(name, run, inputs, map_json, adir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    with atomic_path(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
