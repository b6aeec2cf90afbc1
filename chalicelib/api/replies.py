"""What every edge module shares and the authorizer needs too: the process's repositories and a JSON
reply (its own module, so ``auth`` and ``common`` import it and not each other)."""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from chalicelib.config import get_settings
from chalicelib.storage import Repositories, shared_repositories

JSON_HEADERS = {"Content-Type": "application/json"}


def repositories() -> Repositories:
    """The repositories of the current settings (built once per settings object)."""
    return shared_repositories(get_settings())


def json_response(data: Any, status: int = 200) -> Response:
    return Response(body=json.dumps(data), status_code=status, headers=dict(JSON_HEADERS))
