"""API-key auth through ``chalice.test.Client``: the view gate on the real app, and the built-in
authorizer behind Chalice's API Gateway emulation; auth off by default in the test stage."""

from __future__ import annotations

import re
import uuid

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client

from chalicelib.api import auth
from chalicelib.api.common import route
from chalicelib.config import get_settings, override_settings
from chalicelib.schemas.common import utcnow
from chalicelib.services import api_keys
from chalicelib.storage.instrumentation import count_requests
from tests.helpers import call

WRONG_KEY = "cirrus_" + "A" * 43
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/GET/flows/filter"


@pytest.fixture
def issue(repos):
    def _issue(name: str = "ci") -> str:
        return api_keys.create_api_key(repos, name, utcnow()).key

    return _issue


@pytest.fixture
def auth_on(settings):
    return override_settings(settings, auth_required=True)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- auth off
def test_auth_is_off_in_the_test_stage_by_default(client):
    assert get_settings().auth_required is False
    assert auth.route_authorizer() is None
    assert call(client, "GET", "/version") == (200, "0.8.4")
    assert call(client, "POST", "/flows/", {"name": "open"})[0] == 201
    # A header is ignored, even a wrong one.
    assert call(client, "GET", "/version", **bearer(WRONG_KEY)) == (200, "0.8.4")


# --------------------------------------------------------------------------- the view gate
def test_a_valid_key_passes(client, auth_on, issue):
    key = issue()
    assert call(client, "GET", "/version", **bearer(key)) == (200, "0.8.4")
    assert call(client, "GET", "/version", Authorization=f"bearer {key}") == (200, "0.8.4")
    assert call(client, "POST", "/flows/", {"name": "etl"}, **bearer(key))[0] == 201


def test_a_missing_header_is_401(client, auth_on):
    response = client.http.get("/version")
    assert response.status_code == 401
    assert response.json_body == {"detail": auth.NOT_AUTHENTICATED}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token {key}", "{key}", "Bearer {key} x", f"Bearer {WRONG_KEY}"],
)
def test_a_malformed_header_or_wrong_key_is_403(client, auth_on, issue, header):
    key = issue()
    assert call(client, "GET", "/version", Authorization=header.format(key=key)) == (403, {"detail": auth.INVALID_KEY})


def test_a_revoked_key_fails_at_once(client, auth_on, repos, issue):
    key, other = issue("ci"), issue("worker")
    assert call(client, "GET", "/version", **bearer(key))[0] == 200
    api_keys.revoke_api_key(repos, "ci")
    assert call(client, "GET", "/version", **bearer(key)) == (403, {"detail": auth.INVALID_KEY})
    assert call(client, "GET", "/version", **bearer(other))[0] == 200


def test_a_rejected_request_has_no_side_effect(client, auth_on, repos):
    with count_requests() as counter:
        assert call(client, "POST", "/flows/", {"name": "intruder"})[0] == 401
        assert call(client, "POST", "/flows/", {"name": "intruder"}, **bearer(WRONG_KEY))[0] == 403
    assert counter.writes == 0
    assert counter.snapshot() == {"GetItem": 1}  # the key lookup, nothing else
    assert list(repos.flows.scan()) == []


def test_health_stays_open(client, auth_on):
    assert call(client, "GET", "/health") == (200, True)


def test_every_route_but_health_requires_a_key(client, auth_on):
    from app import app

    checked = 0
    for path, methods in app.routes.items():
        concrete = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
        for method in methods:
            status, _ = call(client, method, concrete)
            if path == "/health":  # open to all; its other methods answer 405 (fallbacks.py)
                assert status == (200 if method in ("GET", "HEAD") else 405), method
            else:
                assert status == 401, f"{method} {path} answered {status} without a key"
                checked += 1
    assert checked >= 10


# --------------------------------------------------------------------------- the gateway authorizer
def test_the_app_registers_the_authorizer_without_a_result_cache():
    from app import app

    configs = [a for a in app.builtin_auth_handlers if a.name == "api_key_authorizer"]
    assert len(configs) == 1, "app.py must register chalicelib.api.auth.bp (the authorizer's Lambda)"
    (config,) = configs
    assert config.ttl_seconds == 0  # API Gateway re-checks every request: revocation is immediate
    assert config.handler_string == "chalicelib.api.auth.api_key_authorizer"


def authorize(token: str) -> dict:
    event = {"type": "TOKEN", "authorizationToken": token, "methodArn": METHOD_ARN}
    return auth.api_key_authorizer(event, None)


def test_authorizer_allows_a_valid_key_and_denies_anything_else(auth_on, issue):
    key = issue("ci")
    allowed = authorize(f"Bearer {key}")
    assert allowed["principalId"] == "ci"
    (statement,) = allowed["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/*/*"]

    for token in ["", "Bearer", key, f"Basic {key}", f"Bearer {WRONG_KEY}"]:
        denied = authorize(token)
        (statement,) = denied["policyDocument"]["Statement"]
        assert (statement["Effect"], statement["Resource"]) == ("Deny", [METHOD_ARN]), token


def test_the_authorizer_is_attached_when_the_import_time_environment_asks(monkeypatch):
    monkeypatch.delenv("CIRRUS_AUTH_REQUIRED", raising=False)
    assert auth.route_authorizer() is None
    monkeypatch.setenv("CIRRUS_AUTH_REQUIRED", "true")  # what `chalice package --stage dev` sees
    assert auth.route_authorizer() is auth.api_key_authorizer


@pytest.fixture
def gateway(auth_on, monkeypatch):
    """A small app whose route is registered as in a deployed stage (auth on at import): Chalice's
    API Gateway emulation runs the built-in authorizer before the view, as API Gateway does."""
    monkeypatch.setenv("CIRRUS_AUTH_REQUIRED", "true")
    bp = Blueprint("tests.api.gateway")

    @route(bp, "/whoami")
    def whoami() -> object:
        return bp.current_request.context["authorizer"]["principalId"]

    app = Chalice("gateway-test")
    app.register_blueprint(bp)
    assert app.routes["/whoami"]["GET"].authorizer is auth.api_key_authorizer
    with Client(app, stage_name="test") as test_client:
        yield test_client


def test_gateway_authorizer(gateway, repos, issue):
    key = issue("ci")
    assert call(gateway, "GET", "/whoami", **bearer(key)) == (200, "ci")
    assert call(gateway, "GET", "/whoami")[0] == 401
    assert call(gateway, "GET", "/whoami", **bearer(WRONG_KEY))[0] == 403
    assert call(gateway, "GET", "/whoami", Authorization=key)[0] == 403
    api_keys.revoke_api_key(repos, "ci")
    assert call(gateway, "GET", "/whoami", **bearer(key))[0] == 403


def test_bearer_token():
    assert auth.bearer_token("Bearer abc") == "abc"
    assert auth.bearer_token("  bEaReR   abc  ") == "abc"
    for header in [None, "", "Bearer", "Bearer  ", "Basic abc", "abc", "Bearer a b"]:
        assert auth.bearer_token(header) is None, header
