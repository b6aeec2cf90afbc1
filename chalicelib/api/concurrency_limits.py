"""``/v2/concurrency_limits`` routes: create, read/update/delete by id or name, filter, and slots
taken with leases (``increment-with-lease``, ``decrement-with-lease``, ``leases/{id}/renew``)."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import now, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)
BASE = "/v2/concurrency_limits"


@route(bp, BASE, methods=("POST",), status=201)
def create_concurrency_limit() -> object:
    return services.resources.create(
        services.concurrency_limits.RESOURCE,
        repositories(),
        parse_body(bp, schemas.concurrency_limits.ConcurrencyLimitCreate),
        now(),
    )


@route(bp, f"{BASE}/{{id_or_name}}")
def read_concurrency_limit(id_or_name: str) -> object:
    return services.concurrency_limits.read(repositories(), unquote(id_or_name))


@route(bp, f"{BASE}/{{id_or_name}}", methods=("PATCH",), status=204)
def update_concurrency_limit(id_or_name: str) -> None:
    services.concurrency_limits.update(
        repositories(), unquote(id_or_name), parse_body(bp, schemas.concurrency_limits.ConcurrencyLimitUpdate), now()
    )


@route(bp, f"{BASE}/{{id_or_name}}", methods=("DELETE",), status=204)
def delete_concurrency_limit(id_or_name: str) -> None:
    services.concurrency_limits.delete(repositories(), unquote(id_or_name))


@route(bp, f"{BASE}/filter", methods=("POST",))
def filter_concurrency_limits() -> object:
    body = parse_body(bp, schemas.concurrency_limits.ConcurrencyLimitFilterBody)
    return services.resources.filter_objects(services.concurrency_limits.RESOURCE, repositories(), body)


@route(bp, f"{BASE}/increment-with-lease", methods=("POST",))
def increment_with_lease() -> object:
    return services.concurrency_limits.increment_with_lease(
        repositories(), parse_body(bp, schemas.concurrency_limits.IncrementWithLease), now()
    )


@route(bp, f"{BASE}/decrement-with-lease", methods=("POST",), status=204)
def decrement_with_lease() -> None:
    services.concurrency_limits.decrement_with_lease(
        repositories(), parse_body(bp, schemas.concurrency_limits.DecrementWithLease).lease_id
    )


@route(bp, f"{BASE}/leases/{{lease_id}}/renew", methods=("POST",), status=204)
def renew_lease(lease_id: str) -> None:
    services.concurrency_limits.renew_lease(
        repositories(), path_uuid(lease_id), parse_body(bp, schemas.concurrency_limits.RenewLease), now()
    )


@route(bp, "/concurrency_limits/filter", methods=("POST",))
def filter_tag_concurrency_limits() -> object:
    """The v1 tag limits (Prefect 3 keeps them as v2 ``tag:<tag>`` limits)."""
    return services.concurrency_limits.tag_limits(
        repositories(), parse_body(bp, schemas.concurrency_limits.ConcurrencyLimitFilterBody)
    )
