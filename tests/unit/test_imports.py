"""Every module imports: the views and jobs load their services lazily (chalicelib/lazy.py), so a
broken import would otherwise surface only on the first request that needs it."""

import importlib
import pkgutil

import pytest

import chalicelib

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)
