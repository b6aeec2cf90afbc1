"""Flow runs: create, read, update, delete, set_state, heartbeat (``_runs``), Prefect's filter bodies
(``_queries``) and listing in reads proportional to the answer (``_listing``).
"""

from chalicelib.services.flow_runs._listing import (
    CLOCK_SKEW,
    READ_BUDGET,
    SORT_PLANS,
    SortPlan,
    plan_listing,
    top,
    top_of,
)
from chalicelib.services.flow_runs._queries import (
    count_flow_runs,
    deployment_ids_with_runs,
    filter_flow_runs,
    flow_ids_with_runs,
    matching_flow_runs,
    only,
    paginate_flow_runs,
)
from chalicelib.services.flow_runs._runs import (
    MAX_ATTEMPTS,
    Heartbeat,
    SetStateResult,
    beat,
    create_flow_run,
    delete_flow_run,
    read_flow_run,
    read_flow_run_states,
    record_heartbeat,
    set_flow_run_state,
    update_flow_run,
    update_flow_run_labels,
)

__all__ = [
    "CLOCK_SKEW",
    "Heartbeat",
    "MAX_ATTEMPTS",
    "READ_BUDGET",
    "SORT_PLANS",
    "SetStateResult",
    "SortPlan",
    "beat",
    "count_flow_runs",
    "create_flow_run",
    "delete_flow_run",
    "deployment_ids_with_runs",
    "filter_flow_runs",
    "flow_ids_with_runs",
    "matching_flow_runs",
    "only",
    "paginate_flow_runs",
    "plan_listing",
    "read_flow_run",
    "read_flow_run_states",
    "record_heartbeat",
    "set_flow_run_state",
    "top",
    "top_of",
    "update_flow_run",
    "update_flow_run_labels",
]
