"""Real-spectra check (issue 26 item 4): how the baseline and each shipped model label real, expert-labelled
pixel spectra (snow, shadowed snow, ice, rock/debris, water) of Landsat 8/9 and Sentinel-2 at USGS benchmark
glaciers (RaineyAbe/glacier-snow-cover-mapping, MIT; :mod:`glacierinv.segment.real_spectra`).

    python benchmarks/segment_real_spectra.py [--csv TABLE.csv ...] [--checkpoint MODEL.pt ...] [--out table.md]

Default tables: the subsets in ``tests/data/real_spectra/`` (220 Landsat and 250 Sentinel-2 spectra);
give the full upstream tables with ``--csv``. Default models: every shipped checkpoint
(:func:`glacierinv.segment.shipped.shipped_models`); ``--checkpoint`` adds more (named by file stem).
Each spectrum is classified on its own: the baseline's clean-ice rule with SWIR (red/SWIR, Paul et al.
2002) and without (red/NIR, the VNIR stack), and each model applied to a uniform ``--tile-px`` tile of the
spectrum (class at the centre pixel), slope ``--slope-deg`` for every spectrum, LST from ``ST_B10``
(Landsat) or, for Sentinel-2 (no thermal band), ``--s2-lst-k`` or by default each model's training mean.
Cells: percent of the class's spectra mapped background / clean ice / debris-covered ice.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLES = [
    ROOT / "tests" / "data" / "real_spectra" / "Landsat_training_data.csv",
    ROOT / "tests" / "data" / "real_spectra" / "Sentinel-2_SR_training_data.csv",
]
SLOPE_DEG = 12.0  # the gentle surface of these valley and cirque glaciers; one value for every class


def run(args: argparse.Namespace) -> str:
    import torch

    from glacierinv.segment.checkpoint import load_checkpoint
    from glacierinv.segment.real_spectra import (
        baseline_response,
        model_response,
        read_spectra,
        response_table,
    )
    from glacierinv.segment.shipped import shipped_models

    torch.set_num_threads(args.threads)
    spectra = [read_spectra(p) for p in args.csv]  # all inputs checked before any work
    models = {}
    if not args.baseline_only:
        models = {name: load_checkpoint(path) for name, (path, _) in shipped_models().items()}
    for path in args.checkpoint:
        models[Path(path).stem] = load_checkpoint(path)
    out = [
        "Real-spectra check: share of each real class mapped background / clean ice / debris (%), each "
        f"spectrum on its own (1×1 response; models: uniform {args.tile_px} px tile, centre pixel), slope "
        f"{args.slope_deg:g}° for every spectrum.",
        "",
    ]
    for sp in spectra:
        responses = {
            "baseline red/SWIR": baseline_response(sp, "red/swir1"),
            "baseline red/NIR": baseline_response(sp, "red/nir"),
        }
        lst_notes, seconds = [], {}
        for name, (model, meta) in models.items():
            t0 = time.perf_counter()
            classes, _, lst_source = model_response(
                sp, model, meta, slope_deg=args.slope_deg, lst_k=args.s2_lst_k, tile_px=args.tile_px
            )
            seconds[name] = time.perf_counter() - t0
            responses[name] = classes
            if lst_source == "training mean":
                lst_source += f" {meta.norm_mean[[c.lower() for c in meta.channels].index('lst')]:.1f} K"
            lst_notes.append(f"{name}: {lst_source}")
        units = ", ".join(f"{n} rows {rule}" for rule, n in sp.units.items())
        dropped = "; ".join(f"{n} rows: {why}" for why, n in sp.dropped.items()) or "none"
        out += [
            f"### {sp.sensor}: {sp.source.name} ({len(sp)} spectra)",
            "",
            f"Units: {units}. Left out: {dropped}."
            + (f" LST given to the models: {'; '.join(lst_notes)}." if lst_notes else ""),
            "",
            response_table(sp, responses),
            "",
        ]
        if seconds:
            print(
                f"{sp.sensor}: {len(sp)} spectra, model seconds "
                + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()),
                file=sys.stderr,
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--csv", nargs="+", type=Path, default=DEFAULT_TABLES, help="spectra tables (upstream format)"
    )
    ap.add_argument("--checkpoint", nargs="*", default=[], help="extra model checkpoints")
    ap.add_argument("--slope-deg", type=float, default=SLOPE_DEG)
    ap.add_argument("--s2-lst-k", type=float, default=None, help="LST of every Sentinel-2 spectrum (K)")
    ap.add_argument("--tile-px", type=int, default=64)
    ap.add_argument(
        "--baseline-only", action="store_true", help="no shipped models (fast on the full tables)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared, busy machine 2 OpenMP threads mostly wait on each other)",
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown tables to this file")
    args = ap.parse_args(argv)
    from glacierinv.errors import GlacierInvError

    t0 = time.perf_counter()
    try:
        text = run(args)
    except GlacierInvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch threads; "
        f"{time.perf_counter() - t0:.1f} s in all; load average {os.getloadavg()}",
        file=sys.stderr,
    )
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
