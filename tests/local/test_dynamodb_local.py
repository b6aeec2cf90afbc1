"""The DynamoDB Local helper: the pinned install, its command line, a real start and stop."""

from __future__ import annotations

import boto3
import pytest

from devstack import dynamodb_local
from devstack.dynamodb_local import DynamoDBLocal, command, install_dir

needs_emulator = pytest.mark.skipif(
    not dynamodb_local.available(), reason=dynamodb_local.unavailable_reason() or "available"
)


def test_the_install_is_pinned_and_git_ignored(tmp_path) -> None:
    assert install_dir({dynamodb_local.CACHE_VARIABLE: str(tmp_path)}) == tmp_path / "amplify-dynamodb-simulator-2.9.30"
    default = install_dir({})
    assert default.parent == dynamodb_local.PROJECT_DIR / ".cache" / "dynamodb-local"
    ignored = (dynamodb_local.PROJECT_DIR / ".gitignore").read_text().split()
    assert ".cache/" in ignored and ".local-stack/" in ignored


@needs_emulator
def test_command_is_in_memory_or_on_disk_shared_and_silent(tmp_path) -> None:
    in_memory = command(5123)
    assert in_memory[-1] == "-inMemory" and {"-sharedDb", "-disableTelemetry"} <= set(in_memory)
    assert in_memory[in_memory.index("-port") + 1] == "5123"
    on_disk = command(5123, db_path=tmp_path)
    assert on_disk[-2:] == ["-dbPath", str(tmp_path)] and "-inMemory" not in on_disk


@needs_emulator
def test_starts_answers_any_dummy_key_and_stops(tmp_path) -> None:
    with DynamoDBLocal(db_path=tmp_path / "db") as ddb:
        for key in ("testing", "another"):  # -sharedDb: one database whatever the key
            client = boto3.client(
                "dynamodb",
                endpoint_url=ddb.endpoint,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=key,
            )
            if key == "testing":
                client.create_table(
                    TableName="tbl",
                    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            assert client.list_tables()["TableNames"] == ["tbl"]
        process = ddb.child.process
    assert process.poll() is not None
    assert any((tmp_path / "db").iterdir())  # -dbPath: the data stays on disk


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path) -> None:
    tarball = tmp_path / "amplify-dynamodb-simulator-2.9.30.tgz"
    tarball.write_bytes(b"not the package")
    with pytest.raises(dynamodb_local.NotInstalled, match="is not the pinned"):
        dynamodb_local._check_integrity(tarball)
