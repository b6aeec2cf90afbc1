"""API keys: stored hashed, unique names, revocation at once; the ``cirrus api-key`` command."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import cli
from chalicelib.errors import ConflictError, InvalidRequestError, NotFoundError
from chalicelib.services import api_keys
from chalicelib.storage.models import ApiKeyModel, UniqueModel

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_key_is_stored_only_as_its_hash(repos):
    issued = api_keys.create_api_key(repos, "ci", T0)
    assert issued.key.startswith("cirrus_") and len(issued.key) >= 40
    assert issued.record.name == "ci" and issued.record.created == T0
    assert issued.key.startswith(issued.record.prefix) and len(issued.record.prefix) == 12

    (item,) = list(ApiKeyModel.scan())
    assert item.key_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    stored = json.dumps(item.serialize())
    assert issued.key not in stored
    assert issued.key[len(issued.record.prefix) :] not in stored


def test_verify_accepts_the_key_and_nothing_else(repos):
    key = api_keys.create_api_key(repos, "ci", T0).key
    assert api_keys.authenticate(repos, key).name == "ci"
    for wrong in ["", key[:-1], key + "x", key.upper(), "cirrus_" + "A" * 43, "x" * 10_000, "not a key"]:
        assert api_keys.authenticate(repos, wrong) is None, wrong


def test_names_are_unique(repos):
    api_keys.create_api_key(repos, "ci", T0)
    with pytest.raises(ConflictError):
        api_keys.create_api_key(repos, "ci", T0)
    assert [r.name for r in api_keys.list_api_keys(repos)] == ["ci"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_bad_names_are_refused(repos, name):
    with pytest.raises(InvalidRequestError):
        api_keys.create_api_key(repos, name, T0)
    assert api_keys.list_api_keys(repos) == []


def test_list_is_oldest_first_and_shows_no_secret(repos):
    second = api_keys.create_api_key(repos, "worker", T0 + timedelta(seconds=1))
    first = api_keys.create_api_key(repos, "ci", T0)
    records = api_keys.list_api_keys(repos)
    assert [r.name for r in records] == ["ci", "worker"]
    assert [r.prefix for r in records] == [first.record.prefix, second.record.prefix]


def test_revoke_stops_the_key_at_once_and_frees_the_name(repos):
    old = api_keys.create_api_key(repos, "ci", T0).key
    other = api_keys.create_api_key(repos, "worker", T0).key
    assert api_keys.revoke_api_key(repos, "ci").name == "ci"
    assert api_keys.authenticate(repos, old) is None
    assert api_keys.authenticate(repos, other).name == "worker"
    with pytest.raises(NotFoundError):
        api_keys.revoke_api_key(repos, "ci")

    new = api_keys.create_api_key(repos, "ci", T0).key
    assert new != old
    assert api_keys.authenticate(repos, new).name == "ci"
    assert api_keys.authenticate(repos, old) is None


def test_revoke_unknown_name(repos):
    with pytest.raises(NotFoundError):
        api_keys.revoke_api_key(repos, "nobody")
    assert list(UniqueModel.scan()) == []


# --------------------------------------------------------------------------- the command
def run_cli(capsys, *argv: str) -> tuple[int, object, str]:
    status = cli.main(["api-key", *argv])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


def test_cli_create_list_revoke(repos, capsys):
    status, created, err = run_cli(capsys, "create", "ci")
    assert status == 0 and "cannot be shown again" in err
    assert created["name"] == "ci" and created["key"].startswith(created["prefix"])
    assert api_keys.authenticate(repos, created["key"]).name == "ci"

    status, listed, _ = run_cli(capsys, "list")
    assert status == 0
    assert listed == [{"name": "ci", "prefix": created["prefix"], "created": created["created"]}]
    assert created["key"] not in json.dumps(listed)

    status, revoked, _ = run_cli(capsys, "revoke", "ci")
    assert status == 0 and revoked["revoked"]["name"] == "ci"
    assert api_keys.authenticate(repos, created["key"]) is None
    assert run_cli(capsys, "list")[1] == []


def test_cli_errors_exit_1(repos, capsys):
    assert run_cli(capsys, "create", "ci")[0] == 0
    status, out, err = run_cli(capsys, "create", "ci")
    assert (status, out) == (1, None) and "already exists" in err
    status, out, err = run_cli(capsys, "revoke", "nobody")
    assert (status, out) == (1, None) and "nobody" in err
