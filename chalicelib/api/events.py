"""``/events/in``: Prefect's events websocket, and ``POST /events`` (its REST twin).

One protocol, two transports. :func:`upgrade_denied` judges the opening handshake and
:func:`handle_frame` one text frame; the deployed websocket Lambdas below (API Gateway WebSocket
API, Chalice's ``on_ws_*``) and the local front (``devstack.front``) both call exactly these,
so ``make run`` speaks what AWS speaks.

The protocol (Prefect 3.9's ``PrefectEventsClient`` and its server's ``/events/in``):

- the client offers the ``prefect`` subprotocol; the server selects it;
- its first frame is ``{"type": "auth", "token": <PREFECT_API_AUTH_STRING or null>}``, answered
  ``{"type": "auth_success"}``; when ``CIRRUS_AUTH_REQUIRED`` is on, a token that is not a valid API
  key closes the socket with 1008 (policy violation), as Prefect's server does;
- then one JSON event per frame; nothing is sent back. A frame holding a JSON array is taken as a
  batch. An invalid event is dropped and counted, never fatal to the socket;
- pings (the client's checkpoints) are answered with pongs by the transport (API Gateway; aiohttp).

Authentication is also checked at the upgrade, from the ``Authorization`` header (Prefect sends
``Basic <base64 of PREFECT_API_AUTH_STRING>`` there too): a Lambda keeps no state between frames,
so the connection itself must be trusted before its frames are. Unlike Prefect's server, frames
are therefore not required to follow the auth frame: both transports accept events from an
authorized connection in any order.

``/events/out`` (:mod:`chalicelib.api.events_out`) and ``/task_runs/subscriptions/scheduled``
(:mod:`chalicelib.api.task_workers`) share the deployed WebSocket API: a filter frame is told apart
from an event by its ``"type": "filter"``, a task worker's frames by ``"subscribe"`` and ``"ack"``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint
from chalice.app import WebsocketDisconnectedError, WebsocketEvent

from chalicelib import services
from chalicelib.api import events_out, task_workers
from chalicelib.api.auth import INVALID_KEY, NOT_AUTHENTICATED, header_api_key, key_is_valid
from chalicelib.api.common import RequestInvalid, raw_body, repositories, route
from chalicelib.config import get_settings
from chalicelib.connections import sender
from chalicelib.storage import boto3_session

bp = Blueprint(__name__)

# Not "cirrus.…": Chalice(app_name="cirrus") caps the "cirrus" logger tree at ERROR.
logger = logging.getLogger("chalicelib.events")
logger.setLevel(logging.INFO)

SUBPROTOCOL = "prefect"
AUTH_SUCCESS = json.dumps({"type": "auth_success"})
#: RFC 6455 close codes.
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


#: Outcomes worth a log line on their own (the rest are only counted per connection).
NOTABLE = frozenset({"malformed", "unknown_flow_run"})


@dataclass(frozen=True)
class Denied:
    """An upgrade refused before the socket opens."""

    status: int
    detail: str


@dataclass(frozen=True)
class Reply:
    """What the transport does after a frame: send these texts, then close if ``close`` is set."""

    send: tuple[str, ...] = ()
    close: tuple[int, str] | None = None
    #: The outcome of each event in the frame (``services.events.Outcome`` values), for counting.
    outcomes: tuple[str, ...] = ()


def upgrade_denied(headers: Mapping[str, str]) -> Denied | None:
    """Why the opening handshake with these (lower-cased) headers is refused, or ``None``."""
    if not get_settings().auth_required:
        return None
    header = headers.get("authorization")
    if header is None:
        return Denied(401, NOT_AUTHENTICATED)
    if not key_is_valid(header_api_key(header)):
        return Denied(403, INVALID_KEY)
    return None


def wants_subprotocol(headers: Mapping[str, str]) -> bool:
    offered = headers.get("sec-websocket-protocol") or ""
    return SUBPROTOCOL in {part.strip() for part in offered.split(",")}


def handle_frame(text: str | bytes, now: datetime | None = None) -> Reply:
    """Answer one text frame of an authorized connection: an auth frame, an event or a batch."""
    message = _auth_message(text)
    if message is not None:
        token = message.get("token")
        if get_settings().auth_required and not key_is_valid(token if isinstance(token, str) else None):
            return Reply(close=(POLICY_VIOLATION, "Invalid token"))
        return Reply(send=(AUTH_SUCCESS,))
    outcomes = services.events.ingest_json(repositories(), text, now or datetime.now(UTC))
    return Reply(outcomes=tuple(outcome.value for outcome in outcomes))


def _auth_message(text: str | bytes) -> dict[str, Any] | None:
    """The frame as an auth message, or ``None`` when it is anything else (an event, a batch, junk)."""
    if b'"auth"' not in (text.encode() if isinstance(text, str) else text):
        return None  # the common case, an event, is not decoded twice
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return message if isinstance(message, dict) and message.get("type") == "auth" else None


def log_outcomes(where: str, outcomes: Mapping[str, int]) -> None:
    """One line of counts (malformed and unrecorded events included) per connection or request."""
    if outcomes:
        logger.info(json.dumps({"events": where, **dict(sorted(outcomes.items()))}))


# --------------------------------------------------------------------- REST: POST /events
@route(bp, "/events", methods=("POST",), status=204)
def create_events() -> None:
    """Prefect's ``POST /events``: a JSON array of events, each treated as on the websocket."""
    body = raw_body(bp)
    if not isinstance(body, list):
        detail = [{"loc": ["body"], "msg": "Input should be a valid list", "type": "list_type"}]
        raise RequestInvalid(detail, body)
    outcomes = services.events.ingest_many(repositories(), body, datetime.now(UTC))
    log_outcomes("POST /events", _count(o.value for o in outcomes))


# --------------------------------------------------------------------- the deployed websocket
# API Gateway WebSocket API ($connect / $default); CloudFront routes <base>/events/in to it.
# Registered by app.py on the app itself: Chalice wraps websocket handlers only there.
def events_connect(event: WebsocketEvent) -> dict[str, Any]:
    """The opening handshake: refused (401/403) when auth is required and the header fails."""
    headers = {k.lower(): v for k, v in (event.to_dict().get("headers") or {}).items()}
    denied = upgrade_denied(headers)
    if denied is not None:
        return {"statusCode": denied.status}
    if wants_subprotocol(headers):
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": SUBPROTOCOL}}
    return {"statusCode": 200}


def events_message(event: WebsocketEvent) -> None:
    """One frame: answered through API Gateway's management API."""
    api = bp.current_app.websocket_api
    if api.session is None:
        api.session = boto3_session()
    try:
        if events_out.is_filter_frame(event.body):  # an /events/out subscriber (one WebSocket API for all)
            sent, refused = events_out.subscribe_connection(event.connection_id, event.body)
            reply = Reply(send=tuple(sent), close=(events_out.PROTOCOL_ERROR, "Invalid filter") if refused else None)
        elif task_workers.is_subscription_frame(event.body):  # a task worker (background tasks)
            task_workers.subscribe_connection(event.connection_id, event.body, sender(api))
            reply = Reply()
        elif task_workers.is_ack_frame(event.body):  # a task worker took a run: nothing to answer
            reply = Reply()
        else:
            reply = handle_frame(event.body)
    except Exception:  # noqa: BLE001 - a failure we cannot judge: close, and the client resends
        logger.exception("events/in: closing connection %s", event.connection_id)
        reply = Reply(close=(INTERNAL_ERROR, "Internal error"))
    try:
        for text in reply.send:
            api.send(event.connection_id, text)
        if reply.close is not None:
            api.close(event.connection_id)
    except WebsocketDisconnectedError:
        pass  # the client left; it resends what it did not see confirmed
    # Heartbeats are the steady load: only what needs a look is logged per frame.
    log_outcomes("websocket", _count(o for o in reply.outcomes if o in NOTABLE))


def _count(outcomes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
