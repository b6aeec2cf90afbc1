"""Job variables checked against a work pool's base job template, as Prefect's server does.

A template's ``variables`` is a JSON schema (what Prefect's workers generate: ``type``,
``properties``, ``required``, ``anyOf``/``allOf``/``oneOf``, ``enum``, ``items``,
``additionalProperties``, ``$ref`` to ``definitions``/``$defs``). The variables checked are the
template's defaults overlaid with the deployment's (and, for a run, the run's). Deployments are
checked without ``required`` (a run may still supply them); a run is the terminal overlay and is
checked with it. ``None`` is accepted for a property that has a default (Prefect's
``allow_none_with_default``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.parameter_schema import _resolve, _type_ok


def defaults(template: dict[str, Any]) -> dict[str, Any]:
    """The template's default values (plain defaults; block references are left to the worker)."""
    properties = (template.get("variables") or {}).get("properties") or {}
    return {
        name: spec["default"]
        for name, spec in properties.items()
        if isinstance(spec, dict) and "default" in spec and not _is_reference(spec["default"])
    }


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and "$ref" in value


def errors(template: dict[str, Any], *overlays: dict[str, Any], check_required: bool) -> list[tuple[str, str]]:
    """``(variable, message)`` for each way the overlaid variables break the template's schema."""
    schema = template.get("variables") if template else None
    if not isinstance(schema, dict) or not schema:
        return []
    values: dict[str, Any] = dict(defaults(template))
    for overlay in overlays:
        values.update(overlay or {})
    found: list[tuple[str, str]] = []
    properties = schema.get("properties") or {}
    for name, value in values.items():
        spec = properties.get(name)
        if not isinstance(spec, dict):
            continue
        if value is None and "default" in spec:
            continue
        problem = _check(value, spec, schema)
        if problem is not None:
            found.append((name, problem))
    if check_required:
        found += [(name, "is a required property") for name in schema.get("required") or [] if name not in values]
    return found


def _check(value: Any, spec: dict[str, Any], root: dict[str, Any]) -> str | None:
    """Why ``value`` does not satisfy ``spec`` (None when it does)."""
    spec = _resolve(spec, root, 0)
    kinds = spec.get("type")
    if kinds is not None and not _type_ok(value, kinds):
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        return f"{value!r} is not of type {' or '.join(repr(k) for k in allowed)}"
    if "enum" in spec and value not in spec["enum"]:
        return f"{value!r} is not one of {spec['enum']!r}"
    for key in ("anyOf", "oneOf"):
        options = spec.get(key)
        if options and all(_check(value, option, root) is not None for option in options):
            return f"{value!r} is not valid under any of the given schemas"
    for option in spec.get("allOf") or []:
        problem = _check(value, option, root)
        if problem is not None:
            return problem
    if isinstance(value, dict):
        return _check_object(value, spec, root)
    if isinstance(value, list | tuple) and isinstance(spec.get("items"), dict):
        for item in value:
            problem = _check(item, spec["items"], root)
            if problem is not None:
                return problem
    return None


def _check_object(value: dict[str, Any], spec: dict[str, Any], root: dict[str, Any]) -> str | None:
    properties = spec.get("properties") or {}
    extra = spec.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            problem = _check(item, properties[key], root)
        elif extra is False:
            problem = f"additional property {key!r} is not allowed"
        elif isinstance(extra, dict):
            problem = _check(item, extra, root)
        else:
            problem = None
        if problem is not None:
            return problem
    return None
