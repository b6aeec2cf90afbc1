"""Work pools, their queues and their workers.

- ``_pools``: pools and pool-scoped queues (``/work_pools/...``);
- ``_queues``: Prefect's legacy ``/work_queues`` routes over the pools' queues (``*_work_queue``);
- ``_workers``: worker heartbeats, listing, and a worker's poll for runs.
"""

from chalicelib.services.work_pools._pools import (
    check_job_variables,
    count_pools,
    create_pool,
    create_queue,
    delete_pool,
    delete_queue,
    ensure_queue,
    filter_pools,
    filter_queues,
    new_pool,
    present_pool,
    present_queue,
    read_pool,
    read_queue,
    update_pool,
    update_queue,
)
from chalicelib.services.work_pools._queues import (
    create_work_queue,
    delete_work_queue,
    filter_work_queues,
    read_work_queue,
    read_work_queue_by_name,
    update_work_queue,
    work_queue_runs,
    work_queue_status,
)
from chalicelib.services.work_pools._workers import (
    delete_worker,
    filter_workers,
    get_scheduled_flow_runs,
    record_heartbeat,
)

__all__ = [
    "check_job_variables",
    "count_pools",
    "create_pool",
    "create_queue",
    "create_work_queue",
    "delete_pool",
    "delete_queue",
    "delete_work_queue",
    "delete_worker",
    "ensure_queue",
    "filter_pools",
    "filter_queues",
    "filter_work_queues",
    "filter_workers",
    "get_scheduled_flow_runs",
    "new_pool",
    "present_pool",
    "present_queue",
    "read_pool",
    "read_queue",
    "read_work_queue",
    "read_work_queue_by_name",
    "record_heartbeat",
    "update_pool",
    "update_queue",
    "update_work_queue",
    "work_queue_runs",
    "work_queue_status",
]
