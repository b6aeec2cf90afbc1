"""``/variables`` routes: the shared simple-resource routes, by id and by name.

``GET /variables/name/{name}`` answers 404 for a missing name, which makes Prefect's
``Variable.get(name, default=...)`` return the default.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.resources import simple_resource_routes

bp = Blueprint(__name__)

simple_resource_routes(bp, "/variables", "variables")
