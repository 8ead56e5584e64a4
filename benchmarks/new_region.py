"""Map a new region: shipped model (or baseline) → fine-tune / train on the region's inventory → re-run.

Reproduces the figures of docs/segment.md, section "Map a new region". Two experiments:

``synthetic WORK``
    A synthetic region whose generator settings differ from the shipped model's training scenes (seed 300,
    768 px at 3 m instead of seeds 10-19, 512 px at 2 m). Its truth glacier + debris polygons play the
    region's inventory. The eastern third is held out (test region); the shipped model is fine-tuned on
    the rest with ``ignore_edge_px = 2``; shipped, baseline and fine-tuned models are scored on the
    held-out third.
``everest WORK``
    The real Landsat 7 scene of ../shared/data/everest-landsat7 (8-bit RGB + NIR band 4, RGI 6 outlines).
    It has no LST / slope / SWIR, so the shipped model (blue, green, red, nir, lst, slope) cannot be applied
    or fine-tuned: a model for (blue, green, red, nir) is trained from scratch on the western two thirds
    and compared with the rule baseline on the held-out western third (``--heldout east`` for the other). The 8-bit display-stretched DNs are
    divided by 255 (not reflectance; the baseline's thresholds assume reflectance: said in the docs).

Scores: glacier (clean ice + debris) vs not, on every pixel whose centre lies in the held-out region
(whole-scene inference, not just the training tiles). Prints one JSON object; ``uptime`` is recorded.

    nice -n 10 python benchmarks/new_region.py everest /tmp/nr --epochs 20
    nice -n 10 python benchmarks/new_region.py synthetic /tmp/nr --epochs 6
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

EVEREST = Path(__file__).resolve().parents[2] / "shared" / "data" / "everest-landsat7"


def _region_file(path: Path, crs, bounds: tuple[float, float, float, float]) -> Path:
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"name": ["heldout"]}, geometry=[shapely.box(*bounds)], crs=crs).to_file(path)
    return path


def _side_region(stack: Path, frac: float, out: Path, side: str) -> tuple[Path, np.ndarray]:
    """Held-out region: the western or eastern ``frac`` of the stack → (polygon file, boolean pixel mask)."""
    import rasterio

    with rasterio.open(stack) as ds:
        h, w, tr, crs = ds.height, ds.width, ds.transform, ds.crs
    mask = np.zeros((h, w), bool)
    if side == "east":
        c0, c1 = int(round(w * (1 - frac))), w
    else:
        c0, c1 = 0, int(round(w * frac))
    mask[:, c0:c1] = True
    region = _region_file(out, crs, (tr.c + c0 * tr.a, tr.f + h * tr.e, tr.c + c1 * tr.a, tr.f))
    return region, mask


def _glacier_f1(pred: np.ndarray, ref: np.ndarray, where: np.ndarray) -> dict:
    """Glacier (1 or 2) vs not: precision, recall, F1, the not-glacier F1 and the 3-class mIoU / F1."""
    from glacierinv.confusion import confusion_matrix, scores

    ok = where & (ref != 255) & (pred != 255)
    p, r = np.isin(pred, (1, 2)) & ok, np.isin(ref, (1, 2)) & ok
    tp, fp, fn = int((p & r).sum()), int((p & ~r).sum()), int((~p & r).sum())
    tn = int(ok.sum()) - tp - fp - fn
    cm = confusion_matrix(
        np.where(ok, pred, 255).astype("uint8"), np.where(ok, ref, 255).astype("uint8"), 3, 255
    )
    three = scores(cm, ["background", "clean_ice", "debris"])
    return {
        "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 4),
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "f1_not_glacier": round(2 * tn / max(2 * tn + fp + fn, 1), 4),
        "glacier_share_ref": round((tp + fn) / max(int(ok.sum()), 1), 4),
        "miou_3class": None if three["miou"] is None else round(three["miou"], 4),
        "f1_debris": three["per_class"]["debris"]["f1"],
        "n_pixels": int(ok.sum()),
    }


def _labels(stack: Path, glaciers: Path, debris: Path | None, out: Path) -> np.ndarray:
    from glacierinv.io.raster import read_raster
    from glacierinv.segment.data import label_raster

    label_raster(stack, out, glaciers=glaciers, debris=debris)
    return read_raster(out, as_float=False)[0][0]


def _classes(path: Path) -> np.ndarray:
    from glacierinv.io.raster import read_raster

    return read_raster(path, as_float=False)[0][0]


def _train(
    stack, glaciers, debris, region, out, *, init, epochs, tile_px, channels=None, edge_px=2, **extra
) -> dict:
    from glacierinv.segment.train import TrainConfig, train

    scene = {"stack": stack, "glaciers": glaciers} | ({"debris": debris} if debris else {})
    cfg = TrainConfig.model_validate(
        {
            "scenes": [scene],
            "tile_px": tile_px,
            "split_block_px": 2 * tile_px,
            "test_region": region,
            "ignore_edge_px": edge_px,
            "init": init,
            "max_epochs": epochs,
            "patience": extra.pop("patience", max(4, epochs // 3)),
            "lr_patience": 3,
            "threads": 1,
            "device": "cpu",
            "channels": channels,
            **extra,
        }
    )
    t0 = time.perf_counter()
    summary = train(cfg, out, force=True)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary


def synthetic(work: Path, epochs: int) -> dict:
    from glacierinv.config import load_config
    from glacierinv.preprocess.stack import build_feature_stack
    from glacierinv.segment.baseline import classify_stack
    from glacierinv.segment.checkpoint import SHIPPED_MODEL
    from glacierinv.segment.infer import predict_stack
    from glacierinv.synthetic import generate_scene

    scene = work / "synthetic"
    stack = scene / "stack" / "stack.tif"
    if not stack.exists():
        generate_scene(scene, seed=300, size_px=768, pixel_m=3.0)
        build_feature_stack(load_config(scene / "config.toml"), scene / "stack")
    truth = _classes(scene / "truth" / "classes.tif")
    glaciers, debris = _truth_polygons(scene, work)
    region, held = _side_region(stack, 1 / 3, work / "syn_heldout.gpkg", "east")
    res = {"scene": "synthetic seed 300, 768 px at 3 m", "heldout": "eastern third"}
    classify_stack(stack, work / "syn_baseline.tif")
    res["baseline"] = _glacier_f1(_classes(work / "syn_baseline.tif"), truth, held)
    res["all_glacier"] = _glacier_f1(np.ones_like(truth), truth, held)
    predict_stack(stack, SHIPPED_MODEL, work / "syn_shipped.tif", tile_px=256, overlap_px=64, device="cpu")
    res["shipped"] = _glacier_f1(_classes(work / "syn_shipped.tif"), truth, held)
    s = _train(stack, glaciers, debris, region, work / "syn_ft", init=SHIPPED_MODEL, epochs=epochs,
               tile_px=128, lr=3e-4)  # fmt: skip
    predict_stack(
        stack, work / "syn_ft" / "best.pt", work / "syn_ft.tif", tile_px=256, overlap_px=64, device="cpu"
    )
    res["finetuned"] = _glacier_f1(_classes(work / "syn_ft.tif"), truth, held)
    res["finetune_run"] = {k: s[k] for k in ("best_epoch", "epochs_run", "tiles", "seconds", "test")}
    return res


def _truth_polygons(scene: Path, work: Path) -> tuple[Path, Path | None]:
    """Glacier and debris polygons of the synthetic truth (the region's 'inventory')."""
    from glacierinv.outlines.vectorize import vectorize_classes

    gl, de = work / "syn_glaciers.gpkg", work / "syn_debris.gpkg"
    if not gl.exists():
        glaciers, debris = vectorize_classes(scene / "truth" / "classes.tif", min_area_km2=0.0, simplify_px=0)
        glaciers.to_file(gl)
        if len(debris):
            debris.to_file(de)
    return gl, (de if de.exists() else None)


def everest_stack(out: Path, folder: Path = EVEREST) -> Path:
    """A described 4-band float stack (blue, green, red, nir = DN / 255) of the Everest Landsat 7 scene.

    The RGB composite's bands are red, green, blue (in that order); band 4 of ETM+ is the NIR.
    """
    import rasterio

    with rasterio.open(folder / "LE71400412000304SGS00_RGB.tif") as ds:
        rgb = ds.read().astype("float32") / 255.0
        prof = ds.profile
    with rasterio.open(folder / "LE71400412000304SGS00_B4.tif") as ds:
        nir = ds.read(1).astype("float32") / 255.0
    prof.update(count=4, dtype="float32", nodata=np.nan, compress="deflate", tiled=True, blockxsize=256,
                blockysize=256, interleave="band")  # fmt: skip
    with rasterio.open(out, "w", **prof) as dst:
        for i, (name, arr) in enumerate((("blue", rgb[2]), ("green", rgb[1]), ("red", rgb[0]), ("nir", nir))):
            dst.write(arr, i + 1)
            dst.set_band_description(i + 1, name)
    return out


def everest(work: Path, epochs: int, side: str = "west", edges=(2, 0), loss="dice", patience=None) -> dict:
    from glacierinv.segment.baseline import classify_stack
    from glacierinv.segment.infer import predict_stack

    stack = everest_stack(work / "everest_stack.tif")
    rgi = EVEREST / "15_rgi60_glacier_outlines.gpkg"
    ref = _labels(stack, rgi, None, work / "everest_rgi.tif")
    region, held = _side_region(stack, 1 / 3, work / "everest_heldout.gpkg", side)
    res = {"scene": "everest-landsat7 (800x655 px, 30 m)", "heldout": f"{side}ern third (267 columns)"}
    classify_stack(stack, work / "ev_baseline.tif")
    res["baseline"] = _glacier_f1(_classes(work / "ev_baseline.tif"), ref, held)
    res["baseline_whole_scene"] = _glacier_f1(_classes(work / "ev_baseline.tif"), ref, np.ones_like(held))
    res["all_glacier"] = _glacier_f1(np.ones_like(ref), ref, held)  # trivial reference: 54 % is glacier
    for edge in edges:
        name = f"ev_scratch_edge{edge}"
        more = {"loss": loss} | ({"patience": patience} if patience else {})
        s = _train(stack, rgi, None, region, work / name, init=None, epochs=epochs, tile_px=64, base_width=16,
                   depth=3, lr=1e-3, edge_px=edge, **more)  # fmt: skip
        predict_stack(
            stack, work / name / "best.pt", work / f"{name}.tif", tile_px=128, overlap_px=32, device="cpu"
        )
        res[f"unet_scratch_edge{edge}"] = _glacier_f1(_classes(work / f"{name}.tif"), ref, held)
        res[f"unet_run_edge{edge}"] = {
            k: s[k] for k in ("best_epoch", "epochs_run", "tiles", "seconds", "test")
        }
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=["synthetic", "everest"])
    ap.add_argument("work", type=Path)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--heldout", choices=["west", "east"], default="west", help="everest: held-out third")
    ap.add_argument("--edges", default="2,0", help="everest: ignore_edge_px values to train with")
    ap.add_argument("--loss", default="dice", help="everest: dice | focal | dice_ce")
    ap.add_argument("--patience", type=int, default=None, help="everest: early-stopping patience")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.experiment == "synthetic":
        res = synthetic(args.work, args.epochs)
    else:
        edges = tuple(int(e) for e in args.edges.split(","))
        res = everest(args.work, args.epochs, args.heldout, edges, args.loss, args.patience)
    res.update(epochs=args.epochs, seconds=round(time.perf_counter() - t0, 1), load_start=load0,
               load_end=os.getloadavg()[0])  # fmt: skip
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
