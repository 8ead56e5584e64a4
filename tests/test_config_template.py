"""Issue 24: ``glacierinv config template`` is generated from the configuration models, so every setting
appears once, with the model's default and description, and the template loads to the defaults."""

from __future__ import annotations

import tomllib

from pydantic import BaseModel

from glacierinv.config import RunConfig, SceneConfig, config_from_dict
from glacierinv.preprocess.sensors import config_template


def _sections():
    for name, field in RunConfig.model_fields.items():
        model = field.annotation
        if name != "inputs" and isinstance(model, type) and issubclass(model, BaseModel):
            yield name, model


def test_every_setting_is_in_the_template_with_its_description():
    text = config_template()
    lines = text.splitlines()
    for name, model in _sections():
        start = lines.index(f"[{name}]")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        block = lines[start:end]
        for key, field in model.model_fields.items():
            at = [i for i, ln in enumerate(block) if ln.startswith((f"{key} = ", f"# {key} = "))]
            assert len(at) == 1, (name, key)
            assert field.description.split()[-1] in block[at[0] - 1], (name, key)  # its comment above it
    for key in SceneConfig.model_fields:
        assert f"# {key} = " in text


def test_the_template_loads_to_the_models_defaults(tmp_path):
    cfg = config_from_dict(tomllib.loads(config_template()), base_dir=tmp_path)
    default = RunConfig(inputs={"dem": "dem.tif"})
    for name, _ in _sections():
        assert getattr(cfg, name) == getattr(default, name), name
    assert cfg.name == default.name and cfg.inputs.img_source == default.inputs.img_source
