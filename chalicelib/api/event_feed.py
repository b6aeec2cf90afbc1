"""The stored event feed's routes: ``POST /events/filter``, ``GET /events/filter/next`` and
``POST /events/count-by/{countable}`` (Prefect 3.9's ``api/events.py``), over
:mod:`chalicelib.services.event_feed`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import now, parse_body, repositories, route
from chalicelib.api.replies import json_response

bp = Blueprint(__name__)

FILTER_PATH = "/events/filter"
NEXT_PATH = "/events/filter/next"


def _page_reply(page: Any) -> dict[str, Any]:
    link = None
    if page.next_token is not None:
        # Prefect's link: this API's base URL, then the token base64-encoded once more.
        request = bp.current_request
        headers = {k.lower(): v for k, v in request.headers.items()}
        full_path = str(request.context.get("path") or request.path)
        base = full_path[: full_path.rfind(FILTER_PATH)] if FILTER_PATH in full_path else ""
        scheme = headers.get("x-forwarded-proto", "http")
        token = base64.b64encode(page.next_token.encode()).decode()
        link = f"{scheme}://{headers.get('host', 'localhost')}{base}{NEXT_PATH}?page-token={token}"
    return {"events": page.events, "total": page.total, "next_page": link}


@route(bp, FILTER_PATH, methods=("POST",))
def read_events() -> object:
    body = parse_body(bp, schemas.event_filters.FilterRequest)
    return _page_reply(services.event_feed.first_page(repositories(), body.filter, body.limit))


@route(bp, NEXT_PATH)
def read_next_page() -> object:
    raw = (bp.current_request.query_params or {}).get("page-token")
    forbidden = json_response({"detail": "Forbidden"}, 403)
    if not raw:
        return json_response({"detail": [{"loc": ["query", "page-token"], "msg": "Field required"}]}, 422)
    try:
        token = base64.b64decode(raw.encode(), validate=True).decode()
        return _page_reply(services.event_feed.next_page(repositories(), token))
    except (binascii.Error, UnicodeDecodeError, services.event_feed.InvalidPageToken):
        return forbidden


@route(bp, "/events/count-by/{countable}", methods=("POST",))
def count_events(countable: str) -> object:
    try:
        kind = schemas.event_filters.Countable(countable)
    except ValueError:
        detail = [{"loc": ["path", "countable"], "msg": "Input should be 'day', 'time', 'event' or 'resource'",
                   "type": "enum"}]  # fmt: skip
        return json_response(
            {"exception_message": "Invalid request received.", "exception_detail": detail, "request_body": None}, 422
        )
    body = parse_body(bp, schemas.event_filters.CountRequest)
    return services.event_feed.count_by(repositories(), body.filter, kind, body.time_unit, body.time_interval, now())
