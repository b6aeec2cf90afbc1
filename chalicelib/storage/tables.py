"""Binding the models to a stage's tables, and creating them (local stack, tests)."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.storage.models import ALL_MODELS

_LOGICAL = {model: model.Meta.table_name for model in ALL_MODELS}
_bound_to: tuple[str, str | None, str] | None = None


def logical_name(model: type[Model]) -> str:
    """The table's name without the stage prefix (``flows``, ``flow_runs``, …)."""
    return _LOGICAL[model]


def table_name(settings: Settings, model: type[Model]) -> str:
    return f"{settings.tables_prefix}{logical_name(model)}"


def bind(settings: Settings) -> None:
    """Point every model at ``settings``' tables, endpoint and region (cheap when unchanged)."""
    global _bound_to
    target = (settings.tables_prefix, settings.dynamodb_endpoint, settings.region)
    if _bound_to == target:
        return
    for model in ALL_MODELS:
        model.Meta.table_name = table_name(settings, model)
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        # pynamodb caches the connection per model; drop it so the new endpoint is used.
        model._connection = None
    _bound_to = target


def create_tables(settings: Settings) -> list[str]:
    """Create every missing table (on-demand billing, indexes, TTL); return the names created."""
    bind(settings)
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
    return created


def delete_tables(settings: Settings) -> None:
    bind(settings)
    for model in ALL_MODELS:
        if model.exists():
            model.delete_table()
