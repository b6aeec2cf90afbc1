"""Every request model (an ``ActionModel``, in any schemas module, present or future) takes booleans,
integers and floats strictly: ``"yes"`` is not ``true``, ``true`` and ``"1"`` are not ``1``. Use the
types of ``chalicelib.schemas.common`` (``Flag``, ``Int``, ``NonNegativeInt``, ``PositiveInt``,
``Number``) in request bodies, with ``Name``, ``KeyText``, ``Text``, ``Tags``, ``Labels`` and
``Document`` for what they store."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

import chalicelib.schemas
from chalicelib.schemas.common import ActionModel


def _request_models() -> list[type[ActionModel]]:
    for module in pkgutil.iter_modules(chalicelib.schemas.__path__):
        importlib.import_module(f"chalicelib.schemas.{module.name}")
    found: list[type[ActionModel]] = []
    pending = list(ActionModel.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return sorted(set(found), key=lambda m: f"{m.__module__}.{m.__qualname__}")


def _walk(schema: Any, path: str, definitions: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "definition-ref":
            ref = schema["schema_ref"]
            if ref not in seen:
                seen.add(ref)
                yield from _walk(definitions.get(ref), path, definitions, seen)
            return
        if kind in ("bool", "int", "float"):
            yield path, schema
        for key, value in schema.items():
            if key in ("definitions", "serialization"):
                continue
            yield from _walk(value, f"{path}.{key}" if key not in ("schema", "type") else path, definitions, seen)
    elif isinstance(schema, list):
        for item in schema:
            yield from _walk(item, path, definitions, seen)


def _scalars(model: type[ActionModel]) -> Iterator[tuple[str, dict[str, Any]]]:
    core = model.__pydantic_core_schema__
    definitions = {d["ref"]: d for d in core.get("definitions", [])} if core.get("type") == "definitions" else {}
    yield from _walk(core, model.__name__, definitions, set())


def test_there_are_request_models_to_check():
    assert len(_request_models()) > 10


@pytest.mark.parametrize("model", _request_models(), ids=lambda m: m.__name__)
def test_booleans_and_numbers_are_strict(model):
    loose = [f"{where}: {schema['type']}" for where, schema in _scalars(model) if not schema.get("strict")]
    assert not loose, "not strict (use Flag, Int, NonNegativeInt, PositiveInt, Number):\n" + "\n".join(loose)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00"])
def test_calendar_edge_datetimes_with_an_offset_are_invalid_not_an_overflow(value):
    """An offset that takes an instant past datetime's range raised OverflowError (a 500 on every
    route with a datetime field); it is a validation error naming the field."""
    from pydantic import TypeAdapter, ValidationError

    from chalicelib.schemas.common import UtcDateTime

    with pytest.raises(ValidationError, match="between 1000-01-01 and 9000-01-01"):
        TypeAdapter(UtcDateTime).validate_python(value)
