"""``glacierinv run``, ``glacierinv demo`` and ``glacierinv stage``: the pipeline over a run folder."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from glacierinv.cli import options
from glacierinv.cli._common import console
from glacierinv.cli.options import param_option, section_option
from glacierinv.config import RuntimeConfig, SegmentConfig

__all__ = ["register"]


def _quiet() -> bool:
    return logging.getLogger("glacierinv").level >= logging.WARNING


@contextlib.contextmanager
def _progress_bars() -> Iterator:
    """A rich progress factory for run_pipeline (none with --quiet)."""
    if _quiet():
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.fields[stage]:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as bars:

        def factory(stage: str, description: str):
            task = bars.add_task(description, total=1.0, stage=stage)
            return lambda fraction: bars.update(task, completed=min(1.0, max(0.0, float(fraction))))

        yield factory


def _check_out(out: Path, force: bool) -> None:
    """Refuse a non-empty folder that is not a run folder, unless --force."""
    from glacierinv.errors import OutputExists

    if out.exists() and not out.is_dir():
        raise OutputExists(f"{out}: exists and is not a folder. Choose another --out.")
    if out.is_dir() and any(out.iterdir()) and not (out / "run.json").exists() and not force:
        raise OutputExists(
            f"{out}: folder is not empty and is not a glacierinv run folder. Choose another --out or pass --force."
        )


def _run_with_progress(run, *args, **kwargs) -> None:
    """``run(*args, **kwargs)`` (``run_pipeline`` or ``run_stage``) with progress bars; then its summary."""
    with _progress_bars() as factory:
        result = run(*args, progress_factory=factory, **kwargs)
    _print_summary(result)


def _print_summary(result) -> None:
    """The answer of a run: stage table (not with --quiet), inventory figures and warnings (always)."""
    if not _quiet():
        stages = Table(title="stages", show_edge=False)
        stages.add_column("stage")
        stages.add_column("status")
        for name, status in result.stages.items():
            stages.add_row(name, status)
        console.print(stages)
    attrs = result.summaries.get("attributes", {})
    acc = result.summaries.get("assess", {})
    table = Table(title="inventory", show_edge=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    if attrs:
        table.add_row("glaciers", f"{attrs.get('n_glaciers', '?')}")
        area = attrs.get("area_km2")
        unc = attrs.get("unc_glacier_unc_km2")
        table.add_row("glacier area (km²)", f"{area:.4f}" + (f" ± {unc:.4f}" if unc is not None else ""))
        table.add_row("debris area (km²)", f"{attrs.get('debris_km2', 0.0):.4f}")
    for key, label in (("oa", "overall accuracy"), ("miou", "mIoU"), ("truth_area_km2", "truth area (km²)")):
        if key in acc:
            table.add_row(label, f"{acc[key]:.4f}")
    if "area_rel_diff" in acc:
        table.add_row("area vs truth", f"{100 * acc['area_rel_diff']:+.2f} %")
    console.print(table)
    for name, summary in result.summaries.items():
        for w in (summary or {}).get("warnings") or []:
            console.print(f"[bold yellow]warning[/] ({name}): {escape(str(w))}")
    run = result.run_dir
    console.print(
        f"outputs in [bold]{run}[/]: inventory.gpkg, inventory.csv, assessment.json, analysis/, "
        "report/index.html (open it in a browser), run.json"
    )


def register(app: typer.Typer) -> None:
    """Add ``run``, ``demo`` and ``stage``."""
    app.command("run")(run_cmd)
    app.command("demo")(demo_cmd)
    app.command("stage")(stage_cmd)


def run_cmd(
    config: Path = typer.Argument(..., help="TOML run configuration (see `glacierinv config template`)."),
    out: Path = options.out("Run folder (created; an existing run is resumed)."),
    force: bool = options.force("Re-run every stage, overwriting outputs in --out."),
    workers: int = typer.Option(
        None, "--workers", help="Local Dask cluster with N workers (overrides config)."
    ),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler."),
    batches_per_worker: int = section_option(RuntimeConfig, "batches_per_worker", "--batches-per-worker"),
) -> None:
    """Run the whole pipeline on CONFIG into a run folder; finished stages are skipped.

    $ glacierinv run scene/config.toml --out run1
    """
    from glacierinv.config import load_config
    from glacierinv.pipeline import run_pipeline

    cfg = load_config(config)
    cfg = _with_runtime(cfg, workers, scheduler, batches_per_worker)
    _check_out(out, force)
    _run_with_progress(run_pipeline, cfg, out, force=force)


def demo_cmd(
    out: Path = typer.Option(
        Path("demo-run"), "--out", "-o", help="Run folder; the scene goes to OUT/scene."
    ),
    seed: int = param_option(
        "glacierinv.synthetic.scene:generate_scene", "seed", "--seed", help="Seed of the synthetic scene."
    ),
    size: int = param_option(
        "glacierinv.synthetic.scene:generate_scene",
        "size_px",
        "--size",
        help="Scene size in pixels of the fine (2 m) grid.",
    ),
    method: str = section_option(SegmentConfig, "method", "--method"),
    force: bool = options.force("Regenerate the scene and re-run every stage."),
) -> None:
    """Generate the synthetic scene and run the whole pipeline on it, then print a summary.

    $ glacierinv demo --out demo-run --seed 0 --size 1024
    """
    from glacierinv.cli.options import given, library_default, stage_config
    from glacierinv.config import load_config
    from glacierinv.pipeline import run_pipeline
    from glacierinv.synthetic import generate_scene

    segment = stage_config(need_dem=False, segment=given(method=method)).segment  # validated
    _check_out(out, force)
    scene = out / "scene"
    info = scene / "scene.json"
    where = "glacierinv.synthetic.scene:generate_scene"
    seed = library_default(where, "seed") if seed is None else seed
    size = library_default(where, "size_px") if size is None else size
    wanted = {"seed": seed, "size_px": size}
    current = json.loads(info.read_text()) if info.exists() else {}
    if force or any(current.get(k) != v for k, v in wanted.items()):
        if scene.exists():
            import shutil

            shutil.rmtree(scene)
        generate_scene(scene, seed=seed, size_px=size)
    cfg = load_config(scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": segment.method})})
    _run_with_progress(run_pipeline, cfg, out, force=force)


def stage_cmd(
    name: str = typer.Argument(
        ..., help="Stage: stack, segment, outlines, units, attributes, assess, analyse, report."
    ),
    run_dir: Path = typer.Argument(..., help="An existing run folder."),
    config: Path = typer.Option(
        None, "--config", help="Config to use (default: the one recorded in run.json)."
    ),
) -> None:
    """Re-run one stage over an existing run folder (later stages are not touched).

    $ glacierinv stage outlines run1
    """
    from glacierinv.config import load_config
    from glacierinv.pipeline import run_stage
    from glacierinv.pipeline.runfolder import read_run_config

    cfg = load_config(config) if config is not None else read_run_config(run_dir)
    _run_with_progress(run_stage, cfg, run_dir, name)


def _with_runtime(cfg, workers: int | None, scheduler: str | None, batches_per_worker: int | None = None):
    """``cfg`` with the Dask options given on the command line (validated as in a config file)."""
    from pydantic import ValidationError

    from glacierinv.errors import ConfigError

    given = {"workers": workers, "scheduler": scheduler, "batches_per_worker": batches_per_worker}
    update = {k: v for k, v in given.items() if v is not None}
    if not update:
        return cfg
    try:
        runtime = RuntimeConfig.model_validate(cfg.runtime.model_dump() | update)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise ConfigError(f"{flag}: {err['msg']}") from None
    return cfg.model_copy(update={"runtime": runtime})
