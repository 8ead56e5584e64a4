"""The glacierinv error hierarchy.

Every error a user can fix derives from :class:`GlacierInvError` *and* a builtin exception, so callers
can catch either. Messages say what is wrong, where (file, band, layer) and how to fix it; the CLI
prints them as one line and exits with code 2. Bugs are not wrapped: they keep their traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "GlacierInvError",
    "InputError",
    "CRSMismatch",
    "NoOverlap",
    "ConfigError",
    "OutputExists",
    "OutputError",
    "CheckpointError",
    "NotImplementedMethod",
]


class GlacierInvError(Exception):
    """Base of all user-facing glacierinv errors (bad input, bad config, refused overwrite)."""


class InputError(GlacierInvError, ValueError):
    """An input file is missing, unreadable, or does not hold what the stage needs."""

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None):
        parts = [f"{path}: {message}" if path is not None else message]
        if fix:
            parts.append(fix)
        super().__init__(". ".join(p.rstrip(".") for p in parts) + ".")
        self.path = path


class CRSMismatch(InputError):
    """Two inputs that must share a CRS (or a reprojection path) do not."""


class NoOverlap(InputError):
    """Two inputs that must overlap on the ground do not."""


class ConfigError(GlacierInvError, ValueError):
    """The run configuration is invalid."""


class OutputExists(GlacierInvError, FileExistsError):
    """An output would overwrite something that exists; pass --force to allow it."""


class OutputError(GlacierInvError, OSError):
    """An output cannot be written (folder not writable, disk full, locked run folder)."""


class CheckpointError(GlacierInvError, ValueError):
    """A model checkpoint is unreadable, unsafe, or does not match the feature stack."""


class NotImplementedMethod(GlacierInvError, NotImplementedError):
    """A method or option that exists in the interface but is not implemented yet."""
