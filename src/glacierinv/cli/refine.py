"""``glacierinv refine``: export outlines for manual editing in QGIS and apply the edits with provenance."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli.options import param_option


def register(app: typer.Typer) -> None:
    """Add the ``refine`` group (export, apply)."""
    from glacierinv.cli._common import ErrorHandlingGroup

    refine = typer.Typer(
        cls=ErrorHandlingGroup,
        no_args_is_help=True,
        help="Manual refinement: export outlines to edit in QGIS, apply the edits with provenance.",
    )

    refine.command("export")(export_cmd)
    refine.command("apply")(apply_cmd)
    refine.command("rebase")(rebase_cmd)
    app.add_typer(refine, name="refine")


def export_cmd(
    run: Path = typer.Argument(..., help="Run folder (written by `glacierinv run`)."),
    out: Path = options.out("GeoPackage to edit (layers glaciers, debris, review, divides)."),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """Write the outlines to edit, styled for QGIS, with the review flags beside them.

    $ glacierinv refine export RUN --out edit.gpkg
    """
    from glacierinv.outlines.refine import export_for_editing

    path = export_for_editing(run, out, force=force)
    typer.echo(f"layers to edit → {path} (edit glaciers/debris in QGIS, then `glacierinv refine apply`)")


def apply_cmd(
    run: Path = typer.Argument(..., help="Run folder (written by `glacierinv run`)."),
    edited: Path = typer.Option(..., "--edited", help="The edited GeoPackage (layers glaciers, debris)."),
    editor: str = typer.Option(None, "--editor", help="Name recorded in the provenance (default: login)."),
    out: str = param_option(
        "glacierinv.pipeline.refinement:apply_edits",
        "out_name",
        "--out",
        help="Output file name inside RUN (never outlines.gpkg).",
    ),
    force: bool = options.force("Overwrite an earlier refined output."),
) -> None:
    """Validate the edits, record provenance, recompute changed units, write RUN/outlines_refined.gpkg
    and RUN/refine_summary.csv. The automated outlines.gpkg and inventory.gpkg are never modified.

    $ glacierinv refine apply RUN --edited edit.gpkg --editor "A. Analyst"
    """
    from glacierinv.cli.options import library_default
    from glacierinv.errors import InputError
    from glacierinv.pipeline.refinement import apply_edits
    from glacierinv.pipeline.runfolder import RunFolder

    out = out or library_default("glacierinv.pipeline.refinement:apply_edits", "out_name")
    if Path(out).name in (RunFolder.OUTLINES, RunFolder.INVENTORY, RunFolder.UNITS) or Path(out).name != out:
        raise InputError(
            f"--out {out!r} is not allowed",
            run,
            "Give a plain file name other than the automated outputs",
        )
    stem = Path(out).stem
    summary = "refine_summary.csv" if stem == "outlines_refined" else f"{stem}_summary.csv"
    res = apply_edits(run, edited, editor=editor, out_name=out, summary_name=summary, force=force)
    for r in res.repairs.itertuples():
        typer.echo(f"repair: {r.layer} {r.feature}: {r.repair} ({r.detail})")
    counts = res.edits["action"].value_counts().to_dict() if len(res.edits) else {}
    changes = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no changes"
    typer.echo(
        f"{changes}; {len(res.repairs)} repair(s); {len(res.recomputed)} unit(s) recomputed → "
        f"{res.out_path}, {res.summary_path}"
    )


def rebase_cmd(
    run: Path = typer.Argument(..., help="Run folder, re-run after edits were applied."),
    out: Path = options.out("New GeoPackage to edit, with a conflicts layer."),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """Carry applied edits over to re-run automated outlines and list the conflicts.

    $ glacierinv refine rebase RUN --out edit2.gpkg
    """
    from glacierinv.outlines.refine import rebase_edits

    path, conflicts = rebase_edits(run, out, force=force)
    for c in conflicts.itertuples():
        typer.echo(
            f"conflict: {c.outline_id} ({c.action}): {c.changed_m2:.0f} m² of automated outline changed"
        )
    typer.echo(f"{len(conflicts)} conflict(s); edits carried over → {path} (check, then `refine apply`)")
