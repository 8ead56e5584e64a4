"""Feature and loss ablations (seed Table S1): which inputs and which loss map debris best.

Variants, all trained on the same tiles and the same spatial 8:1:1 split (the split depends only on
the scene sizes and the seed) and scored on the same test split:

- features with the configured loss: MS (blue, green, red, nir), MS+slope, MS+LST, MS+LST+slope;
- loss: Dice vs Focal with MS+LST+slope.

Each variant trains in ``OUT/<variant>/`` (skipped when already finished, so an interrupted ablation
resumes); the table goes to ``OUT/ablation.csv`` and ``OUT/ablation.md``.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from glacierinv.io.atomic import atomic_path
from glacierinv.segment.train import TrainConfig, train

__all__ = ["FEATURE_SETS", "run_ablation", "variants"]

log = logging.getLogger(__name__)

MS = ["blue", "green", "red", "nir"]
FEATURE_SETS = {
    "MS": MS,
    "MS+slope": [*MS, "slope"],
    "MS+LST": [*MS, "lst"],
    "MS+LST+slope": [*MS, "lst", "slope"],
}


def variants(base_loss: str = "dice") -> list[tuple[str, list[str], str]]:
    """(name, channels, loss) of every ablation variant."""
    out = [(f"{name} ({base_loss})", ch, base_loss) for name, ch in FEATURE_SETS.items()]
    other = "focal" if base_loss != "focal" else "dice"
    out.append((f"MS+LST+slope ({other})", FEATURE_SETS["MS+LST+slope"], other))
    return out


def _slug(name: str) -> str:
    return name.replace("+", "_").replace(" (", "__").replace(")", "").lower()


def run_ablation(
    cfg: TrainConfig, out_dir: str | Path, *, force: bool = False, only: list[str] | None = None
) -> dict[str, Any]:
    """Train and test every variant; returns ``rows`` (list of dicts) and ``markdown`` (the table)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, channels, loss in variants("dice" if cfg.loss == "dice_ce" else cfg.loss):
        if only and name not in only:
            continue
        run = out / _slug(name)
        done = run / "test_metrics.json"
        if done.exists() and not force:
            summary = json.loads(done.read_text())
        else:
            vcfg = cfg.model_copy(update={"channels": channels, "loss": loss})
            summary = train(vcfg, run, resume=(run / "last.pt").exists() and not force, force=True)
        test = summary.get("test") or {}
        f1 = test.get("f1", {})
        rows.append(
            {
                "variant": name,
                "channels": ",".join(channels),
                "loss": loss,
                "epochs": summary["epochs_run"],
                "oa": test.get("oa"),
                "f1_background": f1.get("background"),
                "f1_clean_ice": f1.get("clean_ice"),
                "f1_debris": f1.get("debris"),
                "miou": test.get("miou"),
            }
        )
        log.info("ablation %s: test mIoU %s", name, test.get("miou"))
    if not rows:
        return {"rows": [], "markdown": ""}
    with atomic_path(out / "ablation.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = _markdown(rows)
    with atomic_path(out / "ablation.md") as tmp:
        tmp.write_text(md + "\n")
    return {"rows": rows, "markdown": md}


def _markdown(rows: list[dict]) -> str:
    def f(v):
        return "–" if v is None else f"{v:.3f}"

    lines = [
        "| variant | epochs | OA | F1 background | F1 clean ice | F1 debris | mIoU |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['epochs']} | {f(r['oa'])} | {f(r['f1_background'])} | "
            f"{f(r['f1_clean_ice'])} | {f(r['f1_debris'])} | {f(r['miou'])} |"
        )
    return "\n".join(lines)
