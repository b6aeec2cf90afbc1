"""``/v2/concurrency_limits`` routes: create, read/update/delete by id or name, filter, slots taken
and given back without a lease (``increment``/``decrement``: ``rate_limit()``, with slot decay) and
with leases (``increment-with-lease``, ``decrement-with-lease``, ``leases/{id}/renew``); and v1's
tag limits over them (``/concurrency_limits/...``: the ``prefect concurrency-limit`` CLI, the UI's
Task Run tab, ``prefect.concurrency.v1``), kept as the v2 limits ``tag:<tag>`` as Prefect 3 keeps them."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import json_response, now, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)
BASE = "/v2/concurrency_limits"


@route(bp, BASE, methods=("POST",), status=201)
def create_concurrency_limit() -> object:
    at = now()
    body = parse_body(bp, schemas.concurrency_limits.ConcurrencyLimitCreate)
    return services.concurrency_limits.as_of(services.concurrency_limits.create(repositories(), body, at), at)


@route(bp, f"{BASE}/{{id_or_name}}")
def read_concurrency_limit(id_or_name: str) -> object:
    return services.concurrency_limits.read(repositories(), unquote(id_or_name), now())


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
    return services.concurrency_limits.filter_limits(repositories(), body, now())


@route(bp, f"{BASE}/increment", methods=("POST",))
def increment() -> object:
    body = parse_body(bp, schemas.concurrency_limits.Increment)
    return services.concurrency_limits.increment(repositories(), body, now())


@route(bp, f"{BASE}/decrement", methods=("POST",))
def decrement() -> object:
    body = parse_body(bp, schemas.concurrency_limits.Decrement)
    return services.concurrency_limits.decrement(repositories(), body, now())


@route(bp, f"{BASE}/increment-with-lease", methods=("POST",))
def increment_with_lease() -> object:
    return services.concurrency_limits.increment_with_lease(
        repositories(), parse_body(bp, schemas.concurrency_limits.IncrementWithLease), now()
    )


@route(bp, f"{BASE}/decrement-with-lease", methods=("POST",), status=204)
def decrement_with_lease() -> None:
    services.concurrency_limits.decrement_with_lease(
        repositories(), parse_body(bp, schemas.concurrency_limits.DecrementWithLease).lease_id, now()
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


V1 = "/concurrency_limits"


@route(bp, V1, methods=("POST",))
def upsert_tag_concurrency_limit() -> object:
    body = parse_body(bp, schemas.concurrency_limits.TagLimitCreate)
    limit, created = services.concurrency_limits.upsert_tag_limit(repositories(), body, now())
    return json_response(limit, 201 if created else 200)


@route(bp, f"{V1}/increment", methods=("POST",))
def increment_tag_slots() -> object:
    body = parse_body(bp, schemas.concurrency_limits.TagSlots)
    return services.concurrency_limits.increment_tag_slots(repositories(), body, now())


@route(bp, f"{V1}/decrement", methods=("POST",))
def decrement_tag_slots() -> object:
    body = parse_body(bp, schemas.concurrency_limits.TagSlotsRelease)
    return services.concurrency_limits.decrement_tag_slots(repositories(), body, now())


@route(bp, f"{V1}/{{id}}")
def read_tag_concurrency_limit(id: str) -> object:
    return services.concurrency_limits.read_tag_limit(repositories(), path_uuid(id))


@route(bp, f"{V1}/{{id}}", methods=("DELETE",))
def delete_tag_concurrency_limit(id: str) -> None:
    services.concurrency_limits.delete_tag_limit(repositories(), path_uuid(id))


@route(bp, f"{V1}/tag/{{tag}}")
def read_tag_concurrency_limit_by_tag(tag: str) -> object:
    return services.concurrency_limits.read_tag_limit(repositories(), unquote(tag))


@route(bp, f"{V1}/tag/{{tag}}", methods=("DELETE",))
def delete_tag_concurrency_limit_by_tag(tag: str) -> None:
    services.concurrency_limits.delete_tag_limit(repositories(), unquote(tag))


@route(bp, f"{V1}/tag/{{tag}}/reset", methods=("POST",))
def reset_tag_concurrency_limit(tag: str) -> None:
    body = parse_body(bp, schemas.concurrency_limits.TagLimitReset)
    services.concurrency_limits.reset_tag_limit(repositories(), unquote(tag), body, now())
