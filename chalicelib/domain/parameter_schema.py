"""Checking parameter values against a deployment's parameter schema, for the UI's run forms.

Prefect's ``/ui/schemas/validate`` runs a full JSON Schema validator. Cirrus checks what its forms
need to refuse a run before it is created: ``required`` properties and the JSON type of each value
(``type``, also inside ``anyOf``/``allOf`` branches and through ``$ref`` to ``definitions``/``$defs``),
recursively through objects and arrays. Anything else in the schema is accepted; the flow itself
validates its parameters when it runs. The reply is Prefect's ``{"errors": [...], "valid": bool}``
with errors nested by ``property``/``index`` as in ``build_error_obj``.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}
_MAX_DEPTH = 32


def _resolve(schema: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or depth > _MAX_DEPTH:
        return schema
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target.get(part) if isinstance(target, dict) else None
    return _resolve(target, root, depth + 1) if isinstance(target, dict) else {}


def _type_ok(value: Any, wanted: Any) -> bool:
    names = wanted if isinstance(wanted, list) else [wanted]
    for name in names:
        kinds = _TYPES.get(name) if isinstance(name, str) else None
        if kinds is None:
            return True  # a type we do not know: accept
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, kinds):
            return True
    return False


def _errors(value: Any, schema: dict[str, Any], root: dict[str, Any], depth: int) -> list[Any]:
    schema = _resolve(schema, root, depth)
    if depth > _MAX_DEPTH or (isinstance(value, dict) and "__prefect_kind" in value):
        return []  # a form's placeholder (json, jinja, workspace variable) is resolved at run time
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and branches:
        if any(not _errors(value, b, root, depth + 1) for b in branches if isinstance(b, dict)):
            return []
        return [f"{value!r} is not valid under any of the given schemas"]
    out: list[Any] = []
    for branch in schema.get("allOf") or []:
        if isinstance(branch, dict):
            out.extend(_errors(value, branch, root, depth + 1))
    if "type" in schema and not _type_ok(value, schema["type"]):
        wanted = schema["type"]
        return [*out, f"{value!r} is not of type {wanted!r}" if isinstance(wanted, str) else f"{value!r} is not valid"]
    if isinstance(value, dict):
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for name in schema.get("required") or []:
            if name not in value:
                out.append({"property": name, "errors": [f"'{name}' is a required property"]})
        for name, sub in properties.items():
            if name in value and isinstance(sub, dict):
                errors = _errors(value[name], sub, root, depth + 1)
                if errors:
                    out.append({"property": name, "errors": errors})
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors = _errors(item, schema["items"], root, depth + 1)
            if errors:
                out.append({"index": index, "errors": errors})
    return out


def validate_values(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Prefect's validation reply for ``values`` against ``schema``."""
    errors = _errors(values, schema, schema, 0)
    return {"errors": errors, "valid": not errors}
