"""Blocks' storage on both backends: races settled by conditions, a type's deletion guarded by its
document count, multi-table reads by key, the catalog's idempotent install, and what a load costs."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from chalicelib.domain.blocks import block_document_id, block_schema_id, block_type_id
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.schemas.blocks import BlockSchema, BlockType
from chalicelib.services.blocks import catalog, documents
from chalicelib.storage.blocks._models import BlockTypeModel
from chalicelib.storage.blocks.store import StoredBlockDocument
from chalicelib.storage.instrumentation import count_requests

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _type(store, slug="creds"):
    return store.types.create_new(BlockType(id=block_type_id(slug), created=NOW, updated=NOW, name=slug, slug=slug))


def _schema(store, type_id, checksum="sha256:x"):
    schema = BlockSchema(
        id=block_schema_id(checksum, "1"), created=NOW, updated=NOW, checksum=checksum, block_type_id=type_id,
        fields={"secret_fields": ["password"]}, version="1",
    )  # fmt: skip
    return store.schemas.create_or_existing(schema)[0]


def _doc(store, type_id, schema_id, name):
    id_ = block_document_id(type_id, name)
    return StoredBlockDocument(
        id=id_, created=NOW, updated=NOW, name=name, block_schema_id=schema_id, block_type_id=type_id,
        sealed=store.sealer.seal({"password": name}, str(id_)),
    )  # fmt: skip


def _race(n, fn):
    results: list[object] = []

    def run() -> None:
        try:
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_document_creates_make_one_and_count_once(repos):
    store = repos.blocks
    kind = _type(store)
    schema = _schema(store, kind.id)
    results = _race(6, lambda: store.documents.create(_doc(store, kind.id, schema.id, "race")))
    assert sum(isinstance(r, StoredBlockDocument) for r in results) == 1
    assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, StoredBlockDocument))
    others = _race(5, lambda: store.documents.create(_doc(store, kind.id, schema.id, f"d-{uuid.uuid4().hex[:8]}")))
    assert all(isinstance(r, StoredBlockDocument) for r in others)  # distinct names all land (the count retries)
    store.documents.delete_type(kind.id)  # its guard: the count equals the 6 documents found
    assert list(store.documents.of_type(kind.id)) == []


def test_racing_schema_creates_are_one_schema(repos):
    store = repos.blocks
    kind = _type(store)
    schema = BlockSchema(
        id=block_schema_id("sha256:r", "1"), created=NOW, updated=NOW, checksum="sha256:r", block_type_id=kind.id,
        version="1",
    )  # fmt: skip
    results = _race(6, lambda: store.schemas.create_or_existing(schema))
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert {s.id for s, _ in results} == {schema.id}


def test_a_document_of_a_missing_type_is_refused_and_a_type_with_documents_goes_with_them(repos):
    store = repos.blocks
    missing = block_type_id("missing")
    with pytest.raises(NotFoundError):
        store.documents.create(_doc(store, missing, uuid.uuid4(), "x"))
    kind = _type(store)
    schema = _schema(store, kind.id)
    for name in ("a", "b"):
        store.documents.create(_doc(store, kind.id, schema.id, name))
    store.documents.delete(block_document_id(kind.id, "a"))
    store.documents.delete_type(kind.id)
    with pytest.raises(NotFoundError):
        store.documents.get(block_document_id(kind.id, "b"))
    with pytest.raises(NotFoundError):
        store.schemas.get(schema.id)
    with pytest.raises(NotFoundError):
        store.types.get(kind.id)
    with pytest.raises(NotFoundError):
        store.documents.delete_type(kind.id)


def test_documents_of_a_type_deleted_meanwhile_do_not_read(repos):
    """A type removed under its documents (as an interrupted cleanup would leave them) hides them."""
    store = repos.blocks
    kind = _type(store)
    schema = _schema(store, kind.id)
    store.documents.create(_doc(store, kind.id, schema.id, "orphan"))
    BlockTypeModel.get(str(kind.id)).delete()
    with pytest.raises(NotFoundError):
        documents.read_document(repos, block_document_id(kind.id, "orphan"), False, NOW)


def test_catalog_install_is_idempotent_and_keeps_created(repos):
    store = repos.blocks
    first = catalog.install(store, NOW)
    assert first == {"block_types": 54, "block_schemas": 64}
    later = datetime(2027, 1, 1, tzinfo=UTC)
    catalog.install(store, later)
    secret = store.types.get(block_type_id("secret"))
    assert secret.created == NOW and secret.updated == later and secret.is_protected
    assert len(store.types.all()) == 54 and len(store.schemas.all()) == 64
    assert store.types.marker() == catalog.catalog()["version"]


def test_a_load_reads_two_items_and_few_units(repos, aws):
    store = repos.blocks
    catalog.ensure_installed(store, NOW)
    secret_type = block_type_id("secret")
    schema = next(s for s in store.schemas.of_types([secret_type]))
    store.documents.create(_doc(store, secret_type, schema.id, "db-password"))
    with count_requests(capacity=True) as counter:
        doc = documents.read_document_by_name(repos, "secret", "db-password", True, NOW)
    assert doc.data == {"password": "db-password"} and doc.block_type.slug == "secret"
    assert dict(counter.by_operation) == {"GetItem": 1, "BatchGetItem": 1}
    if aws.name == "local":  # moto reports fixed figures
        # Strongly consistent: 1 unit each for the document, its schema and its type (measured 3.0).
        assert counter.capacity.read_units() <= 3, counter.capacity.by_index()
