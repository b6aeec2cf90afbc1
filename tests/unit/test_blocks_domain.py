"""Blocks' pure rules: Prefect's schema checksum (over Prefect's whole catalog), masking secrets,
keeping masked secrets on update, and the catalog file itself."""

from __future__ import annotations

import json

from chalicelib.domain.blocks import (
    OBFUSCATED,
    block_document_id,
    block_type_id,
    keep_masked_secrets,
    mask_secrets,
    schema_checksum,
)
from chalicelib.services.blocks.catalog import CATALOG_PATH, catalog


def test_checksum_is_prefects_for_every_schema_prefect_computes_itself():
    """Prefect 3.9.1's own blocks (version 3.9.1) all match; 8 collection schemas were stored with
    checksums of older releases (Prefect's client computes another value for them too), so the
    catalog keeps the checksums as Prefect's server lists them."""
    schemas = catalog()["block_schemas"]
    stale = [s for s in schemas if schema_checksum(s["fields"]) != s["checksum"]]
    assert all(s["version"] != "3.9.1" for s in stale) and len(stale) == 8
    own = [s for s in schemas if s["version"] == "3.9.1"]
    assert {s["block_type_slug"] for s in own} >= {"secret", "webhook", "slack-webhook", "local-file-system"}


def test_checksum_ignores_secret_fields_and_unreferenced_definitions():
    fields = {"title": "X", "properties": {"a": {"$ref": "#/definitions/A"}}, "definitions": {"A": {"x": 1}}}
    noisy = {**fields, "secret_fields": ["a"], "definitions": {"A": {"x": 1}, "Unused": {"y": 2}}}
    assert schema_checksum(fields) == schema_checksum(noisy)
    assert schema_checksum(fields) != schema_checksum({**fields, "title": "Y"})


def test_mask_secrets_paths_and_wildcards():
    data = {"user": "u", "password": "p", "nested": {"token": "t", "open": 1}, "all": {"a": 1, "b": {"c": 2}}}
    masked = mask_secrets(data, ["password", "nested.token", "all.*", "missing"])
    assert masked == {
        "user": "u",
        "password": OBFUSCATED,
        "nested": {"token": OBFUSCATED, "open": 1},
        "all": {"a": OBFUSCATED, "b": {"c": OBFUSCATED}},
    }
    assert mask_secrets(data, []) is data
    assert mask_secrets({"value": {"k": "v"}}, ["value"]) == {"value": {"k": OBFUSCATED}}


def test_masked_secrets_sent_back_keep_the_stored_value():
    current = {"user": "u", "password": "p", "all": {"a": 1}}
    sent = {"user": "v", "password": OBFUSCATED, "all": {"a": OBFUSCATED}}
    assert keep_masked_secrets(sent, current, ["password", "all.*"]) == {"user": "v", "password": "p", "all": {"a": 1}}
    assert keep_masked_secrets({"password": "new"}, current, ["password"]) == {"password": "new"}


def test_ids_derive_from_slug_and_name():
    assert block_type_id("secret") == block_type_id("secret") != block_type_id("json")
    assert block_document_id(block_type_id("a"), "x") != block_document_id(block_type_id("b"), "x")


def test_catalog_file_is_prefects_fresh_server_listing():
    data = json.loads(CATALOG_PATH.read_text())
    assert data["prefect_version"] == "3.9.1"
    assert len(data["block_types"]) == 54 and len(data["block_schemas"]) == 64
    slugs = {t["slug"] for t in data["block_types"]}
    assert {s["block_type_slug"] for s in data["block_schemas"]} <= slugs
