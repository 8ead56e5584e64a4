"""The package's import graph: layered, no cycle, no private name from another package.

Every ``from glacierinv… import …`` in the source (module level and inside functions alike) is an edge.
Stages may import earlier stages and the shared base, never a later stage; the orchestration package
``glacierinv.pipeline`` is ranked module by module: its base layer (``runfolder``, ``stage``, ``registry``)
sits below the stages, which import it; the modules that run stages (preflight, scenes, distributed,
refinement, the orchestrator, the stage table) sit above them, and the CLI above everything.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# rank of each part of the package; an import must go to a strictly lower rank or stay inside its own part.
# A part is a top-level module or package, or, inside a package of SPLIT_PACKAGES, each module of its own.
RANKS: dict[str, float] = {
    "glacierinv": 0,  # the package root (__version__)
    "glacierinv.errors": 0,
    "glacierinv.classes": 0,
    "glacierinv.lazy": 0,  # lazy re-exports for a package's __init__
    "glacierinv.pipeline": 0.5,  # the package's __init__: imports only glacierinv.lazy (names load lazily)
    "glacierinv.geometry": 1,
    "glacierinv.config": 1,
    "glacierinv.confusion": 1,
    "glacierinv.memory": 1,
    "glacierinv.taskmap": 1,  # where per-glacier tasks run (the pipeline sets the run's cluster)
    "glacierinv.io": 2,
    "glacierinv.pipeline.runfolder": 3,
    "glacierinv.pipeline.stage": 3.5,
    "glacierinv.pipeline.registry": 3.6,  # stage name -> runner module; runners are imported by name, lazily
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
    "glacierinv.pipeline.preflight": 14,
    "glacierinv.pipeline.distributed": 14,
    "glacierinv.pipeline.scenes": 14,
    "glacierinv.pipeline.refinement": 14,
    "glacierinv.pipeline.orchestrator": 15,
    "glacierinv.pipeline.stage_table": 16,
    "glacierinv.cli": 16,
    "glacierinv.__main__": 17,
}
#: packages whose modules are ranked one by one (a new module in one needs its own line in RANKS)
SPLIT_PACKAGES = ("glacierinv.pipeline",)


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


def _part(module: str) -> str:
    """The ranked part ``module`` belongs to (a module of a split package is its own part)."""
    top = _top(module)
    if top in SPLIT_PACKAGES and module != top:
        return ".".join(module.split(".")[:3])
    return top


def _lazy_exports(path: Path) -> dict[str, str]:
    """A package __init__'s lazily re-exported names (its ``_LAZY`` table: name -> submodule)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "_LAZY":
            return ast.literal_eval(node.value)
    return {}


MODULES = _modules()
LAZY = {
    mod: _lazy_exports(path)
    for mod, path in MODULES.items()
    if path.name == "__init__.py" and mod != "glacierinv"
}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for target, names in _imports(path):
            # `from pkg import sub` imports the submodule pkg.sub when it exists; `from pkg import name` of a
            # lazily re-exported name imports the submodule that defines it
            lazy = LAZY.get(target, {})
            subs = [f"{target}.{lazy[n]}" if n in lazy else f"{target}.{n}" for n in names]
            subs = [t for t in subs if t in MODULES]
            for t in subs or [target]:
                if t in MODULES and t != mod:
                    graph[mod].add(t)
    return graph


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{mod} -> {t}"
        for mod, targets in graph.items()
        for t in targets
        if _part(t) != _part(mod) and RANKS[_part(t)] >= RANKS[_part(mod)]
    )


def test_every_part_has_a_rank():
    assert {_part(m) for m in MODULES} <= set(RANKS), (
        "add new top-level modules (and pipeline modules) to RANKS"
    )


def test_no_import_of_a_later_stage_or_layer():
    bad = _upward(_graph())
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_rank_check_catches_an_upward_import():
    # the checks above can fail: a stage importing the orchestrator (directly or through the package's lazy
    # name), or the stage contract importing a module that runs stages, is reported
    graph = {
        "glacierinv.segment.runner": {"glacierinv.pipeline.orchestrator"},
        "glacierinv.pipeline.stage": {"glacierinv.pipeline.scenes"},
        "glacierinv.pipeline.orchestrator": {"glacierinv.pipeline.registry", "glacierinv.segment"},
    }
    assert _upward(graph) == [
        "glacierinv.pipeline.stage -> glacierinv.pipeline.scenes",
        "glacierinv.segment.runner -> glacierinv.pipeline.orchestrator",
    ]
    assert LAZY["glacierinv.pipeline"]["run_pipeline"] == "orchestrator"


def test_the_pipeline_base_layer_loads_no_orchestration_and_no_stage():
    """Every stage imports glacierinv.pipeline.stage / .runfolder: the package __init__ and these two must
    load neither the modules that run stages nor any stage package."""
    code = (
        "import sys, glacierinv.pipeline.stage, glacierinv.pipeline.runfolder, glacierinv.pipeline.registry\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('glacierinv'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    ).stdout.split()
    loaded = {_part(m) for m in out}
    assert max(RANKS[p] for p in loaded) < RANKS["glacierinv.dem"], loaded
    import glacierinv.pipeline as package

    assert package.run_pipeline.__module__ == "glacierinv.pipeline.orchestrator"  # the lazy name resolves


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


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_imports(imports: dict[str, list[tuple[str, list[str]]]]) -> list[str]:
    """Imports of a private name, or from a private module, of another package."""
    bad = []
    for mod, edges in imports.items():
        for target, names in edges:
            if _top(target) == _top(mod):  # inside one package, private names are shared freely
                continue
            if any(_private(p) for p in target.split(".")):
                bad.append(f"{mod} imports from the private module {target}")
            bad += [f"{mod} imports {target}.{n}" for n in names if _private(n)]
    return bad


def test_no_private_name_from_another_package():
    bad = _private_imports({mod: _imports(path) for mod, path in MODULES.items()})
    assert not bad, "\n".join(bad)


def test_the_private_check_catches_a_private_name_or_module():
    assert _private_imports(
        {
            "glacierinv.report.html": [("glacierinv.analysis._style", ["PALETTE"])],
            "glacierinv.cli.run": [("glacierinv.pipeline.orchestrator", ["_run_one"])],
            "glacierinv.cli.main": [("glacierinv.cli._common", ["console"])],  # same package: fine
        }
    ) == [
        "glacierinv.report.html imports from the private module glacierinv.analysis._style",
        "glacierinv.cli.run imports glacierinv.pipeline.orchestrator._run_one",
    ]


@pytest.mark.parametrize(
    "name", ["stack", "segment", "outlines", "units", "attributes", "assess", "analyse", "report"]
)
def test_every_stage_is_declared_by_its_package_runner(name):
    from glacierinv.pipeline import STAGE_RUNNERS, get_stage

    stage = get_stage(name)
    assert stage.name == name
    package = STAGE_RUNNERS[name].rsplit(".", 1)[0]
    assert stage.run.__module__.startswith(package)
