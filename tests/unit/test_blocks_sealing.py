"""Envelope encryption of block documents: a local key file and AWS KMS (moto)."""

from __future__ import annotations

import os

import pytest

from chalicelib.config import Settings
from chalicelib.storage.blocks.sealing import (
    KmsKeyWrapper,
    LocalKeyWrapper,
    Sealer,
    SealingUnavailableError,
    UnreadableSealError,
    sealer_for,
)


def test_local_key_seals_opens_and_binds_to_the_document(tmp_path):
    key = tmp_path / "keys" / "blocks.key"
    sealer = Sealer(LocalKeyWrapper(key))
    sealed = sealer.seal({"value": "hunter2"}, "doc-1")
    assert "hunter2" not in sealed and sealed.startswith("v1.local.")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert sealer.open(sealed, "doc-1") == {"value": "hunter2"}
    assert Sealer(LocalKeyWrapper(key)).open(sealed, "doc-1") == {"value": "hunter2"}  # the key file is reused
    with pytest.raises(UnreadableSealError):
        sealer.open(sealed, "doc-2")  # moved to another item: does not open
    assert sealer.seal({"value": "hunter2"}, "doc-1") != sealed  # a fresh data key and nonce per write
    with pytest.raises(UnreadableSealError):  # a replaced key: a 409 naming the document, not a 500
        Sealer(LocalKeyWrapper(tmp_path / "other.key")).open(sealed, "doc-1")


def test_kms_wraps_data_keys_under_the_encryption_context():
    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        import boto3

        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        sealer = sealer_for(Settings(stage="prod", blocks_kms_key_id=key_id))
        sealed = sealer.seal({"password": "p"}, "doc")
        assert sealed.startswith("v1.kms.")
        assert sealer.open(sealed, "doc") == {"password": "p"}
        fresh = Sealer(KmsKeyWrapper(key_id, "us-east-1"))
        assert fresh.open(sealed, "doc") == {"password": "p"}
        with pytest.raises(UnreadableSealError):  # a KMS-sealed value under a local key
            Sealer(LocalKeyWrapper.__new__(LocalKeyWrapper)).open(sealed, "doc")


def test_a_deployed_stage_without_a_key_refuses():
    with pytest.raises(SealingUnavailableError):
        sealer_for(Settings(stage="prod"))
    assert sealer_for(Settings(stage="prod", blocks_key_file="/tmp/x")) is not None
