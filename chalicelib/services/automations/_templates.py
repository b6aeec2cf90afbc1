"""Jinja templates in automation actions, as Prefect renders them (``server/utilities/
user_templates.py``, ``utilities/schema_tools/hydration.py``): a sandboxed, immutable environment;
run-deployment parameters hydrated (``__prefect_kind`` ``json``/``jinja``/``none``/
``workspace_variable``; a plain string with ``{{``/``{%`` is a v1 template, upgraded first).

The context: ``automation``, ``event``, ``labels``, ``firing``, and the ``flow_run``, ``flow``,
``deployment``, ``work_pool`` and ``work_queue`` the triggering event names, read only when a
template mentions them. Only this module imports jinja2.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_TEMPLATE = re.compile(r"\{\{|\{%")
MAX_TEMPLATE_RANGE = 100


class TemplateError(Exception):
    """A template that does not parse or render; ``line`` when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_TEMPLATE_RANGE:
        raise OverflowError(f"Range too big. The sandbox blocks ranges larger than {MAX_TEMPLATE_RANGE=}.")
    return values


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=False)
    env.globals["range"] = _bounded_range
    return env


_env = _environment()


def validate(template: str) -> None:
    """Raise :class:`TemplateError` when ``template`` does not parse."""
    try:
        _env.parse(template)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno) from exc


class Resource(dict):  # type: ignore[type-arg]
    """An event's resource in templates: its labels, plus Prefect's ``.id``/``.name``/``.role``."""

    @property
    def id(self) -> str | None:
        return self.get("prefect.resource.id")

    @property
    def name(self) -> str | None:
        return self.get("prefect.resource.name")

    @property
    def role(self) -> str | None:
        return self.get("prefect.resource.role")


def event_view(event: dict[str, Any] | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {
        **event,
        "resource": Resource(event["resource"]),
        "related": [Resource(r) for r in event.get("related", [])],
    }


def render(template: str, context: dict[str, Any]) -> str:
    try:
        return _env.from_string(template).render(context)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno) from exc
    except Exception as exc:  # noqa: BLE001 - any failure inside a user's template is the template's
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc


def is_template(value: str) -> bool:
    return bool(_TEMPLATE.search(value))


def _upgrade_v1(value: Any) -> Any:
    """Plain strings with template syntax become ``jinja`` placeholders (a lone ``{{ x }}`` keeps
    its JSON type through ``tojson``), as Prefect's ``_upgrade_v1_templates``."""
    if isinstance(value, dict):
        if "__prefect_kind" in value:
            return value
        return {k: _upgrade_v1(v) for k, v in value.items()}
    if isinstance(value, list):
        return [
            _upgrade_v1(v) if isinstance(v, dict) else _wrap(v) if isinstance(v, str) and is_template(v) else v
            for v in value
        ]
    if isinstance(value, str) and is_template(value):
        return _wrap(value)
    return value


def _wrap(template: str) -> dict[str, Any]:
    stripped = template.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        inner = stripped[2:-2].strip()
        return {
            "__prefect_kind": "json",
            "value": {"__prefect_kind": "jinja", "template": "{{ " + inner + " | tojson }}"},
        }
    return {"__prefect_kind": "jinja", "template": template}


def hydrate_parameters(
    parameters: dict[str, Any] | None, context: dict[str, Any], variable: Callable[[str], Any]
) -> dict[str, Any]:
    """Run-deployment parameters with every placeholder rendered; :class:`TemplateError` on failure."""
    return _hydrate(_upgrade_v1(copy.deepcopy(parameters or {})), context, variable)


def _hydrate(value: Any, context: dict[str, Any], variable: Callable[[str], Any]) -> Any:
    if isinstance(value, list):
        return [_hydrate(v, context, variable) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__prefect_kind")
    if kind is None:
        return {k: _hydrate(v, context, variable) for k, v in value.items()}
    if kind == "none":
        return None
    if kind == "jinja":
        return render(str(value.get("template", "")), context)
    if kind == "json":
        inner = _hydrate(value.get("value"), context, variable)
        if not isinstance(inner, str):
            return inner
        try:
            return json.loads(inner)
        except ValueError as exc:
            raise TemplateError(f"Invalid JSON: {exc}") from exc
    if kind == "workspace_variable":
        return variable(str(value.get("variable_name", "")))
    raise TemplateError(f"Unknown __prefect_kind {kind!r}")


def mentions(templates: list[str], name: str) -> bool:
    return any(re.search(rf"\b{name}\b", t) for t in templates)


def templates_in(value: Any) -> list[str]:
    """Every template string inside ``value`` (to decide which objects the context needs)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in templates_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in templates_in(v)]
    return []
