"""Every module imports, and the deferred-import lists are whole: the edges reach services and
schemas through ``chalicelib.services``/``chalicelib.schemas`` (imported on first use), so a broken
import or a module missing from a list would otherwise surface only on the first request needing it."""

import importlib
import pkgutil

import pytest

import chalicelib
from chalicelib import schemas, services

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)


@pytest.mark.parametrize("package", [services, schemas])
def test_every_public_module_is_reachable_as_an_attribute(package):
    public = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    assert sorted(package.__all__) == public
    for name in public:
        assert getattr(package, name).__name__ == f"{package.__name__}.{name}"
    with pytest.raises(AttributeError):
        package.no_such_module  # noqa: B018
