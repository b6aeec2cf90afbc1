"""Reliability tests run on moto made atomic per request (see :mod:`tests.moto_shim`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.moto_shim import installed


@pytest.fixture(autouse=True)
def _moto_shim() -> Iterator[None]:
    with installed():
        yield
