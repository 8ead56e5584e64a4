"""Options shared by the commands, declared once (as rasterio's ``rio/options.py`` does).

Every command that writes files takes ``--out/-o`` and refuses to overwrite anything without ``--force``.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["force", "out"]


def out(help: str) -> Any:  # noqa: A002 - typer's keyword
    """A required ``--out/-o`` path option; ``help`` says what is written there."""
    return typer.Option(..., "--out", "-o", help=help)


def force(help: str = "Overwrite --out if it exists.") -> Any:  # noqa: A002
    """The ``--force`` flag: without it, a command refuses to overwrite an existing output."""
    return typer.Option(False, "--force", help=help)
