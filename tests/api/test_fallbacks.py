"""Requests no view serves: Prefect's 405 for a known path's other methods (API Gateway and the local
server alike), and the app's route table declaring them so API Gateway routes them to the app."""

from __future__ import annotations

import json

import pytest

from chalicelib.api.fallbacks import METHODS


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/flows/filter", "POST"),
        ("GET", "/flows/", "POST"),
        ("PUT", "/flows/00000000-0000-0000-0000-000000000000", "DELETE, GET, PATCH"),
        ("POST", "/health", "GET"),
        ("GET", "/deployments/00000000-0000-0000-0000-000000000000/schedule", "POST"),
    ],
)
def test_known_path_with_another_method_is_405(client, method, path, allowed):
    response = client.http.request(method, path, body=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 405
    assert json.loads(response.body) == {"detail": "Method Not Allowed"}
    assert response.headers["Allow"] == allowed


def test_every_path_declares_every_method():
    from app import app

    for path, views in app.routes.items():
        assert set(METHODS) <= set(views), path
        serves_get = not views["GET"].view_name.startswith("method_not_allowed_")
        assert serves_get == ("HEAD" in views), path


def test_head_answers_as_get(client):
    response = client.http.request("HEAD", "/version")
    assert response.status_code == 200
