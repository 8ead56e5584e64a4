"""The package's import graph: layered, no cycle, no private name from another package.

Every ``from glacierinv… import …`` in the source (module level and inside functions alike) is an edge.
Stages may import earlier stages and the shared base, never a later stage; orchestration modules
(pipeline, scenes, refinement, preflight, distributed) sit above the stages and the CLI above everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# rank of each top-level part of the package; an import must go to a strictly lower rank or stay inside
# its own top-level package
RANKS: dict[str, float] = {
    "glacierinv": 0,  # the package root (__version__)
    "glacierinv.errors": 0,
    "glacierinv.classes": 0,
    "glacierinv.geometry": 1,
    "glacierinv.config": 1,
    "glacierinv.confusion": 1,
    "glacierinv.memory": 1,
    "glacierinv.taskmap": 1,  # where per-glacier tasks run (the pipeline sets the run's cluster)
    "glacierinv.io": 2,
    "glacierinv.runfolder": 3,
    "glacierinv.stage": 3.5,
    "glacierinv.dem": 4,
    "glacierinv.preprocess": 5,
    "glacierinv.synthetic": 6,
    "glacierinv.segment": 7,
    "glacierinv.outlines": 8,
    "glacierinv.units": 9,
    "glacierinv.attributes": 10,
    "glacierinv.assess": 11,
    "glacierinv.analysis": 12,
    "glacierinv.report": 13,
    "glacierinv.preflight": 14,
    "glacierinv.distributed": 14,
    "glacierinv.scenes": 14,
    "glacierinv.refinement": 14,
    "glacierinv.pipeline": 15,
    "glacierinv.stage_table": 16,
    "glacierinv.cli": 16,
    "glacierinv.__main__": 17,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "glacierinv").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    edges = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("glacierinv"):
            edges.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            edges += [(a.name, []) for a in node.names if a.name.startswith("glacierinv")]
    return edges


def _top(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


MODULES = _modules()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for target, names in _imports(path):
            # `from pkg import sub` imports the submodule pkg.sub when it exists
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for t in subs or [target]:
                if t in MODULES and t != mod:
                    graph[mod].add(t)
    return graph


def test_every_top_level_part_has_a_rank():
    assert {_top(m) for m in MODULES} <= set(RANKS), "add new top-level modules to RANKS"


def test_no_import_of_a_later_stage_or_layer():
    bad = []
    for mod, targets in _graph().items():
        for t in targets:
            if _top(t) != _top(mod) and RANKS[_top(t)] >= RANKS[_top(mod)]:
                bad.append(f"{mod} -> {t}")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_no_import_cycle_between_modules():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strongconnect(v)
    # a package's __init__ re-exporting its own modules is not a cycle worth reporting: drop the package
    # node itself and look again
    real = []
    for comp in cycles:
        inner = [m for m in comp if not any(o.startswith(m + ".") for o in comp)]
        if len(inner) > 1 and any(w in graph[v] for v in inner for w in inner if v != w):
            real.append(inner)
    assert not real, f"import cycles: {real}"


def test_no_private_name_from_another_package():
    bad = []
    for mod, path in MODULES.items():
        for target, names in _imports(path):
            for n in names:
                if n.startswith("_") and not n.startswith("__") and _top(target) != _top(mod):
                    bad.append(f"{mod} imports {target}.{n}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "name", ["stack", "segment", "outlines", "units", "attributes", "assess", "analyse", "report"]
)
def test_every_stage_is_declared_by_its_package_runner(name):
    from glacierinv.pipeline import STAGE_RUNNERS, get_stage

    stage = get_stage(name)
    assert stage.name == name
    package = STAGE_RUNNERS[name].rsplit(".", 1)[0]
    assert stage.run.__module__.startswith(package)
