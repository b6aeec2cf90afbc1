"""Authentication hook for every route (filled in by the API-key work; none yet)."""

from __future__ import annotations

from typing import Any


def route_authorizer() -> Any:
    """The Chalice authorizer attached to every route but ``/health``; ``None`` means open."""
    return None
