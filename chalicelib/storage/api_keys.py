"""API keys in DynamoDB, stored only as the SHA-256 hash of the key.

A key is ``cirrus_`` followed by 43 URL-safe characters (256 random bits): a fast hash is enough
for a secret that cannot be guessed, and lets a request find its key with one ``GetItem``. The
plain key is returned once, by :meth:`ApiKeyRepository.create`, and never stored.

Names are unique: each key claims ``api-key#<name>`` in the ``uniques`` table in the same
transaction that writes it, so two operators creating one name race safely.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.storage.errors import is_cancelled_by_condition
from chalicelib.storage.models import ApiKeyModel, UniqueModel

KEY_PREFIX = "cirrus_"
#: Characters of the key shown by ``list`` (``cirrus_`` and 5 random ones: not enough to guess it).
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 5
#: Longer input is not a key: rejected before hashing.
MAX_KEY_LENGTH = 256


@dataclass(frozen=True)
class ApiKeyRecord:
    """What is kept about a key: never the key itself."""

    name: str
    prefix: str
    created: datetime


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _claim(name: str) -> str:
    return f"api-key#{name}"


def _to_record(item: ApiKeyModel) -> ApiKeyRecord:
    return ApiKeyRecord(name=item.name, prefix=item.prefix or "", created=item.created)


class ApiKeyRepository:
    """Creates, lists, revokes and verifies API keys."""

    def create(self, name: str, now: datetime) -> tuple[str, ApiKeyRecord]:
        """A new key called ``name``: ``(plain key, record)``. The plain key is not kept anywhere.

        Raises :class:`ConflictError` when a key of that name exists.
        """
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(plaintext)
        item = ApiKeyModel(digest, name=name, prefix=plaintext[:DISPLAY_PREFIX_LENGTH], created=now)
        claim = UniqueModel(_claim(name), owner=digest)
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.save(claim, condition=UniqueModel.key.does_not_exist())
                transaction.save(item, condition=ApiKeyModel.key_hash.does_not_exist())
        except TransactWriteError as exc:
            if is_cancelled_by_condition(exc):
                raise ConflictError(f"An API key named {name!r} already exists.", name=name) from exc
            raise
        return plaintext, _to_record(item)

    def list(self) -> list[ApiKeyRecord]:
        """Every key's record, oldest first (a scan: an operator's command, a handful of items)."""
        return sorted((_to_record(item) for item in ApiKeyModel.scan()), key=lambda r: (r.created, r.name))

    def revoke(self, name: str) -> ApiKeyRecord:
        """Delete the key called ``name`` and its name claim; it fails verification from now on.

        Raises :class:`NotFoundError` when no key has that name.
        """
        try:
            claim = UniqueModel.get(_claim(name), consistent_read=True)
        except UniqueModel.DoesNotExist as exc:
            raise NotFoundError("API key", name) from exc
        try:
            item = ApiKeyModel.get(claim.owner, consistent_read=True)
        except ApiKeyModel.DoesNotExist as exc:
            raise NotFoundError("API key", name) from exc
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.delete(item, condition=ApiKeyModel.key_hash.exists())
                transaction.delete(claim, condition=UniqueModel.owner == item.key_hash)
        except TransactWriteError as exc:
            if is_cancelled_by_condition(exc):  # revoked concurrently
                raise NotFoundError("API key", name) from exc
            raise
        return _to_record(item)

    def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The record of the key ``plaintext``, or ``None`` for an unknown or revoked key.

        A strongly consistent read: a revocation is seen by the very next request.
        """
        if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > MAX_KEY_LENGTH:
            return None
        try:
            item = ApiKeyModel.get(hash_key(plaintext), consistent_read=True)
        except ApiKeyModel.DoesNotExist:
            return None
        return _to_record(item)

    @staticmethod
    def _connection() -> Connection:
        # Transactions take a plain connection; the models' tables decide endpoint and region.
        return Connection(region=ApiKeyModel.Meta.region, host=ApiKeyModel.Meta.host)
