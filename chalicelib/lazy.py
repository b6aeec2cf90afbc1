"""Deferred imports for the Lambda edges.

Every Lambda imports ``app.py``, which registers every route and job; importing each view's
schemas and services up front would make every cold start pay for pydantic and all the models
(bench/cold_start.py measures it). A view module instead holds a :class:`LazyModule` and the real
module is imported on first use, through the normal (thread-safe) import machinery.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for module ``name`` that imports it on first attribute access."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        # import_module is a dict lookup once the module is loaded, and holds the import lock otherwise.
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """``name`` imported on first use (typed ``Any``: import the real module under TYPE_CHECKING)."""
    return LazyModule(name)
