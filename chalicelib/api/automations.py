"""``/automations``: Cirrus has no automations, and answers as a Prefect server with none does.

``serve()`` calls ``DELETE /automations/owned-by/{resource_id}`` at start (202), ``prefect
deployment inspect`` calls ``GET /automations/related-to/{resource_id}`` (``[]``), the UI filters.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import raw_body, route

bp = Blueprint(__name__)


@route(bp, "/automations/owned-by/{resource_id}", methods=("DELETE",), status=202, stub=True)
def delete_automations_owned_by(resource_id: str) -> None:
    return None


@route(bp, "/automations/related-to/{resource_id}", stub=True)
def automations_related_to(resource_id: str) -> list[object]:
    return []


@route(bp, "/automations/filter", methods=("POST",), stub=True)
def filter_automations() -> list[object]:
    raw_body(bp)  # malformed JSON is still a 422
    return []


@route(bp, "/automations/count", methods=("POST",), stub=True)
def count_automations() -> int:
    raw_body(bp)
    return 0
