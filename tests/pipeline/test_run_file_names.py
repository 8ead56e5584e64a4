"""The run folder's shared file names are written once (``RunFolder.CLASSES`` …): code outside
``pipeline/runfolder.py`` uses the attributes, not the literals. Docstrings and messages may name the files."""

from __future__ import annotations

import ast
from pathlib import Path

from glacierinv.pipeline.runfolder import RunFolder

SRC = Path(__file__).resolve().parents[2] / "src" / "glacierinv"
NAMES = {v for k, v in vars(RunFolder).items() if k.isupper() and isinstance(v, str)}
# not (yet) converted: synthetic scenes and training data have their own layout (truth/classes.tif …);
# outlines/, attributes/ and analysis/ wait for issue 25's work there to merge (docs: issue 24's note)
NOT_YET = ("synthetic/", "segment/shipped.py")  # truth and training layouts: another contract


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def literal_names(path: Path) -> list[str]:
    """``file:line name`` of every string literal in code (not a docstring) that is a run-folder name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [
        f"{path.relative_to(SRC)}:{node.lineno} {node.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in NAMES and id(node) not in skip
    ]


def test_run_folder_names_are_attributes_not_literals():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "pipeline/runfolder.py" or rel.startswith(NOT_YET):
            continue
        bad += literal_names(path)
    assert not bad, "use RunFolder.<NAME>:\n" + "\n".join(bad)


def test_the_check_finds_a_literal(tmp_path):
    f = SRC / "pipeline" / "runfolder.py"  # the one module that spells them out
    assert any(line.endswith(" classes.tif") for line in literal_names(f))
    assert NAMES >= {"classes.tif", "stack.tif", "masks.tif", "inventory.gpkg"}
