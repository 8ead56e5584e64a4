"""Options shared by the commands, declared once (as rasterio's ``rio/options.py`` does).

Every command that writes files takes ``--out/-o`` and refuses to overwrite anything without ``--force``.

An option that sets a value of the run configuration is declared with :func:`section_option`: its default
is ``None`` ("not given") and the value used is the configuration section's own default — the only copy of
it, shown in the help from the model (``tests/cli/test_defaults_once.py`` fails on a default typed into an
option). :func:`stage_config` turns the given options into the :class:`~glacierinv.config.RunConfig` the
stage's library function takes, so a stage command computes exactly what the stage computes in a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

__all__ = ["SECTION_OPTIONS", "force", "given", "out", "section_of", "section_option", "stage_config"]

#: ``(section name, field)`` of every option declared with :func:`section_option`, by its first flag and
#: the option's help (the test of defaults reads it).
SECTION_OPTIONS: list[tuple[str, str, str]] = []


def out(help: str) -> Any:  # noqa: A002 - typer's keyword
    """A required ``--out/-o`` path option; ``help`` says what is written there."""
    return typer.Option(..., "--out", "-o", help=help)


def force(help: str = "Overwrite --out if it exists.") -> Any:  # noqa: A002
    """The ``--force`` flag: without it, a command refuses to overwrite an existing output."""
    return typer.Option(False, "--force", help=help)


def section_of(model: type[BaseModel]) -> str:
    """The name of the :class:`~glacierinv.config.RunConfig` section whose model is ``model``."""
    from glacierinv.config import RunConfig

    for name, field in RunConfig.model_fields.items():
        if field.annotation is model:
            return name
    raise KeyError(f"{model.__name__} is not a section of RunConfig")


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


def section_option(model: type[BaseModel], field: str, *flags: str, help: str | None = None) -> Any:  # noqa: A002
    """An option setting ``[section] field``: default None, the value then comes from the section (the
    config's default, or a run's configuration); the help is the field's description and its default."""
    info = model.model_fields[field]
    default = info.get_default(call_default_factory=True)
    section = section_of(model)
    text = f"{help or info.description} [default: {_shown(default)}, from [{section}] {field}]"
    SECTION_OPTIONS.append((section, field, flags[0]))
    return typer.Option(None, *flags, help=text, show_default=False)


def given(**values: Any) -> dict[str, Any]:
    """The options given on the command line (not None; an empty list counts as not given)."""
    return {k: v for k, v in values.items() if v is not None and v != []}


def stage_config(
    *, run: Path | None = None, dem: Path | None = None, z_unit: str | None = None, **sections: dict
) -> Any:
    """The :class:`~glacierinv.config.RunConfig` of a stage command: a run folder's configuration
    (``--run``) or the defaults, with ``dem`` and the given section values (``{"attributes": {...}}``)
    on top, validated like a config file."""
    from glacierinv.config import config_from_dict
    from glacierinv.errors import ConfigError

    if run is not None:
        from glacierinv.runfolder import read_run_config

        base = read_run_config(run)
        data, base_dir = base.model_dump(mode="json"), base.base_dir
    else:
        data, base_dir = {"inputs": {}}, Path.cwd()
    if dem is not None:
        data["inputs"]["dem"] = str(Path(dem).resolve())
    if not data["inputs"].get("dem"):
        raise ConfigError("--dem is required (or --run RUN, whose configuration names the DEM)")
    if z_unit is not None:
        data.setdefault("dem", {})["z_unit"] = z_unit
    for name, values in sections.items():
        data.setdefault(name, {}).update({k: _absolute(v) for k, v in values.items()})
    return config_from_dict(data, base_dir=base_dir, source="command-line options")


def _absolute(value: Any) -> Any:
    """Paths given on the command line are relative to the working folder, not to a run's config."""
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, (list, tuple)):
        return [_absolute(v) for v in value]
    return value
