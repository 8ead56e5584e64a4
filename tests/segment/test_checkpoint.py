"""Checkpoints: round trip, weights_only safety, channel checks by name (never by position)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from glacierinv.errors import CheckpointError
from glacierinv.segment.checkpoint import ModelMeta, load_checkpoint, match_channels, save_checkpoint
from glacierinv.segment.model import UNetCBAM, UNetSpec

CH = ["blue", "green", "red", "nir", "lst", "slope"]


def tiny_model(seed: int = 0) -> tuple[UNetCBAM, ModelMeta]:
    torch.manual_seed(seed)
    spec = UNetSpec(in_channels=6, base_width=4, depth=2)
    meta = ModelMeta(
        spec, CH, [0.2, 0.2, 0.2, 0.25, 285.0, 20.0], [0.1, 0.1, 0.1, 0.1, 8.0, 10.0], tile_px=32
    )
    return UNetCBAM(spec).eval(), meta


def test_round_trip_same_outputs(tmp_path):
    model, meta = tiny_model()
    save_checkpoint(tmp_path / "m.pt", model, meta)
    loaded, lmeta = load_checkpoint(tmp_path / "m.pt")
    assert lmeta.channels == CH and lmeta.tile_px == 32 and lmeta.class_names[2] == "debris"
    assert lmeta.norm_mean == meta.norm_mean and lmeta.spec == meta.spec
    x = torch.randn(1, 6, 32, 32)
    torch.testing.assert_close(model(x), loaded(x))


def test_pickled_object_is_refused(tmp_path):
    """A checkpoint that needs arbitrary unpickling (here: a Fraction) is refused, not executed."""
    model, meta = tiny_model()
    save_checkpoint(tmp_path / "m.pt", model, meta)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["train"] = {"obj": Fraction(1, 3)}  # an arbitrary class: not allowed by weights_only
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(tmp_path / "evil.pt")


def test_garbage_and_foreign_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a glacierinv"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_not_matching_spec_are_refused(tmp_path):
    model, meta = tiny_model()
    save_checkpoint(tmp_path / "m.pt", model, meta)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["spec"]["base_width"] = 8
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "bad.pt")


def test_inconsistent_meta_is_refused():
    spec = UNetSpec(in_channels=2, base_width=4, depth=2)
    with pytest.raises(CheckpointError, match="inconsistent"):
        ModelMeta(spec, ["red", "nir"], [0.0], [1.0, 1.0])
    with pytest.raises(CheckpointError, match="std > 0"):
        ModelMeta(spec, ["red", "nir"], [0.0, 0.0], [1.0, 0.0])


def test_match_channels_by_name():
    _, meta = tiny_model()
    assert match_channels(meta, CH, "s.tif") == list(range(6))
    shuffled = ["slope", "LST", "nir", "red", "green", "blue", "ndwi"]
    assert match_channels(meta, shuffled, "s.tif") == [5, 4, 3, 2, 1, 0]
    with pytest.raises(CheckpointError, match="lst"):
        match_channels(meta, ["blue", "green", "red", "nir", "slope"], "s.tif")


def test_shipped_model_loads_and_describes_itself():
    model, meta = load_checkpoint(None)
    assert meta.channels == CH and meta.class_names == ["background", "clean_ice", "debris"]
    assert meta.train.get("test") is not None  # trained with a held-out test split
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
