"""Flow runs in DynamoDB: what the rest of Cirrus uses of them.

- :class:`FlowRunRepository` (``_repository``): reads and conditional writes of runs and their state
  history, the polls' reads, listings in an index's order;
- conditions other stores put on a run's write: :func:`never_ran_scheduled`, :func:`unchanged_since`,
  :func:`heartbeat_is`;
- :class:`Listing` (``_listing``): which runs a listing reads, in which order (by-time, by-id,
  by-owner-state, by-odd);
- :func:`plan` and :class:`AccessPath` (``_queries``): the key and index paths a filter narrows to.

Private modules: ``_items`` (a run as a compact item and back; index keys), ``_queries``,
``_listing``, ``_repository``.
"""

from chalicelib.storage.flow_runs._listing import Listing
from chalicelib.storage.flow_runs._queries import (
    BY_DEPLOYMENT,
    BY_SWEEP,
    KEYS,
    SCAN,
    AccessPath,
    is_conjunctive,
    plan,
)
from chalicelib.storage.flow_runs._repository import (
    FlowRunRepository,
    heartbeat_is,
    never_ran_scheduled,
    unchanged_since,
)
from chalicelib.storage.models import LIVE_STATES

__all__ = [
    "BY_DEPLOYMENT",
    "BY_SWEEP",
    "KEYS",
    "LIVE_STATES",
    "SCAN",
    "AccessPath",
    "FlowRunRepository",
    "Listing",
    "heartbeat_is",
    "is_conjunctive",
    "never_ran_scheduled",
    "plan",
    "unchanged_since",
]
