"""``/flow_runs/{id}/input*`` and ``/flow_runs/{id}/resume`` (Prefect's pause/suspend with input)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import schemas, services
from chalicelib.api.common import json_response, now, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)


@route(bp, "/flow_runs/{id}/input", methods=("POST",), status=201)
def create_flow_run_input(id: str) -> None:
    body = parse_body(bp, schemas.flow_run_inputs.FlowRunInputCreate)
    services.flow_run_inputs.create_input(repositories(), path_uuid(id), body, now())


@route(bp, "/flow_runs/{id}/input/filter", methods=("POST",))
def filter_flow_run_input(id: str) -> object:
    body = parse_body(bp, schemas.flow_run_inputs.FlowRunInputFilter)
    return [value.to_json() for value in services.flow_run_inputs.filter_inputs(repositories(), path_uuid(id), body)]


@route(bp, "/flow_runs/{id}/input/{key}")
def read_flow_run_input(id: str, key: str) -> Response:
    """The value as stored, as plain text (the client decodes it itself)."""
    value = services.flow_run_inputs.read_input(repositories(), path_uuid(id), key)
    return Response(body=value, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"})


@route(bp, "/flow_runs/{id}/input/{key}", methods=("DELETE",), status=204)
def delete_flow_run_input(id: str, key: str) -> None:
    services.flow_run_inputs.delete_input(repositories(), path_uuid(id), key)


@route(bp, "/flow_runs/{id}/resume", methods=("POST",))
def resume_flow_run(id: str) -> object:
    body = parse_body(bp, schemas.flow_run_inputs.ResumeBody)
    result = services.flow_run_inputs.resume_flow_run(repositories(), path_uuid(id), body, now())
    return json_response(result.to_json(), 201 if result.written else 200)
