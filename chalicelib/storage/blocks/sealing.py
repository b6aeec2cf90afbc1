"""Envelope encryption of block documents' data (beyond DynamoDB's own encryption at rest).

Each write seals the document's data with a fresh 256-bit data key (AES-GCM, the document's id as
associated data, so a sealed value moved to another item does not open); the data key is stored
beside the ciphertext, wrapped by a key encryption key:

- deployed: an AWS KMS key (``CIRRUS_BLOCKS_KMS_KEY_ID``): ``GenerateDataKey`` per write,
  ``Decrypt`` per read of a data key not seen in the last few minutes, both with the encryption
  context ``{"cirrus": "block-document"}`` that the Lambda's grant requires;
- local (``make run``, tests): a 256-bit key in a file (``CIRRUS_BLOCKS_KEY_FILE``, by default
  ``.local-stack/blocks.key`` on the local and test stages), created on first use.

A sealed value is text: ``v1.<kind>.<wrapped key>.<nonce>.<ciphertext>`` (base64url parts).
Plaintext never leaves this module except as the caller's return value; nothing here logs.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.config import Settings
from chalicelib.errors import ConflictError, StorageUnavailableError

CONTEXT = {"cirrus": "block-document"}
_LOCAL_WRAP_AAD = b"cirrus-block-data-key"
#: How long an unwrapped data key is kept in memory (a warm Lambda loading the same block).
_CACHE_S = 300.0
_CACHE_SIZE = 256


class UnreadableSealError(ConflictError):
    """Stored data this stage's key cannot open (a 409 naming the document, never a 500)."""

    def __init__(self, bound_to: str) -> None:
        super().__init__(
            f"Block document {bound_to}: its data cannot be decrypted with this stage's key "
            "(was the key replaced?); save the block again to replace it."
        )


class SealingUnavailableError(StorageUnavailableError):
    """No key encryption key is configured (a deployed stage needs ``CIRRUS_BLOCKS_KMS_KEY_ID``):
    the API answers 503 with the code ``NoBlocksKey``; nothing is stored."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="NoBlocksKey")


class KeyWrapper(Protocol):
    kind: str

    def new_key(self) -> tuple[bytes, bytes]:
        """A fresh data key: (plaintext, wrapped)."""

    def unwrap(self, wrapped: bytes) -> bytes: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LocalKeyWrapper:
    """Data keys wrapped with AES-GCM under a key kept in a file (created 0600 on first use)."""

    kind = "local"

    def __init__(self, path: Path) -> None:
        self._aead = AESGCM(self._load(path))

    @staticmethod
    def _load(path: Path) -> bytes:
        try:
            return _unb64(path.read_text().strip())
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            time.sleep(0.05)
            return _unb64(path.read_text().strip())
        with os.fdopen(fd, "w") as out:
            out.write(_b64(AESGCM.generate_key(bit_length=256)) + "\n")
        return _unb64(path.read_text().strip())

    def new_key(self) -> tuple[bytes, bytes]:
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        return key, nonce + self._aead.encrypt(nonce, key, _LOCAL_WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], _LOCAL_WRAP_AAD)


class KmsKeyWrapper:
    """Data keys from AWS KMS (``GenerateDataKey``/``Decrypt`` under the encryption context)."""

    kind = "kms"

    def __init__(self, key_id: str, region: str) -> None:
        import boto3

        self._key_id = key_id
        self._kms = boto3.client("kms", region_name=region)

    def new_key(self) -> tuple[bytes, bytes]:
        reply = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=CONTEXT)
        return reply["Plaintext"], reply["CiphertextBlob"]

    def unwrap(self, wrapped: bytes) -> bytes:
        reply = self._kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=CONTEXT, KeyId=self._key_id)
        return reply["Plaintext"]


class Sealer:
    """Seals and opens JSON documents with per-document data keys under one key wrapper."""

    def __init__(self, wrapper: KeyWrapper) -> None:
        self._wrapper = wrapper
        self._keys: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def seal(self, value: Any, bound_to: str) -> str:
        key, wrapped = self._wrapper.new_key()
        nonce = os.urandom(12)
        plaintext = json.dumps(value, separators=(",", ":")).encode()
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, bound_to.encode())
        return ".".join(("v1", self._wrapper.kind, _b64(wrapped), _b64(nonce), _b64(ciphertext)))

    def open(self, sealed: str, bound_to: str) -> Any:
        """The value sealed for ``bound_to``; a :class:`UnreadableSealError` when this key cannot
        open it (another stage's key, a replaced local key file, another item's value)."""
        try:
            version, kind, wrapped, nonce, ciphertext = sealed.split(".")
            if version != "v1" or kind != self._wrapper.kind:
                raise ValueError(f"a {version}/{kind} sealed value, and this is a {self._wrapper.kind} key")
            key = self._data_key(_unb64(wrapped))
            return json.loads(AESGCM(key).decrypt(_unb64(nonce), _unb64(ciphertext), bound_to.encode()))
        except (ValueError, InvalidTag) as exc:
            raise UnreadableSealError(bound_to) from exc

    def _data_key(self, wrapped: bytes) -> bytes:
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(wrapped)
            if hit is not None and now - hit[0] < _CACHE_S:
                return hit[1]
        key = self._wrapper.unwrap(wrapped)
        with self._lock:
            self._keys[wrapped] = (now, key)
            while len(self._keys) > _CACHE_SIZE:
                self._keys.popitem(last=False)
        return key


def sealer_for(settings: Settings) -> Sealer:
    """The sealer the settings configure: KMS when a key id is set, else the local key file."""
    if settings.blocks_kms_key_id:
        return Sealer(KmsKeyWrapper(settings.blocks_kms_key_id, settings.region))
    path = settings.blocks_key_file
    if not path and settings.stage in ("local", "test"):
        path = ".local-stack/blocks.key"
    if not path:
        raise SealingUnavailableError("block documents need CIRRUS_BLOCKS_KMS_KEY_ID (or CIRRUS_BLOCKS_KEY_FILE)")
    return Sealer(LocalKeyWrapper(Path(path)))
