"""The routes every simple resource shares, registered from one place.

``simple_resource_routes(bp, "/variables", "variables")`` registers
``POST /variables/`` (201), ``GET|PATCH|DELETE /variables/{id}``, ``POST /variables/filter``,
``POST /variables/count`` and, with ``by_name``, ``GET|PATCH|DELETE /variables/name/{name}``. The
service module ``chalicelib.services.<service>`` is imported on the first request (cold start) and
must define ``RESOURCE``, a :class:`chalicelib.services.resources.SimpleResource`; each view parses,
calls one shared use case and shapes the reply.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import services
from chalicelib.api.common import now, parse_body, path_uuid, repositories, route


def simple_resource_routes(bp: Blueprint, base: str, service: str, *, by_name: bool = True) -> None:
    """Register the shared routes of the resource served by module ``service`` under ``base``."""
    tag = base.strip("/").replace("/", "_").replace("-", "_")

    def spec() -> Any:
        return getattr(services, service).RESOURCE

    def named(fn: Any, op: str) -> Any:
        fn.__name__ = f"{tag}_{op}"  # Chalice names views after their function
        return fn

    def create() -> object:
        r = spec()
        return services.resources.create(r, repositories(), parse_body(bp, r.create_schema), now())

    def read(id: str) -> object:
        return services.resources.read(spec(), repositories(), path_uuid(id))

    def update(id: str) -> None:
        r = spec()
        services.resources.update(r, repositories(), path_uuid(id), parse_body(bp, r.update_schema), now())

    def delete(id: str) -> None:
        services.resources.delete(spec(), repositories(), path_uuid(id))

    def filter_() -> object:
        r = spec()
        return services.resources.filter_objects(r, repositories(), parse_body(bp, r.filter_schema))

    def count() -> object:
        r = spec()
        return services.resources.count(r, repositories(), parse_body(bp, r.count_schema))

    route(bp, base, methods=("POST",), status=201)(named(create, "create"))
    route(bp, f"{base}/{{id}}")(named(read, "read"))
    route(bp, f"{base}/{{id}}", methods=("PATCH",), status=204)(named(update, "update"))
    route(bp, f"{base}/{{id}}", methods=("DELETE",), status=204)(named(delete, "delete"))
    route(bp, f"{base}/filter", methods=("POST",))(named(filter_, "filter"))
    route(bp, f"{base}/count", methods=("POST",))(named(count, "count"))
    if not by_name:
        return

    def read_by_name(name: str) -> object:
        return services.resources.read_by_name(spec(), repositories(), unquote(name))

    def update_by_name(name: str) -> None:
        r = spec()
        services.resources.update_by_name(r, repositories(), unquote(name), parse_body(bp, r.update_schema), now())

    def delete_by_name(name: str) -> None:
        services.resources.delete_by_name(spec(), repositories(), unquote(name))

    route(bp, f"{base}/name/{{name}}")(named(read_by_name, "read_by_name"))
    route(bp, f"{base}/name/{{name}}", methods=("PATCH",), status=204)(named(update_by_name, "update_by_name"))
    route(bp, f"{base}/name/{{name}}", methods=("DELETE",), status=204)(named(delete_by_name, "delete_by_name"))
