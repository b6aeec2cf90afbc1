"""Shared fixtures: DynamoDB (moto or DynamoDB Local), the Chalice test client for routes, an injected clock.

The backend of every test that stores anything (the ``aws`` fixture and all that depend on it) is
chosen with ``--dynamodb``:

- ``moto`` (the default): in-process moto, made atomic per request by
  :mod:`devstack.moto_shim`; fast, models DynamoDB's API but not its concurrency.
- ``local``: AWS's DynamoDB Local (``make dynamodb-local`` installs it), one in-memory instance per
  session on a free port; the tables are created once and emptied after each test (cheaper than
  per-test tables: CreateTable costs ~0.2 s there). No shim: its writes are atomic per item and
  its transactions all-or-nothing, as on AWS.
- ``both``: the suites in :data:`BOTH_SUITES`, and the API tests marked ``both_backends`` (races,
  hostile input, the Scan guard: what depends on DynamoDB's own semantics), run on each (ids
  ``[moto]``/``[local]``), the rest on moto. ``make test`` uses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.config import Settings, override_settings, reset_settings
from chalicelib.storage import Repositories, open_repositories
from chalicelib.storage.tables import create_tables

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value

BACKENDS = ("moto", "local")
#: Run on both backends with ``--dynamodb both``: everything whose correctness is the storage's
#: (conditions, transactions, indexes, concurrency), and in the other suites the tests marked
#: ``both_backends`` (the API's racing callers, hostile bodies, listings and the Scan guard). The
#: rest (API behaviour, unit, property, infra, local stack, e2e) is logic over the same storage
#: calls and stays on moto, to keep ``make test`` short.
BOTH_SUITES = ("storage", "jobs", "reliability")
_TESTS = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--dynamodb",
        choices=("moto", "local", "both"),
        default=os.environ.get("CIRRUS_TEST_DYNAMODB") or "moto",
        help="DynamoDB backend of the storage tests: moto, local (DynamoDB Local) or both (default: moto)",
    )


def _backends_for(config: pytest.Config, definition: pytest.Item) -> tuple[str, ...]:
    choice = config.getoption("dynamodb")
    if choice != "both":
        return (choice,)
    suite = Path(definition.path).resolve().relative_to(_TESTS).parts[0]
    both = suite in BOTH_SUITES or definition.get_closest_marker("both_backends") is not None
    return BACKENDS if both else ("moto",)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "aws" in metafunc.fixturenames and metafunc.config.getoption("dynamodb") == "both":
        metafunc.parametrize("aws", _backends_for(metafunc.config, metafunc.definition), indirect=True)


#: Suites whose files mostly wait on subprocesses (a local stack, Prefect's processes, a browser, a
#: CDK synth): collected first, so that ``-n 4 --dist loadfile`` starts them at once and fills the
#: waits with the quick suites, instead of leaving a tail of them at the end of ``make test``.
#: (``make test`` passes ``--no-loadscope-reorder``: xdist would otherwise start the files with the
#: most tests first, and these have the fewest.) The longest files of all lead.
SLOW_FIRST = ("e2e", "ui", "package", "infra", "local", "reliability")
LONGEST_FIRST = ("test_zombie_lazarus.py", "test_http_fuzz.py", "test_schedule_policies.py", "test_runs_that_wait.py")


def _suite_rank(path: Path) -> tuple[int, int]:
    suite = path.resolve().relative_to(_TESTS).parts[0]
    rank = SLOW_FIRST.index(suite) if suite in SLOW_FIRST else len(SLOW_FIRST)
    return rank, LONGEST_FIRST.index(path.name) if rank == 0 and path.name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow suites' files first (:data:`SLOW_FIRST`); within each file, every ``[moto]`` test
    before every ``[local]`` one (order otherwise kept).

    Switching backends rebinds the models to another endpoint, which drops their connections:
    alternating test by test built a dozen botocore clients per test, most of ``make test``'s CPU.
    """
    files: dict[str, int] = {}

    def key(item: pytest.Item) -> tuple[tuple[int, int], int, int]:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("aws")
        file_index = files.setdefault(str(item.path), len(files))
        return _suite_rank(item.path), file_index, BACKENDS.index(backend) if backend in BACKENDS else 0

    items.sort(key=key)


@dataclass(frozen=True)
class Backend:
    """What a test's DynamoDB is: ``name`` is ``moto`` or ``local``; ``endpoint`` None means in-process moto."""

    name: str
    endpoint: str | None = None


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    """One in-memory DynamoDB Local for the session (per xdist worker); its endpoint. A running one
    given as ``CIRRUS_TEST_DYNAMODB_ENDPOINT`` is used instead (tests/package: the template's tables)."""
    if os.environ.get("CIRRUS_TEST_DYNAMODB_ENDPOINT"):
        yield os.environ["CIRRUS_TEST_DYNAMODB_ENDPOINT"]
        return
    from devstack import dynamodb_local as ddb

    if not ddb.available():
        pytest.fail(f"--dynamodb local: {ddb.unavailable_reason()}", pytrace=False)
    with ddb.DynamoDBLocal() as instance:
        yield instance.endpoint


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The test's DynamoDB: moto (patched by the shim) or a clean DynamoDB Local (see the module doc)."""
    name = getattr(request, "param", None) or request.config.getoption("dynamodb")
    if name == "both":  # not parametrised (a test outside the generated ones): moto
        name = "moto"
    if name == "moto":
        from moto import mock_aws

        from devstack.moto_shim import installed

        with mock_aws(), installed():
            yield Backend("moto")
        return
    from tests.dynamodb_local_tables import emptied

    endpoint = request.getfixturevalue("dynamodb_local")
    with emptied(endpoint):
        yield Backend("local", endpoint)


@pytest.fixture
def settings(aws: Backend) -> Iterator[Settings]:
    current = override_settings(Settings(stage="test", region="us-east-1", dynamodb_endpoint=aws.endpoint))
    create_tables(current)
    yield current
    reset_settings()


@pytest.fixture
def repos(settings: Settings) -> Repositories:
    return open_repositories(settings)


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as test_client:
        yield test_client
