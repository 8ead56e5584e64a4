"""The run-folder table of the docs, generated from the declared stage contracts.

``python -m glacierinv.pipeline.stage_table`` prints the Markdown table that ``docs/pipeline.md`` holds; a test
compares the two, so the documentation cannot drift from what the stages declare.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from glacierinv.config import RunConfig, config_from_dict
from glacierinv.pipeline.registry import all_stages
from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.preprocess.sensors import input_keys

__all__ = ["stage_table_markdown"]

# optional configured files that some stage reads (section, key)
_OPTIONAL_FILES = (("units", "divides"), ("assess", "regions"), ("analysis", "snow"),
                   ("analysis", "surge_list"), ("segment", "checkpoint"))  # fmt: skip


def _everything_configured(base: Path) -> RunConfig:
    """A config in which every input and optional file is set (and exists), so each stage lists all it can read."""
    data: dict = {"inputs": {}}
    for key in input_keys():  # every path key of [inputs] (the sensor registry lists them)
        (base / f"{key}.file").touch()
        data["inputs"][key] = f"{key}.file"
    (base / "other_dates.file").touch()  # a list: classes of other dates
    data["inputs"]["other_dates"] = ["other_dates.file"]
    for section, key in _OPTIONAL_FILES:
        (base / f"{section}.{key}.file").touch()
        data.setdefault(section, {})[key] = f"{section}.{key}.file"
    return config_from_dict(data, base)


def stage_table_markdown() -> str:
    """One row per stage: the files it reads (run-folder files and config keys), the config sections it
    depends on, and the files it writes (optional ones in italics)."""
    rows = ["| stage | reads | config | writes |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        base, run_dir = Path(tmp) / "inputs", Path(tmp) / "run"
        base.mkdir()
        run_dir.mkdir()
        cfg = _everything_configured(base)
        stages = all_stages()
        for stage in stages:  # every file any stage may write exists, so optional reads are listed too
            for name in (*stage.writes(cfg), *stage.may_write):
                (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
                (run_dir / name).touch()
        run = RunFolder(run_dir)
        for stage in stages:
            reads = sorted(stage.reads(cfg, run))
            sections = list(stage.config_sections) + sorted(
                stage.extra_params(cfg) if stage.extra_params else []
            )
            writes = [f"`{n}`" for n in stage.writes(cfg)] + [f"*`{n}`*" for n in stage.may_write]
            rows.append(
                f"| `{stage.name}` | {', '.join(f'`{r}`' for r in reads)} | "
                f"{', '.join(f'`{s}`' for s in sections) or '—'} | {', '.join(writes)} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    print(stage_table_markdown())
