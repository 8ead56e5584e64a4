"""Shared CLI plumbing: the error-catching command group, logging setup, the rich console."""

from __future__ import annotations

import logging

import click
import typer
from rich.console import Console
from rich.logging import RichHandler
from typer.core import TyperGroup

from glacierinv.errors import GlacierInvError

__all__ = ["ErrorHandlingGroup", "console", "err_console", "read_outlines_dem_debris", "setup_logging"]

console = Console()
err_console = Console(stderr=True)


class ErrorHandlingGroup(TyperGroup):
    """A command group that turns :class:`GlacierInvError` into one line on stderr and exit code 2.

    Bugs (any other exception) keep their traceback.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GlacierInvError as exc:
            click.echo(f"glacierinv: error: {exc}", err=True)
            raise typer.Exit(2) from None


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the ``glacierinv`` logger for the terminal (-v: debug, -q: warnings only)."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    logger = logging.getLogger("glacierinv")
    logger.setLevel(level)
    for h in list(logger.handlers):
        if isinstance(h, RichHandler):
            logger.removeHandler(h)
    handler = RichHandler(console=err_console, show_path=False, show_time=False, level=level)
    logger.addHandler(handler)
    logger.propagate = False


Z_UNIT_HELP = (
    "Vertical unit of the DEM: m, ft, us-ft (default: from the file's band unit or vertical CRS, else m). "
    "Elevations outside -500 to 9000 m are refused."
)


def read_outlines_dem_debris(outlines, layer, dem, debris, z_unit=None):
    """Read the inputs shared by ``units`` and ``attributes`` (clear errors): glacier polygons, a DEM that
    opens with plausible elevations (returned as a path carrying ``z_unit``), and optional debris polygons."""
    from glacierinv.io.dem import check_dem, dem_path
    from glacierinv.io.vector import read_vector

    glaciers = read_vector(outlines, layer=layer, polygons=True)
    dem = dem_path(dem, z_unit)
    check_dem(dem)
    deb = read_vector(debris, polygons=True, allow_empty=True) if debris else None
    return glaciers, dem, deb
