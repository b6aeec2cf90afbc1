"""``/artifacts`` routes: the shared simple-resource routes (by id), the latest version of a key,
and the latest versions filtered and counted."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import parse_body, repositories, route
from chalicelib.api.resources import simple_resource_routes

bp = Blueprint(__name__)

simple_resource_routes(bp, "/artifacts", "artifacts", by_name=False)


@route(bp, "/artifacts/{key}/latest")
def read_latest_artifact(key: str) -> object:
    return services.artifacts.latest(repositories(), unquote(key))


@route(bp, "/artifacts/latest/filter", methods=("POST",))
def filter_latest_artifacts() -> object:
    return services.artifacts.filter_latest(repositories(), parse_body(bp, schemas.artifacts.ArtifactFilterBody))


@route(bp, "/artifacts/latest/count", methods=("POST",))
def count_latest_artifacts() -> object:
    return services.artifacts.count_latest(repositories(), parse_body(bp, schemas.artifacts.ArtifactCountBody))
