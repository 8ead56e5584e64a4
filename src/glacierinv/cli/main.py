"""Entry point of the ``glacierinv`` command.

Each command group lives in its own module under ``glacierinv.cli`` and exposes ``register(app)``.
"""

from __future__ import annotations

import importlib

import typer

from glacierinv import __version__
from glacierinv.cli._common import ErrorHandlingGroup, setup_logging

# One module per command group; each defines register(app: typer.Typer).
COMMAND_MODULES = (
    "glacierinv.cli.synth",
    "glacierinv.cli.run",
    "glacierinv.cli.config",
    "glacierinv.cli.preprocess",
    "glacierinv.cli.segment",
    "glacierinv.cli.dem",
    "glacierinv.cli.units",
    "glacierinv.cli.attributes",
    "glacierinv.cli.assess",
    "glacierinv.cli.analyse",
    "glacierinv.cli.report",
    "glacierinv.cli.refine",
)

app = typer.Typer(
    cls=ErrorHandlingGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Build high-resolution glacier inventories from satellite imagery and DEMs.\n\n"
    "$ glacierinv demo --out demo-run",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: "[inputs] dem" stays as written (no rich markup eaten)
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"glacierinv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors; no progress bars."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    setup_logging(verbose, quiet)
    # process-wide settings, once, at the entry point (the library never changes them): a bounded GDAL block
    # cache (a pipeline run sets its own [runtime] gdal_cache_mb per stage, inside this one)
    from glacierinv.config import RuntimeConfig
    from glacierinv.memory import gdal_block_cache

    ctx.with_resource(gdal_block_cache(RuntimeConfig().gdal_cache_mb))


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
