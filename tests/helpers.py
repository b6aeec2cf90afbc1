"""Small helpers for API tests."""

from __future__ import annotations

import json
import threading
from typing import Any


def call(client: Any, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    """Send a JSON request through ``chalice.test.Client``; return (status, decoded body)."""
    send = getattr(client.http, method.lower())
    kwargs: dict[str, Any] = {"headers": {"Content-Type": "application/json", **headers}}
    if body is not None:
        kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = send(path, **kwargs)
    text = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status_code, (json.loads(text) if text else None)


def concurrently(action: Any, callers: int) -> None:
    """Run ``action()`` in ``callers`` threads started together; return when all have finished."""
    threads = [threading.Thread(target=action) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
