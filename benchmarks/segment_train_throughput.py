"""Training throughput (issue 26 item 1): where an epoch's wall time goes, beside the raw training step.

    .venv/bin/python benchmarks/segment_train_throughput.py --work /tmp/trainbench --epochs 2 --threads 2

Three loops on the same synthetic hard scenes, each a real ``glacierinv.segment.train.train`` run whose
per-part wall times of the last epoch come from its ``metrics.csv``:

- ``before``: the loop as it was (fp32, contiguous tensors, batch 4, tiles read from the GeoTIFFs at each
  use: ``cache_mb = 0``);
- ``fp32``: tiles held in memory, channels_last, batch ``--batch``;
- ``bf16``: the same with bf16 autocast, where the CPU computes bf16 natively (or with ``--bf16``).

Per loop:

- ``data`` (tiles read, augmented, normalised, batched), ``forward`` (network + loss), ``backward``,
  ``optim`` (Adam step), ``val`` (validation tiles, every epoch), ``save`` (checkpoints, metrics, curves);
- **step share** = (forward + backward + optim) / epoch: goal >= 75 %;
- **epoch / (tiles × step)**: the epoch's wall time over its tiles times the training step measured alone
  in the same process on the same tiles (a loop over ready-made batches): goal <= 1.3;
- achieved GFLOP/s of training (FLOPs of forward + backward counted by ``torch.utils.flop_counter``) beside
  the inference forward GFLOP/s of the same model on the same tiles (``eval``, ``inference_mode``): the
  ratio says how close training runs to what the machine gives the network.

Speed figures depend on the machine and its load: the script prints the load average, torch threads and
whether the CPU has native bf16 (``avx512_bf16``/``amx``). Record them with the figures.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np


def _scenes(work: Path, n: int) -> list[tuple[Path, Path]]:
    from glacierinv.segment.shipped import HARD_TRAIN_SEEDS, make_scene

    return [make_scene(work / "scenes", s, "hard") for s in HARD_TRAIN_SEEDS[:n]]


def _config(scenes, args, precision: str, cache_mb: float, batch: int, memory_format: str):
    from glacierinv.segment.train import TrainConfig

    return TrainConfig.model_validate(
        {
            "scenes": [{"stack": str(st), "labels": str(lab)} for st, lab in scenes],
            "channels": ["blue", "green", "red", "nir", "lst", "slope"],
            "tile_px": args.tile,
            "base_width": 16,
            "depth": 3,
            "batch_size": batch,
            "memory_format": memory_format,
            "loss": "dice_ce",
            "lr": 1e-3,
            "max_epochs": args.epochs,
            "threads": args.threads,
            "device": "cpu",
            "precision": precision,
            "cache_mb": cache_mb,
        }
    )


def _last_epoch(folder: Path) -> dict[str, float]:
    with open(folder / "metrics.csv") as fh:
        row = list(csv.DictReader(fh))[-1]
    return {k: float(v) for k, v in row.items() if v not in ("", None)}


def _step_alone(model, batches, bf16: bool, loss_fn) -> float:
    """Seconds per tile of forward + loss + backward + Adam step over ready-made batches (after 2 warm-ups)."""
    import torch
    from segment_train_precision import _steps  # the same step loop as the precision benchmark

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    _steps(model, opt, loss_fn, batches[:2], bf16)
    return _steps(model, opt, loss_fn, batches[2:], bf16) / len(batches[2][0])


def _forward_alone(model, batches, bf16: bool) -> float:
    """Seconds per tile of the inference forward (eval, inference_mode) over the same batches."""
    import torch

    model.eval()
    n_tiles, elapsed = 0, 0.0
    with torch.inference_mode():
        for k, (x, _) in enumerate(batches):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(x)
            if k >= 1:
                elapsed += time.perf_counter() - t0
                n_tiles += len(x)
    return elapsed / max(n_tiles, 1)


def _flops_per_tile(model, x, y, loss_fn) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs per tile, counted on one batch."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with FlopCounterMode(display=False) as fwd:
        logits = model(x)
        loss = loss_fn(logits.float(), y)
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    model.zero_grad(set_to_none=True)
    f, b = fwd.get_total_flops(), bwd.get_total_flops()
    return f / len(x), (f + b) / len(x)


def run(args) -> None:
    import torch

    from glacierinv.segment.infer import native_bf16
    from glacierinv.segment.losses import make_loss
    from glacierinv.segment.model import UNetCBAM, UNetSpec
    from glacierinv.segment.train import EPOCH_PHASES, step_share, train

    torch.set_num_threads(args.threads)
    native = native_bf16("cpu")
    flags = sorted({"avx512_bf16", "amx_bf16"} & set(open("/proc/cpuinfo").read().split()))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, bf16 flags {flags or 'none'} (native bf16: "
        f"{native}); torch {torch.__version__}, {args.threads} threads; load {os.getloadavg()}"
    )
    scenes = _scenes(args.work, args.scenes)
    variants = {  # name: (precision, memory format, batch, cache_mb)
        "before": ("fp32", "contiguous", 4, 0.0),
        "fp32": ("fp32", "channels_last", args.batch, 4096.0),
    }
    if native or args.bf16:
        variants["bf16"] = ("bf16", "channels_last", args.batch, 4096.0)
    loss_fn = make_loss("dice_ce")
    print(
        f"{len(scenes)} hard scenes of 512 px, tiles {args.tile} px, {args.epochs} epochs (last epoch shown)"
    )
    header = ("loop", "tiles", "epoch s", *[k[:-2] for k in EPOCH_PHASES], "step share", "epoch/(tiles×step)",
              "tiles/s", "train GFLOP/s", "infer GFLOP/s", "train/infer", "val mIoU")  # fmt: skip
    rows = []
    for name, (precision, memory_format, batch, cache_mb) in variants.items():
        bf16 = precision == "bf16"
        out = args.work / f"run-{name}"
        train(_config(scenes, args, precision, cache_mb, batch, memory_format), out, force=True)
        last = _last_epoch(out)
        # the step alone, on tiles of the same scenes, same model spec, batch and layout, in this process
        from glacierinv.segment.data import OPTICAL_CHANNELS, TileDataset, make_tiles

        channels = ["blue", "green", "red", "nir", "lst", "slope"]
        tiles = make_tiles([(512, 512)] * len(scenes), tile_px=args.tile, stride_px=args.tile // 2,
                           split_block_px=2 * args.tile)[: batch * 8]  # fmt: skip
        import rasterio

        with rasterio.open(scenes[0][0]) as ds:
            names = [(d or "").lower() for d in ds.descriptions]
        idx = [[names.index(c) for c in channels]] * len(scenes)
        ds = TileDataset([s for s, _ in scenes], [t for _, t in scenes], idx, tiles, np.zeros(6), np.ones(6),
                         np.array([c in OPTICAL_CHANNELS for c in channels]), cache_mb=1024)  # fmt: skip
        fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
        batches = []
        for b0 in range(0, len(tiles), batch):
            xb, yb = ds.batch(range(b0, min(b0 + batch, len(tiles))))
            batches.append((torch.from_numpy(xb).contiguous(memory_format=fmt), torch.from_numpy(yb)))
        torch.manual_seed(0)
        model = UNetCBAM(UNetSpec(6, 3, 16, 3, 0.5, True)).to(memory_format=fmt)
        step_s = _step_alone(model, batches, bf16, loss_fn)
        fwd_s = _forward_alone(model, batches, bf16)
        f_fwd, f_train = _flops_per_tile(model, *batches[0], loss_fn)
        step_tiles = last["forward_s"] + last["backward_s"] + last["optim_s"]
        train_gflops = f_train * last["tiles"] / step_tiles / 1e9
        rows.append((
            name, int(last["tiles"]), last["seconds"], *[last[k] for k in EPOCH_PHASES],
            f"{100 * step_share(last):.0f} %", f"{last['seconds'] / (last['tiles'] * step_s):.2f}",
            f"{last['tiles'] / last['seconds']:.2f}", f"{train_gflops:.1f}", f"{f_fwd / fwd_s / 1e9:.1f}",
            f"{train_gflops / (f_fwd / fwd_s / 1e9):.2f}", f"{last['val_miou']:.3f}",
        ))  # fmt: skip
        print(
            f"  {name}: step alone {step_s:.4f} s/tile, inference forward alone {fwd_s:.4f} s/tile; "
            f"{f_train / 1e9:.2f} GFLOP per training tile, {f_fwd / 1e9:.2f} GFLOP per forward; "
            f"load {os.getloadavg()[0]:.1f}"
        )
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in r) + " |")
    print(f"load {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/glacierinv-train-throughput"))
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--bf16", action="store_true", help="time bf16 also where the CPU has no native bf16")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run(args)


if __name__ == "__main__":
    main()
