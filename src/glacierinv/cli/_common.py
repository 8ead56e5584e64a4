"""Shared CLI plumbing: the error-catching command group, logging setup, the rich console."""

from __future__ import annotations

import logging

import click
import typer
from rich.console import Console
from rich.logging import RichHandler
from typer.core import TyperCommand, TyperGroup

from glacierinv.errors import GlacierInvError

__all__ = [
    "ErrorHandlingGroup",
    "ListOptionCommand",
    "refuse_nonempty_folder",
    "console",
    "err_console",
    "read_outlines_dem_debris",
    "setup_logging",
]

console = Console()
err_console = Console(stderr=True)


class ErrorHandlingGroup(TyperGroup):
    """A command group that turns :class:`GlacierInvError` into one line on stderr and exit code 2.

    Bugs (any other exception) keep their traceback. On/off flags of every command (and sub-group) are
    shown without a value type in the help (``--force``, not ``--force <bool>``).
    """

    def get_command(self, ctx: click.Context, cmd_name: str):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_flags(cmd)
        return cmd

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GlacierInvError as exc:
            click.echo(f"glacierinv: error: {exc}", err=True)
            raise typer.Exit(2) from None


def _plain_flags(cmd: click.Command) -> None:
    """On/off flags take no value: give them an empty metavar so the help shows no ``<bool>``."""
    for p in cmd.params:  # duck-typed: typer ships its own copy of click
        if not _is_option(p) or p.metavar is not None:
            continue
        if getattr(p, "is_flag", False) and not getattr(p, "count", False):
            p.metavar = ""
        elif getattr(p, "multiple", False):
            desc = getattr(p, "type_descriptor", None)
            p.metavar = "<path>..." if getattr(desc, "is_path", False) else "<value>..."  # not <list[Path]>
    for sub in (getattr(cmd, "commands", None) or {}).values():
        _plain_flags(sub)


def _is_option(p) -> bool:
    return getattr(p, "param_type_name", "") == "option"


class ListOptionCommand(TyperCommand):
    """A command whose list options take several values after one flag, as a shell glob gives them:
    ``--altimetry ATL06_a.h5 ATL06_b.h5`` (every following value up to the next option)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        multi = {o for p in self.params if _is_option(p) and getattr(p, "multiple", False) for o in p.opts}
        out: list[str] = []
        current, taken = None, 0
        for i, a in enumerate(args):
            if a == "--":
                out.extend(args[i:])
                break
            if a.startswith("-"):
                current, taken = (a if a in multi else None), 0
                out.append(a)
            elif current is not None:
                out.extend([a] if taken == 0 else [current, a])
                taken += 1
            else:
                out.append(a)
        return super().parse_args(ctx, out)


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


def refuse_nonempty_folder(out, force: bool) -> None:
    """Refuse an output folder that exists and is not empty (or is a file), unless ``force``: the
    convention of every command that writes a folder (analyse, compare, assess, synth, run)."""
    from pathlib import Path

    from glacierinv.errors import OutputExists

    p = Path(out)
    if p.exists() and not p.is_dir():
        raise OutputExists(f"{p}: exists and is not a folder. Choose another --out.")
    if p.is_dir() and any(p.iterdir()) and not force:
        raise OutputExists(
            f"{p}: folder is not empty. Choose another --out or pass --force to write into it."
        )
