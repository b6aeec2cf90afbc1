"""API-key authentication: ``Authorization: Bearer <key>`` on every route but ``/health``.

Two gates share one check (:func:`chalicelib.services.api_keys.authenticate`):

* :func:`api_key_authorizer`, a Chalice built-in authorizer: API Gateway runs it before the API
  Lambda, with its result cache off (``ttl_seconds=0``) so a revoked key fails on its next request.
  :func:`route_authorizer` attaches it to every route registered through ``common.route`` when
  ``CIRRUS_AUTH_REQUIRED`` is on while the app is imported, which is when ``chalice package`` (and
  so the CDK stack) reads the routes: the deployed stages turn it on.
* :func:`deny_unauthenticated`, run by every ``common.route`` view: it enforces the same rule when
  no authorizer ran, e.g. under ``chalice.test.Client`` or ``chalice local`` with auth switched on
  after import. Requests the gateway authorizer already let through are not checked twice.

``Basic <base64 of the key>`` is accepted too (what Prefect sends when the key is given as
``PREFECT_API_AUTH_STRING``). Missing header → 401; a malformed header, an unknown or a revoked
key → 403. Both gates answer before the view runs, so a rejected request has no side effect.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from chalice import AuthResponse, Blueprint, Response
from chalice.app import AuthRequest, ChaliceAuthorizer, Request

from chalicelib.api.replies import json_response, repositories
from chalicelib.config import get_settings, read_settings_uncached
from chalicelib.services.api_keys import authenticate

bp = Blueprint(__name__)

NOT_AUTHENTICATED = "Not authenticated: send 'Authorization: Bearer <API key>'."
INVALID_KEY = "Invalid API key."


def bearer_token(header: str | None) -> str | None:
    """The key in ``Bearer <key>`` (the scheme in any case), or ``None`` for anything else."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def header_api_key(header: str | None) -> str | None:
    """The API key an ``Authorization`` header carries: ``Bearer <key>`` (``PREFECT_API_KEY``), or
    ``Basic <base64 of the key>``, which Prefect's clients send when ``PREFECT_API_AUTH_STRING`` is
    set (the only credential its events websocket sends to a self-hosted server)."""
    token = bearer_token(header)
    if token is not None or not header:
        return token
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded or None


def key_is_valid(key: str | None) -> bool:
    """``key`` names a live API key."""
    return bool(key) and authenticate(repositories(), key) is not None


@bp.authorizer(ttl_seconds=0)
def api_key_authorizer(auth_request: AuthRequest) -> Any:
    """API Gateway's gate: allow every route to a valid key's holder, deny anyone else."""
    token = header_api_key(auth_request.token)
    record = authenticate(repositories(), token) if token else None
    if record is None:
        deny = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [auth_request.method_arn]}
        return {
            "principalId": "anonymous",
            "policyDocument": {"Version": "2012-10-17", "Statement": [deny]},
            "context": {},
        }
    return AuthResponse(routes=["*"], principal_id=record.name, context={"api_key_prefix": record.prefix})


def route_authorizer() -> ChaliceAuthorizer | None:
    """The gateway authorizer for a route being registered, ``None`` when auth is off.

    Routes are registered while the app is imported, and that is when ``chalice package`` (the CDK
    stack), ``chalice local`` and the Lambda runtime have the stage's environment in place, so the
    choice follows ``CIRRUS_AUTH_REQUIRED`` as it is then. It is read without caching: the cached
    settings (:func:`get_settings`) belong to request time, and tests replace them after import.
    Off, no authorizer is attached, so the local and test stages need no header at all.
    """
    at_import = read_settings_uncached()
    return api_key_authorizer if at_import.auth_required else None


def deny_unauthenticated(request: Request) -> Response | None:
    """The error reply for a request that may not proceed, ``None`` when it may."""
    if not get_settings().auth_required:
        return None
    gateway = (request.context or {}).get("authorizer") or {}
    if gateway.get("principalId"):  # set by API Gateway (or chalice local) after the authorizer allowed it
        return None
    header = request.headers.get("authorization")
    if header is None:
        response = json_response({"detail": NOT_AUTHENTICATED}, 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if not key_is_valid(header_api_key(header)):
        return json_response({"detail": INVALID_KEY}, 403)
    return None
