"""The API edge: parse a request, call one service, shape the reply; domain errors → HTTP in one table.

Chalice turns a view's exception into a 500 before any middleware sees it, so every view is
registered through :func:`route`, which maps errors to Prefect's bodies and status codes.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response

from chalicelib.api import request_policy
from chalicelib.config import get_settings
from chalicelib.errors import (
    ConcurrentUpdateError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidRequestError,
    NotFoundError,
    SlotsUnavailableError,
    StorageLimitError,
    StorageUnavailableError,
)
from chalicelib.storage import Repositories, shared_repositories
from chalicelib.storage import errors as store_errors

if TYPE_CHECKING:  # pragma: no cover - pydantic is imported on first use (cold start)
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")

JSON_HEADERS = {"Content-Type": "application/json"}
# Not "cirrus.…": Chalice(app_name="cirrus") caps the "cirrus" logger tree at ERROR.
LOG = logging.getLogger("chalicelib.api")


class RequestInvalid(Exception):
    """A body that failed validation; carries Prefect's ``exception_detail`` list."""

    def __init__(self, detail: list[dict[str, Any]], body: Any) -> None:
        self.detail = detail
        self.body = body
        super().__init__("Invalid request received.")


class PathNotFound(Exception):
    """A path parameter that cannot name anything (e.g. a non-UUID id)."""


def repositories() -> Repositories:
    """The repositories of the current settings (built once per settings object)."""
    return shared_repositories(get_settings())


def now() -> datetime:
    return datetime.now(UTC)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(body=json.dumps(data), status_code=status, headers=dict(JSON_HEADERS))


def _jsonable(result: Any) -> Any:
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_jsonable(r) for r in result]
    return result


_PARSED = "_cirrus_body"


def raw_body(bp: Blueprint, max_bytes: int | None = None) -> Any:
    """The request's JSON body (``None`` when empty), read once under the edge policy
    (:mod:`chalicelib.api.request_policy`): a body it refuses is a 422 (413 when larger than
    ``max_bytes``, by default ``MAX_BODY_BYTES``)."""
    request = bp.current_request
    if not hasattr(request, _PARSED):
        setattr(request, _PARSED, None)  # a refused body is not parsed twice
        limit = {} if max_bytes is None else {"max_bytes": max_bytes}
        body = request_policy.parse(request.raw_body, request.headers.get("content-type"), **limit)
        setattr(request, _PARSED, body)
    return getattr(request, _PARSED)


def parse_body(bp: Blueprint, model: type[M], *, default: Any = None) -> M:
    """Validate the request body against ``model``; failures become Prefect's 422."""
    from pydantic import ValidationError

    body = raw_body(bp)
    if body is None:
        body = {} if default is None else default
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestInvalid(validation_detail(exc), body) from exc


def validation_detail(exc: ValidationError, prefix: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def path_uuid(text: str) -> uuid.UUID:
    """A UUID path parameter; anything else is a 404 ``Not Found`` (Prefect's routing)."""
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError) as exc:
        raise PathNotFound(text) from exc


def _error_response(exc: Exception, bp: Blueprint) -> Response:
    if isinstance(exc, request_policy.BodyTooLarge):
        return json_response({"detail": str(exc)}, 413)
    if isinstance(exc, request_policy.BodyRefused):
        detail = [{"loc": exc.loc, "msg": exc.message, "type": exc.kind}]
        return json_response(
            {"exception_message": "Invalid request received.", "exception_detail": detail, "request_body": exc.body},
            422,
        )
    if isinstance(exc, RequestInvalid):
        return json_response(
            {"exception_message": str(exc), "exception_detail": exc.detail, "request_body": exc.body}, 422
        )
    if isinstance(exc, InvalidRequestError):
        body = getattr(bp.current_request, _PARSED, None)
        detail = [{"loc": list(exc.loc), "msg": exc.message, "type": exc.kind}]
        return json_response(
            {"exception_message": "Invalid request received.", "exception_detail": detail, "request_body": body},
            422,
        )
    if isinstance(exc, StorageLimitError):
        detail = [{"loc": ["body"], "msg": str(exc), "type": "storage_limit"}]
        body = getattr(bp.current_request, _PARSED, None)
        return json_response(
            {"exception_message": "Invalid request received.", "exception_detail": detail, "request_body": body},
            422,
        )
    if isinstance(exc, StorageUnavailableError):
        response = json_response(
            {"detail": "The store is unavailable or throttled; nothing was changed. Retry later.",
             "code": exc.code}, 503)  # fmt: skip
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    if isinstance(exc, SlotsUnavailableError):
        response = json_response({"detail": str(exc)}, 423)
        response.headers["Retry-After"] = f"{exc.retry_after_s:g}"
        return response
    if isinstance(exc, GoneError):
        return json_response({"detail": exc.message}, 410)
    if isinstance(exc, PathNotFound):
        return json_response({"detail": "Not Found"}, 404)
    if isinstance(exc, NotFoundError):
        return json_response({"detail": str(exc)}, 404)
    if isinstance(exc, ConflictError):
        return json_response({"detail": exc.message, **_jsonable_data(exc.data)}, 409)
    if isinstance(exc, ConcurrentUpdateError):
        return json_response({"detail": str(exc)}, 409)
    if isinstance(exc, ForbiddenError):
        return json_response({"detail": exc.message}, 403)
    raise exc


def _jsonable_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in data.items()}


_HANDLED = (
    SlotsUnavailableError,
    GoneError,
    request_policy.BodyTooLarge,
    request_policy.BodyRefused,
    RequestInvalid,
    InvalidRequestError,
    PathNotFound,
    NotFoundError,
    ConflictError,
    ConcurrentUpdateError,
    ForbiddenError,
    StorageLimitError,
    StorageUnavailableError,
)


def _log_store_failure(bp: Blueprint, error: Exception) -> None:
    """One line per failed request, with the store's own error as the cause."""
    request = bp.current_request
    cause = error.__cause__ or error
    LOG.warning("%s %s: %s (%s: %s)", request.method, request.path, error, type(cause).__name__, cause)


def route_options() -> dict[str, Any]:
    """Options every route shares (the authorizer, content types)."""
    from chalicelib.api.auth import route_authorizer

    options: dict[str, Any] = {"content_types": ["application/json", "text/plain", "application/x-www-form-urlencoded"]}
    authorizer = route_authorizer()
    if authorizer is not None:
        options["authorizer"] = authorizer
    return options


def route(
    bp: Blueprint,
    path: str,
    methods: tuple[str, ...] = ("GET",),
    status: int = 200,
    max_body_bytes: int | None = None,
    **kwargs: Any,
) -> Callable:
    """Register a view on ``bp``: its return value becomes JSON with ``status`` (a
    :class:`Response` is passed through), and domain errors become Prefect's error replies.
    When auth is required, a request without a valid API key is answered before ``fn`` runs.
    ``max_body_bytes`` raises the body size limit for a route that takes batches (logs)."""
    from chalicelib.api.auth import deny_unauthenticated

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(*args: Any, **params: Any) -> Response:
            denied = deny_unauthenticated(bp.current_request)
            if denied is not None:
                return denied
            try:
                raw_body(bp, max_body_bytes)  # the edge policy, for every route, before the view runs
                result = fn(*args, **params)
            except _HANDLED as exc:
                if isinstance(exc, StorageLimitError | StorageUnavailableError):
                    _log_store_failure(bp, exc)
                return _error_response(exc, bp)
            except store_errors.STORE_ERRORS as exc:
                error = store_errors.translated(exc, f"{bp.current_request.method} {bp.current_request.path}")
                _log_store_failure(bp, error)
                return _error_response(error, bp)
            if isinstance(result, Response):
                return result
            if status == 204:
                return Response(body="", status_code=204)
            return json_response(_jsonable(result), status)

        view.gated = True  # type: ignore[attr-defined]  # fallbacks.py gives the path's other methods the same gate
        bp.route(path, methods=list(methods), **{**route_options(), **kwargs})(view)
        return fn

    return decorate
