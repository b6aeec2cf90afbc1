"""The API edge: parse a request, call one service, shape the reply; domain errors → HTTP in one table.

Chalice turns a view's exception into a 500 before any middleware sees it, so every view is
registered through :func:`route`, which maps errors to Prefect's bodies and status codes.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response

from chalicelib.api import request_policy
from chalicelib.api.auth import deny_unauthenticated, route_authorizer
from chalicelib.api.replies import JSON_HEADERS as JSON_HEADERS  # re-exported for the edge modules
from chalicelib.api.replies import json_response as json_response
from chalicelib.api.replies import repositories as repositories
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
from chalicelib.storage import STORE_ERRORS, translated

if TYPE_CHECKING:  # pragma: no cover - pydantic is imported on first use (cold start)
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")

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


def now() -> datetime:
    return datetime.now(UTC)


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


def query_datetime(bp: Blueprint, name: str) -> datetime | None:
    """An optional ISO 8601 query parameter as an aware UTC datetime (naive: UTC); junk is a 422."""
    raw = (bp.current_request.query_params or {}).get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "+"))  # an unescaped "+" arrives as a space
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        detail = [{"loc": ["query", name], "msg": "Input should be a valid datetime", "type": "datetime_parsing"}]
        raise RequestInvalid(detail, None) from exc


def _invalid(bp: Blueprint, loc: list[Any], message: str, kind: str, body: Any = ...) -> Response:
    """Prefect's 422 body, with the request's parsed body unless one is given."""
    detail = [{"loc": loc, "msg": message, "type": kind}]
    sent = getattr(bp.current_request, _PARSED, None) if body is ... else body
    return json_response(
        {"exception_message": "Invalid request received.", "exception_detail": detail, "request_body": sent}, 422
    )


def _retry_later(detail: dict[str, Any], status: int, retry_after: str | None) -> Response:
    response = json_response(detail, status)
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


#: Error type → its HTTP answer, the one place errors become HTTP (first match wins: subclasses first).
_ANSWERS: tuple[tuple[type[Exception], Callable[[Any, Blueprint], Response]], ...] = (
    (request_policy.BodyTooLarge, lambda e, bp: json_response({"detail": str(e)}, 413)),
    (request_policy.BodyRefused, lambda e, bp: _invalid(bp, e.loc, e.message, e.kind, e.body)),
    (
        RequestInvalid,
        lambda e, bp: json_response(
            {"exception_message": str(e), "exception_detail": e.detail, "request_body": e.body}, 422
        ),
    ),
    (InvalidRequestError, lambda e, bp: _invalid(bp, list(e.loc), e.message, e.kind)),
    (StorageLimitError, lambda e, bp: _invalid(bp, ["body"], str(e), "storage_limit")),
    (
        StorageUnavailableError,
        lambda e, bp: _retry_later(
            {"detail": "The store is unavailable or throttled; nothing was changed. Retry later.", "code": e.code},
            503,
            str(e.retry_after_s),
        ),
    ),
    (
        SlotsUnavailableError,
        lambda e, bp: _retry_later(
            {"detail": str(e)}, 423, None if e.retry_after_s is None else f"{e.retry_after_s:g}"
        ),
    ),
    (GoneError, lambda e, bp: json_response({"detail": e.message}, 410)),
    (PathNotFound, lambda e, bp: json_response({"detail": "Not Found"}, 404)),
    (NotFoundError, lambda e, bp: json_response({"detail": str(e)}, 404)),
    (ConflictError, lambda e, bp: json_response({"detail": e.message, **_jsonable_data(e.data)}, 409)),
    (ConcurrentUpdateError, lambda e, bp: json_response({"detail": str(e)}, 409)),
    (ForbiddenError, lambda e, bp: json_response({"detail": e.message}, 403)),
)
_HANDLED = tuple(kind for kind, _ in _ANSWERS)


def _error_response(exc: Exception, bp: Blueprint) -> Response:
    for kind, answer in _ANSWERS:
        if isinstance(exc, kind):
            return answer(exc, bp)
    raise exc


def page_reply(page: Any) -> dict[str, Any]:
    """Prefect's paginate answer (``results``, ``count``, ``limit``, ``pages``, ``page``) of a
    ``services.paging.Page``."""
    return {
        "results": _jsonable(list(page.results)),
        "count": page.count,
        "limit": page.limit,
        "pages": page.pages,
        "page": page.page,
    }


def _jsonable_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in data.items()}


def _log_store_failure(bp: Blueprint, error: Exception) -> None:
    """One line per failed request, with the store's own error as the cause."""
    request = bp.current_request
    cause = error.__cause__ or error
    LOG.warning("%s %s: %s (%s: %s)", request.method, request.path, error, type(cause).__name__, cause)


def route_options() -> dict[str, Any]:
    """Options every route shares (the authorizer, content types)."""
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
    stub: bool = False,
    **kwargs: Any,
) -> Callable:
    """Register a view on ``bp``: its return value becomes JSON with ``status`` (a
    :class:`Response` is passed through), and domain errors become Prefect's error replies.
    When auth is required, a request without a valid API key is answered before ``fn`` runs.
    ``max_body_bytes`` raises the body size limit for a route that takes batches (logs). ``stub``
    marks a view that answers as a Prefect server with nothing of the kind would (an empty list…)
    for a feature Cirrus lacks (tools/route_coverage.py counts them apart)."""

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
            except STORE_ERRORS as exc:
                error = translated(exc, f"{bp.current_request.method} {bp.current_request.path}")
                _log_store_failure(bp, error)
                return _error_response(error, bp)
            if isinstance(result, Response):
                return result
            if status == 204:
                return Response(body="", status_code=204)
            return json_response(_jsonable(result), status)

        view.gated = True  # type: ignore[attr-defined]  # fallbacks.py gives the path's other methods the same gate
        view.stub = stub  # type: ignore[attr-defined]
        bp.route(path, methods=list(methods), **{**route_options(), **kwargs})(view)
        return fn

    return decorate
