"""Deferred imports: the one mechanism, used by the three package faces the Lambda edges import
(``chalicelib.services``, ``chalicelib.schemas``, ``chalicelib.storage``).

Every Lambda imports ``app.py``, which registers every route and job; importing every service,
schema and model up front would make each cold start pay for all of them (bench/cold_start.py). A
face instead sets ``__getattr__ = on_first_use(__name__, {name: module})`` (PEP 562): a name is
imported the first time it is looked up, through the normal, thread-safe import machinery, and kept
in the package's namespace so later lookups are plain attribute reads. Each face lists its names
once, beside ``TYPE_CHECKING`` imports that let readers, type checkers and import-linter follow
every call.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def on_first_use(package: str, names: Mapping[str, str | None]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each name to the submodule that
    defines it (``None``: the name is itself a submodule)."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name]
        if module is None:
            return importlib.import_module(f"{package}.{name}")  # also binds it on the package
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
