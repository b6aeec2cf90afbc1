"""The routes the Prefect client calls first: health, readiness, versions, CSRF, hello, storage."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import services
from chalicelib.api.common import json_response, repositories, route
from chalicelib.config import API_VERSION, PREFECT_VERSION

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])  # open: load balancers and the client probe it unauthenticated
def health() -> bool:
    return True


@route(bp, "/version")
def api_version() -> str:
    return API_VERSION


@route(bp, "/admin/version")
def server_version() -> str:
    return PREFECT_VERSION


@route(bp, "/csrf-token")
def csrf_token() -> object:
    # Prefect's client stops asking for tokens after this answer.
    return json_response({"detail": "CSRF protection is disabled."}, 422)


@route(bp, "/hello")
def hello() -> str:
    return "👋"


@route(bp, "/ready")
def ready() -> object:
    """200 ``{"message": "OK"}`` when the tables answer, else 503 (Prefect's readiness check)."""
    if services.health.tables_reachable(repositories()):
        return json_response({"message": "OK"})
    return json_response({"message": "Database is not available"}, 503)


@route(bp, "/admin/storage")
def server_default_result_storage() -> object:
    # Cirrus has no blocks, so no server default result storage block (Prefect's answer when unset).
    return {"default_result_storage_block_id": None}
