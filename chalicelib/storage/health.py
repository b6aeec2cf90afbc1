"""A one-read probe of the stage's tables (``GET /ready``)."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

from chalicelib.storage.models import FlowModel

_PROBE_KEY = "00000000-0000-0000-0000-000000000000"


class HealthProbe:
    def ping(self) -> bool:
        """Read one (absent) flow: ``True`` when the table answered, whatever the answer."""
        try:
            FlowModel.get(_PROBE_KEY, attributes_to_get=["id"])
        except FlowModel.DoesNotExist:
            return True
        except PynamoDBException:
            return False
        return True
