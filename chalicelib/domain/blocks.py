"""Pure rules of blocks: a schema's checksum (Prefect's, so the client's lookups by checksum find
what the server stored), derived ids, and the masking of secret fields.

``schema_checksum`` follows Prefect 3.9.1's ``Block._calculate_schema_checksum``: the fields without
any ``secret_fields`` key, with ``definitions`` reduced to those (transitively) referenced that are
not blocks, dumped with ``json.dumps(((fields,), {}), sort_keys=True)`` and hashed with SHA-256.
A unit test checks it against every schema of Prefect's catalog.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

_NAMESPACE = uuid.UUID("0b8f3f0e-6f0e-4d55-9a43-5f0c4a7e2b91")
#: What a secret value reads as without ``include_secrets`` (Prefect's ``obfuscate``).
OBFUSCATED = "********"


def block_type_id(slug: str) -> uuid.UUID:
    """A block type's id: from its slug (unique and immutable)."""
    return uuid.uuid5(_NAMESPACE, f"type/{slug}")


def block_schema_id(checksum: str, version: str) -> uuid.UUID:
    """A block schema's id: from its checksum and version (creating it again finds it)."""
    return uuid.uuid5(_NAMESPACE, f"schema/{checksum}/{version}")


def block_document_id(type_id: uuid.UUID, name: str) -> uuid.UUID:
    """A block document's id: from its type and name (unique per type; a name never changes)."""
    return uuid.uuid5(_NAMESPACE, f"document/{type_id}/{name}")


def _without(key: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: _without(key, v) for k, v in value.items() if k != key}


def _references(value: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict):
        if ref := value.get("$ref"):
            found.append(ref)
        for item in value.values():
            found.extend(_references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    return found


def _non_block_definitions(obj: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for ref in _references(obj):
        if not isinstance(ref, str):
            continue
        key = ref.replace("#/definitions/", "")
        definition = definitions.get(key)
        if definition and definition.get("block_type_slug") is None:
            kept = {**kept, key: definition, **_non_block_definitions(definition, definitions)}
    return kept


def schema_checksum(fields: dict[str, Any]) -> str:
    """Prefect's checksum of a block schema's ``fields`` (``sha256:<hex>``)."""
    kept = _without("secret_fields", fields)
    if kept.get("definitions"):
        definitions = _non_block_definitions(kept, kept["definitions"])
        if definitions:
            kept["definitions"] = definitions
        else:
            kept.pop("definitions")
    text = json.dumps(((kept,), {}), sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------ secrets
def _flatten(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(value, dict) and value:
        flat: dict[tuple[str, ...], Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, (*prefix, key)))
        return flat
    return {prefix: value}


def _unflatten(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for path, value in flat.items():
        if not path:
            continue
        node = result
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return result


def _secret_paths(flat: dict[tuple[str, ...], Any], secret_fields: list[str]) -> set[tuple[str, ...]]:
    """The flattened paths of ``flat`` that ``secret_fields`` name (``a.b``, ``a.*``), and every path
    under them."""
    paths: set[tuple[str, ...]] = set()
    for field in secret_fields:
        key = tuple(field.split("."))
        head = key[: key.index("*")] if "*" in key else key
        # A secret holding an object (a Secret block's JSON value) is secret all the way down:
        # Prefect masks only a scalar there and returns such a value in the clear.
        paths.update(path for path in flat if path[: len(head)] == head and flat[path] is not None)
    return paths


def mask_secrets(data: dict[str, Any], secret_fields: list[str]) -> dict[str, Any]:
    """``data`` with every secret value replaced by ``********`` (Prefect's obfuscation)."""
    if not secret_fields:
        return data
    flat = _flatten(data)
    for path in _secret_paths(flat, secret_fields):
        flat[path] = OBFUSCATED
    return _unflatten(flat)


def keep_masked_secrets(new: dict[str, Any], current: dict[str, Any], secret_fields: list[str]) -> dict[str, Any]:
    """``new`` with secret values sent back masked (``********``) replaced by the ``current`` ones:
    a form that posts every field back does not overwrite a secret with its mask."""
    if not secret_fields:
        return new
    flat_new, flat_current = _flatten(new), _flatten(current)
    for path in _secret_paths(flat_current, secret_fields) | _secret_paths(flat_new, secret_fields):
        if flat_new.get(path) == OBFUSCATED and path in flat_current:
            flat_new[path] = flat_current[path]
    return _unflatten(flat_new)
