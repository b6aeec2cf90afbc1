"""Readiness: whether the stage's tables answer."""

from __future__ import annotations

from chalicelib.storage import Repositories


def tables_reachable(repos: Repositories) -> bool:
    """One cheap read of the flows table; ``False`` when DynamoDB or the table does not answer."""
    return bool(repos.health.ping())
