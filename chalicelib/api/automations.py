"""``/automations``: Prefect's automations router (create, read, PUT, PATCH ``enabled``, delete,
filter, count, related-to, owned-by) and its template validation routes; evaluation runs in the
stream consumer and the proactive tick (:mod:`chalicelib.jobs.automations`).

``serve()`` and ``deploy()`` call ``DELETE /automations/owned-by/{resource_id}`` (202) before they
create their triggers' automations; ``prefect deployment inspect`` calls ``related-to``.
"""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint, Response

from chalicelib import schemas, services
from chalicelib.api.common import now, parse_body, path_uuid, raw_body, repositories, route
from chalicelib.api.replies import json_response

bp = Blueprint(__name__)


@route(bp, "/automations", methods=("POST",), status=201)
def create_automation() -> object:
    body = parse_body(bp, schemas.automations.AutomationCreate)
    return services.automations.create_automation(repositories(), body, now())


@route(bp, "/automations/{id}")
def read_automation(id: str) -> object:
    return services.automations.read_automation(repositories(), path_uuid(id))


@route(bp, "/automations/{id}", methods=("PUT",), status=204)
def update_automation(id: str) -> None:
    automation_id = path_uuid(id)
    body = parse_body(bp, schemas.automations.AutomationUpdate)
    services.automations.update_automation(repositories(), automation_id, body, now())


@route(bp, "/automations/{id}", methods=("PATCH",), status=204)
def patch_automation(id: str) -> None:
    automation_id = path_uuid(id)
    body = parse_body(bp, schemas.automations.AutomationPartialUpdate)
    services.automations.set_enabled(repositories(), automation_id, body.enabled, now())


@route(bp, "/automations/{id}", methods=("DELETE",), status=204)
def delete_automation(id: str) -> None:
    services.automations.delete_automation(repositories(), path_uuid(id))


@route(bp, "/automations/filter", methods=("POST",))
def filter_automations() -> object:
    body = parse_body(bp, schemas.automations.AutomationFilterBody)
    return services.automations.filter_automations(repositories(), body)


@route(bp, "/automations/count", methods=("POST",))
def count_automations() -> int:
    body = parse_body(bp, schemas.automations.AutomationCountBody)
    filter_body = schemas.automations.AutomationFilterBody(automations=body.automations)
    return services.automations.count_automations(repositories(), filter_body)


@route(bp, "/automations/related-to/{resource_id}")
def automations_related_to(resource_id: str) -> object:
    return services.automations.related_to(repositories(), unquote(resource_id))


@route(bp, "/automations/owned-by/{resource_id}", methods=("DELETE",), status=202)
def delete_automations_owned_by(resource_id: str) -> None:
    services.automations.delete_owned_by(repositories(), unquote(resource_id), now())


def _validate_template() -> Response:
    """Prefect's ``validate_template``: 204, or 422 ``{"error": {line, message, source}}``."""
    body = raw_body(bp)
    template = body if isinstance(body, str) else (body or {}).get("template", "") if isinstance(body, dict) else ""
    try:
        services.automations.validate(template)
    except services.automations.TemplateError as exc:
        return json_response({"error": {"line": exc.line, "message": exc.message, "source": template}}, 422)
    return Response(body="", status_code=204)


route(bp, "/automations/templates/validate", methods=("POST",))(_validate_template)


def validate_template() -> Response:
    return _validate_template()


route(bp, "/templates/validate", methods=("POST",))(validate_template)
