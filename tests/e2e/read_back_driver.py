"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL`` after the hostile-HTTP fuzz:
read back everything the fuzz got stored, through Prefect's own client and its models (one bad
object breaks a whole list read). Prints one JSON line: objects read per call and the calls that
failed (with their error).
"""

from __future__ import annotations

import json
from typing import Any


def main() -> None:
    from prefect.client.orchestration import get_client

    read: dict[str, int] = {}
    refused: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        calls: dict[str, Any] = {
            "read_flows": lambda: client.read_flows(limit=200),
            "read_deployments": lambda: client.read_deployments(limit=200),
            "read_flow_runs": lambda: client.read_flow_runs(limit=200),
            "read_task_runs": lambda: client.read_task_runs(limit=200),
            "read_work_pools": lambda: client.read_work_pools(limit=200),
            "read_work_queues": lambda: client.read_work_queues(limit=200),
            "read_variables": lambda: client.read_variables(limit=200),
            "read_artifacts": lambda: client.read_artifacts(limit=200),
            "read_latest_artifacts": lambda: client.read_latest_artifacts(limit=200),
            "read_block_types": lambda: client.read_block_types(),
            "read_block_schemas": lambda: client.read_block_schemas(),
            "read_block_documents": lambda: client.read_block_documents(limit=200),
            "read_global_concurrency_limits": lambda: client.read_global_concurrency_limits(limit=200),
            "read_concurrency_limits": lambda: client.read_concurrency_limits(limit=200, offset=0),
            "read_automations": lambda: client.read_automations(),
        }
        pools = []
        for name, call in calls.items():
            try:
                found = call()
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                refused[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            read[name] = len(found)
            if name == "read_work_pools":
                pools = found
        for pool in pools:  # each pool's queues and workers, as the UI and a worker read them
            for name, call in (
                ("read_work_queues(pool)", lambda p=pool: client.read_work_queues(work_pool_name=p.name)),
                ("read_workers_for_work_pool", lambda p=pool: client.read_workers_for_work_pool(p.name)),
            ):
                try:
                    read[name] = read.get(name, 0) + len(call())
                except Exception as exc:  # noqa: BLE001
                    refused[f"{name} {pool.name!r}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    print(json.dumps({"objects": sum(read.values()), "read": read, "refused": refused}))


if __name__ == "__main__":
    main()
