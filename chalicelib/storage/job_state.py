"""Scheduled jobs' cursors (``job_state``): how far a job has worked through time.

A cursor only moves forward, by a write conditioned on the value read, so two ticks of a job racing
each other cannot move it back (the loser's work was idempotent anyway).
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.models import JobStateModel


class JobStateRepository:
    @staticmethod
    def through(name: str) -> datetime | None:
        """Where job ``name`` stands (strongly consistent); ``None`` before its first advance."""
        try:
            return JobStateModel.get(name, consistent_read=True).through
        except JobStateModel.DoesNotExist:
            return None

    @staticmethod
    def advance(name: str, read: datetime | None, to: datetime) -> bool:
        """Move job ``name``'s cursor from ``read`` (as read) to ``to``; ``False`` when another tick
        moved it meanwhile."""
        unchanged = JobStateModel.name.does_not_exist() if read is None else JobStateModel.through == read
        try:
            JobStateModel(name, through=to).save(condition=unchanged)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
