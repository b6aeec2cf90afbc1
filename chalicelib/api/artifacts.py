"""``/artifacts`` routes: the shared simple-resource routes (by id), the latest version of a key,
and the latest versions filtered and counted."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from chalice import Blueprint

from chalicelib.api.common import parse_body, repositories, route
from chalicelib.api.resources import simple_resource_routes
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:  # pragma: no cover - imported on first use (see chalicelib.lazy)
    import chalicelib.schemas.artifacts as schemas
    from chalicelib.services import artifacts
else:
    schemas = lazy_module("chalicelib.schemas.artifacts")
    artifacts = lazy_module("chalicelib.services.artifacts")

bp = Blueprint(__name__)

simple_resource_routes(bp, "/artifacts", "chalicelib.services.artifacts", by_name=False)


@route(bp, "/artifacts/{key}/latest")
def read_latest_artifact(key: str) -> object:
    return artifacts.latest(repositories(), unquote(key))


@route(bp, "/artifacts/latest/filter", methods=("POST",))
def filter_latest_artifacts() -> object:
    return artifacts.filter_latest(repositories(), parse_body(bp, schemas.ArtifactFilterBody))


@route(bp, "/artifacts/latest/count", methods=("POST",))
def count_latest_artifacts() -> object:
    return artifacts.count_latest(repositories(), parse_body(bp, schemas.ArtifactCountBody))
