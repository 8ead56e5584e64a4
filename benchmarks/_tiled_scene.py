"""Scenes larger than the synthetic generator's cap, for the scale benchmark: an n × n tiling of one scene.

``generate_scene`` holds a whole scene in memory and is capped at 4096² px. To measure the *pipeline* on
8192² px, the benchmark generates a 4096² scene once and repeats it n × n times into a new scene folder:
every raster (each on its own grid: 2 m pan, 5 m MS, 10 m S2, 30 m Landsat, 4 m / 30 m DEMs) is extended
from the same origin and each output cell takes the source cell at the same position modulo the tile size
(nearest, no resampling); the truth vectors are translated copies; the Landsat MTL gets the new size and
corners. Glaciers are cut where the tiles meet — irrelevant for memory and throughput.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import rasterio
from affine import Affine
from shapely import affinity

RASTERS = (
    "pan.tif",
    "ms.tif",
    "s2.tif",
    "s2_cloud.tif",
    "dem.tif",
    "dem30.tif",
    "landsat/*.TIF",
    "truth/*.tif",
)


def _tile_raster(src_path: Path, dst_path: Path, n: int, tile_m: float) -> tuple[int, int]:
    with rasterio.open(src_path) as src:
        res = src.res[0]
        x0, y0 = src.transform.c, src.transform.f
        width = math.ceil(n * tile_m / res - 1e-9)
        height = math.ceil(n * tile_m / src.res[1] - 1e-9)
        # source cell of every output column/row: same position modulo the tile, clipped to the source
        xs = ((np.arange(width) + 0.5) * res) % tile_m
        ys = ((np.arange(height) + 0.5) * src.res[1]) % tile_m
        cols = np.minimum((xs // res).astype(int), src.width - 1)
        rows = np.minimum((ys // src.res[1]).astype(int), src.height - 1)
        profile = src.profile | {"width": width, "height": height, "BIGTIFF": "IF_SAFER",
                                 "transform": Affine(res, 0, x0, 0, -src.res[1], y0)}  # fmt: skip
        if width >= 256 and height >= 256:
            profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(dst_path, "w", **profile) as dst:
            for band in range(1, src.count + 1):
                dst.write(src.read(band)[np.ix_(rows, cols)], band)
            dst.descriptions = src.descriptions
            dst.update_tags(**src.tags())
    return width, height


def tile_scene(src: Path, dst: Path, n: int = 2) -> Path:
    """Write an ``n × n`` tiling of the synthetic scene ``src`` into ``dst`` (same files, same config)."""
    src, dst = Path(src), Path(dst)
    with rasterio.open(src / "pan.tif") as pan:
        tile_m = pan.width * pan.res[0]
    dst.mkdir(parents=True)
    for name in ("config.toml", "scene.json"):
        shutil.copy(src / name, dst / name)
    sizes = {}
    for pattern in RASTERS:
        for p in sorted(src.glob(pattern)):
            sizes[p.name] = _tile_raster(p, dst / p.relative_to(src), n, tile_m)
    shift = (n - 1) * tile_m  # the lower-right corner moves right and down by this many metres
    for mtl in (src / "landsat").glob("*MTL.txt"):
        text = mtl.read_text()
        w, h = next(v for k, v in sizes.items() if k.endswith("B10.TIF"))
        for key, value in (("LINES", h), ("SAMPLES", w)):
            text = re.sub(rf"((?:REFLECTIVE|THERMAL)_{key} = )\d+", rf"\g<1>{value}", text)
        text = re.sub(r"(CORNER_(?:LR|UR)_PROJECTION_X_PRODUCT = )([\d.]+)",
                      lambda m: f"{m[1]}{float(m[2]) + shift:.3f}", text)  # fmt: skip
        text = re.sub(r"(CORNER_(?:LR|LL)_PROJECTION_Y_PRODUCT = )([\d.]+)",
                      lambda m: f"{m[1]}{float(m[2]) - shift:.3f}", text)  # fmt: skip
        (dst / "landsat" / mtl.name).write_text(text)
    truth = src / "truth" / "glaciers.gpkg"
    for layer, _ in pyogrio.list_layers(truth):
        df = pyogrio.read_dataframe(truth, layer=layer)
        parts = []
        for i in range(n):
            for j in range(n):
                part = df.copy()
                part["geometry"] = part.geometry.apply(affinity.translate, xoff=i * tile_m, yoff=-j * tile_m)
                for col in ("glac_id", "complex_id"):
                    if col in part.columns:
                        part[col] = part[col].astype(str) + f"-t{i}{j}"
                parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        pyogrio.write_dataframe(out.set_geometry("geometry").set_crs(df.crs, allow_override=True),
                                dst / "truth" / "glaciers.gpkg", layer=layer)  # fmt: skip
    return dst
