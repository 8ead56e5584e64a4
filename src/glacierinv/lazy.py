"""Lazy re-exports for a package's ``__init__`` (PEP 562), so importing one submodule stays light."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``table``
    (public name → the submodule defining it). A name is imported from its submodule on each access and
    not cached in the package, so a value rebound in the submodule is always read fresh.

    Usage, in ``package/__init__.py``: ``__getattr__, __dir__ = lazy_exports(__name__, _LAZY)``.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(f"{package}.{table[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(table))

    return __getattr__, __dir__
