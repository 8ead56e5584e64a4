"""Rebuild the subsets in this folder from the upstream tables (a seeded, stratified sample).

    python tests/data/real_spectra/data.py UPSTREAM_REPO_DIR

UPSTREAM_REPO_DIR is a checkout of RaineyAbe/glacier-snow-cover-mapping (commit in README.md). For each
of ``Landsat_training_data.csv`` and ``Sentinel-2_SR_training_data.csv`` under
``inputs-outputs/models_training_data/``, at most ``PER_GROUP`` rows of every (site, image date, class)
group are drawn without replacement with ``numpy.random.default_rng(SEED)``, leaving out the images of
:data:`glacierinv.segment.spectra.EXCLUDED_IMAGES`; the drawn lines are copied verbatim, in their
original order, under the original header.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from glacierinv.segment.real_spectra import EXCLUDED_IMAGES

SEED = 26
PER_GROUP = 10
TABLES = {"landsat": "Landsat_training_data.csv", "sentinel2": "Sentinel-2_SR_training_data.csv"}
HERE = Path(__file__).parent


def subset(src: Path, sensor: str, dst: Path) -> int:
    lines = src.read_text().splitlines()
    table = pd.read_csv(src, dtype={"image_date": str, "site_name": str})
    excluded = {(site, date) for (s, site, date) in EXCLUDED_IMAGES if s == sensor}
    keep = ~pd.Series(list(zip(table.site_name, table.image_date, strict=True))).isin(excluded)
    rng = np.random.default_rng(SEED)
    picked: list[int] = []
    for _, group in table[keep.to_numpy()].groupby(["site_name", "image_date", "class"], sort=True):
        n = min(PER_GROUP, len(group))
        picked += rng.choice(group.index.to_numpy(), size=n, replace=False).tolist()
    dst.write_text("\n".join([lines[0], *(lines[i + 1] for i in sorted(picked))]) + "\n")
    return len(picked)


def main(upstream: Path) -> None:
    folder = upstream / "inputs-outputs" / "models_training_data"
    for sensor, name in TABLES.items():
        n = subset(folder / name, sensor, HERE / name)
        print(f"{name}: {n} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
