"""The run folder: ``run.json`` manifest, content hashes, a writer lock, and the run log.

A run folder holds every output of one inventory run (DESIGN.md, "The run folder"). ``run.json`` records,
per stage, its status, input hashes, parameters, software versions, timings and outputs; a stage whose
inputs and parameters are unchanged is skipped on re-run. The manifest itself is rewritten atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from glacierinv import __version__
from glacierinv.errors import OutputError
from glacierinv.io.atomic import atomic_path

__all__ = ["MANIFEST", "RunFolder", "file_digest", "read_run_config", "software_versions"]

MANIFEST = "run.json"
LOCK = ".glacierinv.lock"
LOG = "run.log"
_FULL_HASH_LIMIT = 256 * 1024**2  # bytes; larger files are fingerprinted (size, mtime, head+tail hash)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (or of a folder's files, sorted by name).

    Files above 256 MiB are fingerprinted by size, modification time and the hash of their first and
    last MiB, so re-runs over 10¹⁰-pixel scenes do not re-read them; document this when it matters.
    """
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for child in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(str(child.relative_to(p)).encode())
            h.update(file_digest(child).encode())
        return h.hexdigest()
    size = p.stat().st_size
    with p.open("rb") as fh:
        if size <= _FULL_HASH_LIMIT:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:
            h.update(f"{size}:{p.stat().st_mtime_ns}".encode())
            h.update(fh.read(1 << 20))
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read(1 << 20))
    return h.hexdigest()


def read_run_config(run_dir: str | Path):
    """The :class:`~glacierinv.config.RunConfig` recorded in a run folder's ``run.json``.

    Relative input paths resolve against the folder the original config was in (``config_base_dir``).
    """
    from glacierinv.config import config_from_dict
    from glacierinv.errors import InputError

    manifest = Path(run_dir) / MANIFEST
    if not manifest.exists():
        raise InputError(
            "not a run folder (no run.json)", run_dir, "Run `glacierinv run CONFIG --out RUN` first"
        )
    try:
        data = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(
            f"run.json is unreadable ({exc})", manifest, "Re-run the pipeline to rewrite it"
        ) from None
    if "config" not in data:
        raise InputError("run.json has no config", manifest, "Re-run the pipeline to record it")
    return config_from_dict(data["config"], Path(data.get("config_base_dir", run_dir)), str(manifest))


def software_versions() -> dict[str, str]:
    """Versions of Python, glacierinv and the libraries that shape the results."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "glacierinv": __version__}
    # read from the installed distributions' metadata: no import (torch alone costs ~1 s to import)
    for name, dist in (
        ("numpy", "numpy"),
        ("scipy", "scipy"),
        ("rasterio", "rasterio"),
        ("shapely", "shapely"),
        ("geopandas", "geopandas"),
        ("pyproj", "pyproj"),
        ("skimage", "scikit-image"),
        ("pyflwdir", "pyflwdir"),
        ("torch", "torch"),
    ):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(dist)
    with contextlib.suppress(Exception):
        import rasterio

        versions["gdal"] = rasterio.__gdal_version__
    return versions


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunFolder:
    """A run folder and its manifest.

    Parameters
    ----------
    path
        The folder; created if missing.
    """

    #: The run folder's files that several stages or tools read, named once here (the stage in the comment
    #: writes it and declares it with this name; readers open ``run / RunFolder.CLASSES`` — a ``Path`` or a
    #: ``RunFolder`` alike). The whole layout: docs/pipeline.md.
    STACK = "stack.tif"  # stack
    MASKS = "masks.tif"  # stack: cloud, shadow
    SOURCE = "source.tif"  # stack: which product each pixel came from
    CLASSES = "classes.tif"  # segment
    PROBA = "proba.tif"  # segment (optional)
    UNCERTAINTY = "uncertainty.tif"  # segment (U-Net with confidence)
    OUTLINES = "outlines.gpkg"  # outlines
    UNITS = "units.gpkg"  # units
    INVENTORY = "inventory.gpkg"  # attributes
    UNCERTAINTY_JSON = "uncertainty.json"  # attributes
    ASSESSMENT = "assessment.json"  # assess

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest_path = self.path / MANIFEST
        self.manifest: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        if self.manifest_path.exists():
            try:
                return json.loads(self.manifest_path.read_text())
            except json.JSONDecodeError:
                # a manifest is only ever replaced atomically, so this is outside damage: start afresh
                logging.getLogger(__name__).warning(
                    "%s is unreadable; all stages will run again", self.manifest_path
                )
        return {"stages": {}}

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def save(self) -> None:
        """Write the manifest atomically."""
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=2, default=str))

    # -- stage records -------------------------------------------------------------------------------------
    def stage(self, name: str) -> dict[str, Any]:
        return self.manifest.setdefault("stages", {}).get(name, {})

    def is_current(
        self, name: str, inputs: dict[str, str], params: dict[str, Any], outputs: list[str]
    ) -> bool:
        """True if stage ``name`` finished with these input hashes and parameters and its outputs exist."""
        rec = self.stage(name)
        return (
            rec.get("status") == "done"
            and rec.get("inputs") == inputs
            and rec.get("params") == json.loads(json.dumps(params, default=str))
            and all((self.path / o).exists() for o in outputs)
        )

    def record(self, name: str, **fields: Any) -> None:
        stages = self.manifest.setdefault("stages", {})
        rec = stages.setdefault(name, {})
        rec.update(json.loads(json.dumps(fields, default=str)))
        self.save()

    # -- lock and log --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder; a second writer gets a clear error.

        A lock left by a killed process (its pid no longer alive on this host) is taken over.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = _read_pid(lock)
                if pid is not None and _alive(pid):
                    raise OutputError(
                        f"{self.path}: another glacierinv process (pid {pid}) is writing this run folder. "
                        "Wait for it to finish or use another --out."
                    ) from None
                lock.unlink(missing_ok=True)  # stale lock from a killed run
                continue
            except OSError as exc:
                raise OutputError(
                    f"{self.path}: cannot write the run folder ({exc.strerror}). Choose a writable --out."
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            break
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    @contextlib.contextmanager
    def logging_to_file(self) -> Iterator[None]:
        """Copy the ``glacierinv`` log to ``run.log`` in the folder while the block runs."""
        logger = logging.getLogger("glacierinv")
        handler = logging.FileHandler(self.path / LOG, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            previous = logger.level
            logger.setLevel(logging.INFO)
        else:
            previous = None
        try:
            yield
        finally:
            logger.removeHandler(handler)
            handler.close()
            if previous is not None:
                logger.setLevel(previous)


def _read_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
