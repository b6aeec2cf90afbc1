"""The routes the Prefect client calls first: health, versions, CSRF."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import json_response, route
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
