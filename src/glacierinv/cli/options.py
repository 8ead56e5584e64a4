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

__all__ = [
    "PARAM_OPTIONS",
    "SECTION_OPTIONS",
    "force",
    "given",
    "library_default",
    "out",
    "param_option",
    "section_of",
    "section_option",
    "stage_config",
]

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


#: ``(function name, parameter, flag)`` of every option declared with :func:`param_option`.
PARAM_OPTIONS: list[tuple[str, str, str]] = []


def param_option(where: str, param: str, *flags: str, help: str) -> Any:  # noqa: A002
    """An option for a library parameter that no config section holds: default None (the function's own
    default applies, the only copy of it; pass the option with :func:`given`), shown in the help.

    ``where`` is ``"module:function"`` (or ``"module:Class"`` for a dataclass field); the default is read
    from the module's source, so the command-line interface does not import the library to draw its help.
    """
    default = library_default(where, param)
    PARAM_OPTIONS.append((where, param, flags[0]))
    return typer.Option(None, *flags, help=f"{help} [default: {_shown(default)}]", show_default=False)


def library_default(where: str, param: str) -> Any:
    """The literal default of ``param`` of ``"module:function"`` / ``"module:Class"`` (a dataclass field),
    read from the source with :mod:`ast`."""
    import ast

    import glacierinv

    module, name = where.split(":")
    path = Path(glacierinv.__file__).parent.joinpath(*module.split(".")[1:])  # not imported: no package init
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == param and item.value:
                return _literal(tree, item.value)
    else:
        args = node.args
        pos = args.posonlyargs + args.args
        pairs = list(zip(pos[len(pos) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, value in pairs:
            if arg.arg == param:
                return _literal(tree, value)
    raise KeyError(f"{where} has no literal default for {param!r}")


def _literal(tree, value) -> Any:
    """A literal, or the literal a module-level constant of that name holds (``= DEFAULT_THRESHOLDS``)."""
    import ast

    if isinstance(value, ast.Name):
        for n in tree.body:
            targets = (
                n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
            )
            if any(getattr(t, "id", None) == value.id for t in targets) and n.value is not None:
                return ast.literal_eval(n.value)
    return ast.literal_eval(value)


def given(**values: Any) -> dict[str, Any]:
    """The options given on the command line (not None; an empty list counts as not given)."""
    return {k: v for k, v in values.items() if v is not None and v != []}


def stage_config(
    *,
    run: Path | None = None,
    dem: Path | None = None,
    z_unit: str | None = None,
    need_dem: bool = True,
    **sections: dict,
) -> Any:
    """The :class:`~glacierinv.config.RunConfig` of a stage command: a run folder's configuration
    (``--run``) or the defaults, with ``dem`` and the given section values (``{"attributes": {...}}``)
    on top, validated like a config file (a bad value names its option). ``need_dem=False`` (a stage that
    reads no DEM, e.g. segment): without a DEM the configuration has no ``[inputs]``."""
    from glacierinv.config import RunConfig
    from glacierinv.errors import ConfigError

    if run is not None:
        from glacierinv.pipeline.runfolder import read_run_config

        base = read_run_config(run)
        data, base_dir = base.model_dump(mode="json"), base.base_dir
    else:
        data, base_dir = {"inputs": {}}, Path.cwd()
    if dem is not None:
        data["inputs"]["dem"] = str(Path(dem).resolve())
    if z_unit is not None:
        data.setdefault("dem", {})["z_unit"] = z_unit
    for name, values in sections.items():
        data.setdefault(name, {}).update({k: _absolute(v) for k, v in values.items()})
    if data["inputs"].get("dem"):
        return _validated(data).model_copy(update={"base_dir": Path(base_dir)})
    if need_dem:
        raise ConfigError("--dem is required (or --run RUN, whose configuration names the DEM)")
    probe = _validated({**data, "inputs": {"dem": "-"}})  # the sections, validated; no [inputs] without a DEM
    return RunConfig.model_construct(
        inputs=None, base_dir=Path(base_dir), **{k: getattr(probe, k) for k in data if k != "inputs"}
    )


def _validated(data: dict) -> Any:
    """``RunConfig`` of ``data``; an invalid value is one error line naming its option (or setting)."""
    from pydantic import ValidationError

    from glacierinv.config import RunConfig
    from glacierinv.errors import ConfigError

    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(x) for x in err["loc"])
        flag = next((f for sec, field, f in SECTION_OPTIONS if (sec, field) == loc[:2]), None)
        where = flag or f"[{loc[0]}] {'.'.join(loc[1:])}"
        raise ConfigError(f"invalid {where}: {err['msg']}") from None


def _absolute(value: Any) -> Any:
    """Paths given on the command line are relative to the working folder, not to a run's config."""
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, (list, tuple)):
        return [_absolute(v) for v in value]
    return value
