"""``glacierinv report``: the self-contained offline HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options


def register(app: typer.Typer) -> None:
    """Add the ``report`` command."""

    @app.command("report")
    def report_cmd(
        run: Path = typer.Argument(..., help="Run folder (with inventory.gpkg)."),
        out: Path = typer.Option(None, "--out", "-o", help="Folder of index.html (default RUN/report)."),
        title: str = typer.Option(None, "--title", help="Page title (default: the run's name)."),
        analyse: bool = typer.Option(
            False, "--analyse", help="First run the analyses into RUN/analysis with the run's DEMs."
        ),
        force: bool = options.force("Overwrite an existing report / analysis folder."),
    ) -> None:
        """Write one HTML page that opens offline: summary, accuracy, map, figures, attribute table.

        $ glacierinv report run --analyse
        """
        from glacierinv.errors import InputError
        from glacierinv.io.atomic import refuse_overwrite
        from glacierinv.pipeline.runfolder import RunFolder
        from glacierinv.report import write_report

        if not run.is_dir():
            raise InputError("run folder not found", run, "Give the folder written by `glacierinv run`")
        if not (run / RunFolder.INVENTORY).exists():
            raise InputError("no inventory.gpkg in the run folder", run, "Run the attributes stage first")
        target = (out or run / "report") / "index.html"
        refuse_overwrite(target, force)
        if analyse:
            from glacierinv.analysis import analyse_run

            analyse_run(run, force=force)
        path = write_report(run, out_dir=out, title=title)
        typer.echo(f"report → {path}")
