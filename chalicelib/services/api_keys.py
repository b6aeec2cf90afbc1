"""API-key use cases: issue, list, revoke (the ``cirrus api-key`` command) and authenticate (the API).

Keys are checked on every request against the table (no cache), so a revoked key fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.errors import InvalidRequestError
from chalicelib.storage import ApiKeyRecord, Repositories

MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class IssuedApiKey:
    """A new key: ``key`` is shown to the operator once and is not stored."""

    key: str
    record: ApiKeyRecord


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidRequestError(("name",), f"An API key name is 1 to {MAX_NAME_LENGTH} printable characters.")
    return name


def create_api_key(repos: Repositories, name: str, now: datetime) -> IssuedApiKey:
    """Issue a key called ``name`` (unique; :class:`ConflictError` otherwise)."""
    key, record = repos.api_keys.create(_check_name(name), now)
    return IssuedApiKey(key=key, record=record)


def list_api_keys(repos: Repositories) -> list[ApiKeyRecord]:
    return repos.api_keys.list()


def revoke_api_key(repos: Repositories, name: str) -> ApiKeyRecord:
    """Revoke the key called ``name`` (:class:`NotFoundError` when there is none)."""
    return repos.api_keys.revoke(name.strip())


def authenticate(repos: Repositories, key: str) -> ApiKeyRecord | None:
    """The record of a valid key, ``None`` for an unknown or revoked one. Never raises for bad input."""
    if not key:
        return None
    return repos.api_keys.verify(key)
