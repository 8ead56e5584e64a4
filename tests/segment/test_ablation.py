"""Ablation runner: all Table S1 variants on one split, table files, resume of finished variants."""

from __future__ import annotations

import csv

from glacierinv.segment.ablation import FEATURE_SETS, run_ablation, variants
from tests.segment.test_train import _toml


def test_variants_cover_features_and_losses():
    v = variants("dice")
    assert [c for _, c, _ in v[:4]] == list(FEATURE_SETS.values())
    assert {loss for *_, loss in v} == {"dice", "focal"}


def test_run_ablation_writes_table_and_resumes(tmp_path):
    cfg = _toml(tmp_path, max_epochs=1)
    table = run_ablation(cfg, tmp_path / "abl")
    assert len(table["rows"]) == 5
    with open(tmp_path / "abl" / "ablation.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["channels"] for r in rows[:4]] == [",".join(c) for c in FEATURE_SETS.values()]
    assert all(0 <= float(r["miou"]) <= 1 for r in rows)
    assert (tmp_path / "abl" / "ablation.md").read_text().count("\n") == 7
    mtime = (tmp_path / "abl" / "ms__dice" / "best.pt").stat().st_mtime
    run_ablation(cfg, tmp_path / "abl")  # finished variants are not retrained
    assert (tmp_path / "abl" / "ms__dice" / "best.pt").stat().st_mtime == mtime
