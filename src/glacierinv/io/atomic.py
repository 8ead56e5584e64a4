"""Atomic writes: every output is written to a temporary name beside its target and renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from glacierinv.errors import OutputError, OutputExists

__all__ = ["atomic_path", "check_writable", "refuse_overwrite"]


def refuse_overwrite(path: str | Path, force: bool) -> None:
    """Raise :class:`OutputExists` if ``path`` exists and ``force`` is false."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputExists(f"{p}: exists already. Choose another output or pass --force to overwrite it.")


def check_writable(folder: str | Path) -> None:
    """Raise :class:`OutputError` if ``folder`` cannot be created or written."""
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{p}: cannot create the output folder ({exc.strerror}). Choose a writable location."
        ) from None
    if not os.access(p, os.W_OK):
        raise OutputError(f"{p}: output folder is not writable. Choose a writable location.")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or an exception leaves no half-written file under the final name. Works for files and for
    folders (a temporary folder is renamed as a whole).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{target}: the writer produced no file")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(
            f"{target}: cannot write ({exc.strerror or exc}). Check free space and permissions."
        ) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    # GDAL side-cars (e.g. .aux.xml) written next to the temporary file
    for side in p.parent.glob(p.name + ".*"):
        with contextlib.suppress(OSError):
            side.unlink()
