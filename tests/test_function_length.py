"""Function length ratchet: no function in ``src/glacierinv`` grows beyond 60 lines (issue #24).

Counting rule: a function's length is ``end_lineno - lineno + 1`` of its ``def`` node as parsed by
:mod:`ast` — from the ``def`` line (decorators excluded) to its last line, docstring, comments and
blank lines inside included. Nested functions and methods count on their own (a nested function's lines
also count towards its enclosing function). Names are ``module.qualname`` with ``<locals>`` for nested
functions, e.g. ``glacierinv.cli.segment.register.<locals>.train_cmd``.

``KNOWN_LONG`` listed the long functions left when the ratchet started, with their length; since
2026-12-05 it is empty: every function is within the limit. The test fails when a function not listed
is over the limit, when a listed one grew beyond its recorded length, or when a listed one is now
within the limit or gone (then delete its entry): the table can only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

MAX_LINES = 60
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "glacierinv"

# module.qualname -> recorded length (lines); shorten or delete entries, never add or raise them.
KNOWN_LONG: dict[str, int] = {}


def function_lengths(tree: ast.AST, module: str) -> dict[str, int]:
    """Length in lines (``end_lineno - lineno + 1``) of every function in ``tree``, by ``module.qualname``."""
    out: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                out[f"{module}.{name}"] = child.end_lineno - child.lineno + 1
                walk(child, name + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                walk(child, prefix + child.name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


def package_lengths() -> dict[str, int]:
    """Function lengths over every module of the package."""
    out: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out |= function_lengths(ast.parse(path.read_text(encoding="utf-8")), module)
    return out


def ratchet_problems(lengths: dict[str, int], known: dict[str, int], max_lines: int = MAX_LINES) -> list[str]:
    """Every violation of the ratchet, one line each (empty: all fine)."""
    problems = []
    for name, n in sorted(lengths.items()):
        if n > max_lines and name not in known:
            problems.append(f"{name} is {n} lines (> {max_lines}): split it into helpers")
        elif name in known and n > known[name]:
            problems.append(f"{name} grew to {n} lines (recorded {known[name]}): split it, don't grow it")
        elif name in known and n <= max_lines:
            problems.append(f"{name} is now {n} lines (<= {max_lines}): delete it from KNOWN_LONG")
    problems += [
        f"{name} no longer exists: delete it from KNOWN_LONG" for name in known if name not in lengths
    ]
    return problems


def test_no_function_grows_beyond_the_limit():
    problems = ratchet_problems(package_lengths(), KNOWN_LONG)
    assert not problems, "\n".join(problems)


def test_rule_catches_a_synthetic_long_function():
    body = "".join(f"        x{k} = {k}\n" for k in range(70))
    source = f"def short():\n    return 1\n\n\nclass C:\n    def long(self):\n{body}        return 0\n"
    lengths = function_lengths(ast.parse(source), "m")
    assert lengths == {"m.short": 2, "m.C.long": 72}
    assert ratchet_problems(lengths, {}) == ["m.C.long is 72 lines (> 60): split it into helpers"]
    assert ratchet_problems(lengths, {"m.C.long": 72}) == []
    assert "grew to 72" in ratchet_problems(lengths, {"m.C.long": 71})[0]
    assert "delete it" in ratchet_problems(lengths, {"m.C.long": 72, "m.short": 80})[0]
    assert "no longer exists" in ratchet_problems(lengths, {"m.C.long": 72, "m.gone": 90})[0]


def test_nested_functions_are_named_with_locals():
    source = "def outer():\n    def inner():\n        return 1\n    return inner\n"
    assert function_lengths(ast.parse(source), "m") == {"m.outer": 4, "m.outer.<locals>.inner": 2}
