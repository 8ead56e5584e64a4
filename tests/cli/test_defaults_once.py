"""Issue 24: every default exists once. An option of the command line that sets a configuration value
takes its default from the config model (``section_option``); one that sets a library parameter takes
it from the library function (``param_option``); no option has a default value typed into it."""

from __future__ import annotations

import pytest
import typer

from glacierinv.cli import options
from glacierinv.cli.main import app
from glacierinv.config import RunConfig

#: Commands owned elsewhere (the lead's training commands), and defaults that are not a value of the
#: computation: ``demo --out`` names a folder; ``--verbose`` counts flags.
_NOT_CHECKED_COMMANDS = {"train", "ablate"}
_ALLOWED = {("demo", "--out")}


def _commands(cmd, path=()):
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def _options():
    for path, cmd in _commands(typer.main.get_command(app)):
        if path.split(" ")[-1] in _NOT_CHECKED_COMMANDS:
            continue
        for p in cmd.params:
            if getattr(p, "param_type_name", "") == "option":
                yield path, p


def test_no_default_is_typed_into_an_option():
    typed = [
        f"{path} {p.opts[0]} = {p.default!r}"
        for path, p in _options()
        if p.default is not None
        and not getattr(p, "is_flag", False)
        and not getattr(p, "count", False)
        and not p.required
        and p.default not in ((), [])
        and (path, p.opts[0]) not in _ALLOWED
    ]
    assert typed == [], "defaults typed into CLI options (use section_option / param_option):\n" + "\n".join(
        typed
    )


def test_section_options_show_the_models_default_and_map_to_a_field():
    import re

    shown = [
        (path, p.opts[0], m.groups())
        for path, p in _options()
        if (m := re.search(r"\[default: (.*), from \[(\w+)\] (\w+)\]$", p.help or ""))
    ]
    assert len(shown) == len(options.SECTION_OPTIONS) >= 30
    for path, flag, (text, section, field) in shown:
        model = RunConfig.model_fields[section].annotation
        assert field in model.model_fields, (path, flag)
        assert text == options._shown(model.model_fields[field].get_default(call_default_factory=True)), (
            path,
            flag,
        )


def test_param_options_read_the_library_default():
    """The default shown is the library's: read from the source and equal to the imported function's."""
    import importlib
    import inspect

    assert options.PARAM_OPTIONS
    for where, param, _flag in options.PARAM_OPTIONS:
        module, name = where.split(":")
        obj = getattr(importlib.import_module(module), name)
        expected = inspect.signature(obj).parameters[param].default
        got = options.library_default(where, param)
        assert got == expected or list(got) == list(expected), (where, param)


def test_a_bad_option_value_names_the_option(tmp_path):
    from glacierinv.errors import ConfigError

    with pytest.raises(ConfigError, match="--reach-m"):
        options.stage_config(dem=tmp_path / "dem.tif", units={"reach_m": -1.0})
