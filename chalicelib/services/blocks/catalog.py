"""Prefect's block catalog: the block types and schemas a fresh Prefect server lists, present on
every Cirrus from the start.

``catalog.json`` is generated from the pinned Prefect (``scripts/generate_block_catalog.py`` reads a
fresh Prefect server); :func:`install` writes it (idempotent: ids derive from slugs and checksums,
a type's ``created`` is kept), :func:`ensure_installed` does so once per catalog version and
tables, remembering it in the process (one GetItem of the marker per cold start).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.domain.blocks import block_schema_id, block_type_id
from chalicelib.schemas.blocks import BlockSchema, BlockType
from chalicelib.storage import BlockStore

CATALOG_PATH = Path(__file__).with_name("catalog.json")


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    text = CATALOG_PATH.read_bytes()
    data = json.loads(text)
    data["version"] = f"{data['prefect_version']}/{hashlib.sha256(text).hexdigest()[:16]}"
    return data


def install(store: BlockStore, now: datetime) -> dict[str, int]:
    """Write every catalog type and schema (again); returns the counts written."""
    data = catalog()
    for fields in data["block_types"]:
        store.types.install(BlockType(id=block_type_id(fields["slug"]), created=now, updated=now, **fields), now)
    schemas = [
        BlockSchema(
            id=block_schema_id(s["checksum"], s["version"]),
            created=now,
            updated=now,
            checksum=s["checksum"],
            fields=s["fields"],
            block_type_id=block_type_id(s["block_type_slug"]),
            capabilities=s["capabilities"],
            version=s["version"],
        )
        for s in data["block_schemas"]
    ]
    store.schemas.install(schemas)
    store.types.mark(data["version"], now)
    store.catalog_installed = data["version"]
    return {"block_types": len(data["block_types"]), "block_schemas": len(schemas)}


def ensure_installed(store: BlockStore, now: datetime) -> None:
    """Install the catalog unless these tables hold this version (known in the process after the
    first call)."""
    version = catalog()["version"]
    if store.catalog_installed == version:
        return
    if store.types.marker() == version:
        store.catalog_installed = version
        return
    install(store, now)
