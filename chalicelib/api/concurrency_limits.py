"""``/v2/concurrency_limits`` routes: create, read/update/delete by id or name, filter, and slots
taken with leases (``increment-with-lease``, ``decrement-with-lease``, ``leases/{id}/renew``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from chalice import Blueprint

from chalicelib.api.common import now, parse_body, path_uuid, repositories, route
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:  # pragma: no cover - imported on first use (see chalicelib.lazy)
    import chalicelib.schemas.concurrency_limits as schemas
    from chalicelib.services import concurrency_limits as limits
    from chalicelib.services import resources
else:
    schemas = lazy_module("chalicelib.schemas.concurrency_limits")
    limits = lazy_module("chalicelib.services.concurrency_limits")
    resources = lazy_module("chalicelib.services.resources")

bp = Blueprint(__name__)
BASE = "/v2/concurrency_limits"


@route(bp, BASE, methods=("POST",), status=201)
def create_concurrency_limit() -> object:
    return resources.create(limits.RESOURCE, repositories(), parse_body(bp, schemas.ConcurrencyLimitCreate), now())


@route(bp, f"{BASE}/{{id_or_name}}")
def read_concurrency_limit(id_or_name: str) -> object:
    return limits.read(repositories(), unquote(id_or_name))


@route(bp, f"{BASE}/{{id_or_name}}", methods=("PATCH",), status=204)
def update_concurrency_limit(id_or_name: str) -> None:
    limits.update(repositories(), unquote(id_or_name), parse_body(bp, schemas.ConcurrencyLimitUpdate), now())


@route(bp, f"{BASE}/{{id_or_name}}", methods=("DELETE",), status=204)
def delete_concurrency_limit(id_or_name: str) -> None:
    limits.delete(repositories(), unquote(id_or_name))


@route(bp, f"{BASE}/filter", methods=("POST",))
def filter_concurrency_limits() -> object:
    body = parse_body(bp, schemas.ConcurrencyLimitFilterBody)
    return resources.filter_objects(limits.RESOURCE, repositories(), body)


@route(bp, f"{BASE}/increment-with-lease", methods=("POST",))
def increment_with_lease() -> object:
    return limits.increment_with_lease(repositories(), parse_body(bp, schemas.IncrementWithLease), now())


@route(bp, f"{BASE}/decrement-with-lease", methods=("POST",), status=204)
def decrement_with_lease() -> None:
    limits.decrement_with_lease(repositories(), parse_body(bp, schemas.DecrementWithLease).lease_id)


@route(bp, f"{BASE}/leases/{{lease_id}}/renew", methods=("POST",), status=204)
def renew_lease(lease_id: str) -> None:
    limits.renew_lease(repositories(), path_uuid(lease_id), parse_body(bp, schemas.RenewLease), now())


@route(bp, "/concurrency_limits/filter", methods=("POST",))
def filter_tag_concurrency_limits() -> object:
    """The v1 tag limits (Prefect 3 keeps them as v2 ``tag:<tag>`` limits)."""
    return limits.tag_limits(repositories(), parse_body(bp, schemas.ConcurrencyLimitFilterBody))
