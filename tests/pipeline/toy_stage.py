"""A toy stage for tests/pipeline/test_stage_registry.py and the worked example in docs/pipeline.md:
glaciers per aspect sector from the inventory → ``aspect_counts.csv``. One module, one registration line."""

from __future__ import annotations

from typing import Any

from glacierinv.pipeline.stage import Stage, run_files


def aspect_counts(glaciers) -> dict[int, int]:
    """Glaciers per RGI aspect sector (1 = N … 8 = NW, 9 = not assigned): the pure library function."""
    return {int(k): int(v) for k, v in glaciers["aspect_sec"].value_counts().sort_index().items()}


def _run(cfg, run, progress) -> dict[str, Any]:
    import pyogrio

    from glacierinv.io.atomic import atomic_path

    glaciers = pyogrio.read_dataframe(run / "inventory.gpkg", layer="glaciers", read_geometry=False)
    counts = aspect_counts(glaciers)
    with atomic_path(run / "aspect_counts.csv") as tmp:
        tmp.write_text("aspect_sec,n\n" + "".join(f"{k},{n}\n" for k, n in counts.items()))
    return {"n_glaciers": int(len(glaciers)), "n_sectors": len(counts)}


STAGE = Stage(
    name="toy",
    description="glaciers per aspect sector",
    reads=lambda cfg, run: run_files(run, ("inventory.gpkg",)),
    config_sections=("attributes",),
    writes=lambda cfg: ["aspect_counts.csv"],
    run=_run,
)
