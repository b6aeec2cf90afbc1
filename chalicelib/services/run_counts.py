"""Keeping the run counts: stream records of a runs table applied to them (the consumers' use case)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.storage import FLOW_RUNS, TASK_RUNS, Repositories

__all__ = ["FLOW_RUNS", "TASK_RUNS", "count_stream_records"]


def count_stream_records(repos: Repositories, kind: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Apply a batch of stream records of ``kind``'s table; returns how many changed the counts
    (records delivered before change nothing)."""
    return repos.run_counts.apply_records(kind, records)
