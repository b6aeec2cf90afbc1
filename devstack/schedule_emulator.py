"""Fires a Chalice app's ``@app.schedule`` functions on their rates, as EventBridge would.

``chalice local`` serves routes only. The emulator finds every scheduled function on the app
object (Blueprints included, once registered), and calls its Lambda handler in this process with
a CloudWatch scheduled event and a Lambda context whose budget is the function's configured
timeout. Each job has its own thread, so a slow job delays only itself; a job that raises is
logged and fires again on its next tick. Each tick logs one line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice import Chalice
from chalice.app import ScheduledEventConfig
from chalice.config import Config
from chalice.local import LambdaContext

from devstack.rates import UnsupportedScheduleError, expression_text, parse_rate
from devstack.settings import CHALICE_STAGE

LOG = logging.getLogger("devstack.schedules")

#: Lambda's defaults when config.json sets no ``lambda_timeout`` / ``lambda_memory_size``.
DEFAULT_TIMEOUT_S = 60
DEFAULT_MEMORY_MB = 128
#: The shortest scaled interval, so a tiny tick scale cannot spin a core.
MIN_INTERVAL_S = 0.05

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class ScheduledJob:
    """One ``@app.schedule`` function, ready to fire."""

    name: str
    expression: str
    interval: timedelta
    handler: Handler
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB


@dataclass(frozen=True)
class Tick:
    """The outcome of one invocation: the job's returned report, or the exception it raised."""

    job: str
    duration_s: float
    report: Any = None
    error: Exception | None = None


def discover_jobs(app: Chalice, config: Config | None = None, stage: str = CHALICE_STAGE) -> list[ScheduledJob]:
    """Every rate-scheduled function of ``app``; cron schedules and invalid rates are logged and skipped.

    ``config`` (the project's Chalice config) supplies each function's ``lambda_timeout`` and
    ``lambda_memory_size`` for ``stage``; without it Lambda's defaults apply.
    """
    jobs = []
    for source in app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        try:
            interval = parse_rate(source.schedule_expression)
        except UnsupportedScheduleError as exc:
            LOG.warning("schedule job=%s not emulated: %s; invoke it by hand", source.name, exc)
            continue
        except ValueError as exc:
            LOG.error("schedule job=%s skipped: %s (EventBridge would reject it too)", source.name, exc)
            continue
        timeout_s, memory_mb = float(DEFAULT_TIMEOUT_S), DEFAULT_MEMORY_MB
        if config is not None:
            scoped = config.scope(stage, source.name)
            timeout_s = float(scoped.lambda_timeout or DEFAULT_TIMEOUT_S)
            memory_mb = int(scoped.lambda_memory_size or DEFAULT_MEMORY_MB)
        jobs.append(
            ScheduledJob(
                name=source.name,
                expression=expression_text(source.schedule_expression),
                interval=interval,
                handler=app.handler_map[source.name],
                timeout_s=timeout_s,
                memory_mb=memory_mb,
            )
        )
    return jobs


def scheduled_event(job: ScheduledJob, *, region: str, at: datetime) -> dict[str, Any]:
    """The event EventBridge sends a rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{job.name}"],
        "detail": {},
    }


def fire(job: ScheduledJob, *, region: str) -> Tick:
    """Invoke ``job`` once and log one line; never raises what the job raises."""
    context = LambdaContext(job.name, memory_size=job.memory_mb, max_runtime_ms=int(job.timeout_s * 1000))
    event = scheduled_event(job, region=region, at=datetime.now(UTC))
    started = time.perf_counter()
    try:
        report = job.handler(event, context)
    except Exception as exc:  # one failing job must not stop the loop, nor the other jobs
        tick = Tick(job.name, time.perf_counter() - started, error=exc)
        LOG.error("tick job=%s duration=%.3fs error=%s", job.name, tick.duration_s, _describe(exc))
        LOG.debug("tick job=%s traceback", job.name, exc_info=exc)
        return tick
    tick = Tick(job.name, time.perf_counter() - started, report=report)
    LOG.info("tick job=%s duration=%.3fs report=%s", job.name, tick.duration_s, _render(report))
    return tick


def _describe(exc: Exception) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    message = " ".join(str(exc).split())  # keep the tick on one line
    return f"{type(exc).__name__}: {message}{where}"


def _render(report: Any) -> str:
    if report is None:
        return "-"
    if hasattr(report, "model_dump"):  # a pydantic report
        report = report.model_dump(mode="json")
    return json.dumps(report, default=str, sort_keys=True, separators=(",", ":"))


class ScheduleEmulator:
    """Fires each job every ``interval × tick_scale`` seconds in its own daemon thread.

    The first tick comes one interval after :meth:`start`, as with a new EventBridge rule. A run
    that outlasts its interval makes the missed ticks collapse into one, logged.
    """

    def __init__(self, jobs: Sequence[ScheduledJob], *, region: str, tick_scale: float = 1.0) -> None:
        self.jobs = list(jobs)
        self.region = region
        self.tick_scale = tick_scale
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def interval_s(self, job: ScheduledJob) -> float:
        return max(job.interval.total_seconds() * self.tick_scale, MIN_INTERVAL_S)

    def start(self) -> None:
        from chalicelib.jobs.common import mute_bare_json_lines

        mute_bare_json_lines()  # the tick line below carries the report: one line per tick
        for job in self.jobs:
            LOG.info("schedule job=%s %s: fires every %.2fs", job.name, job.expression, self.interval_s(job))
            thread = threading.Thread(target=self._run, args=(job,), name=f"schedule-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop firing; wait up to ``timeout_s`` for running jobs, then abandon them (daemon threads)."""
        from chalicelib.jobs.common import mute_bare_json_lines

        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                LOG.warning("%s still running at shutdown; abandoned", thread.name)
        mute_bare_json_lines(False)

    def _run(self, job: ScheduledJob) -> None:
        interval = self.interval_s(job)
        due = time.monotonic() + interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            fire(job, region=self.region)
            due += interval
            late = time.monotonic() - due
            if late >= interval:  # the overdue tick fires at once; the ones before it are dropped
                missed = int(late // interval)
                due += missed * interval
                LOG.warning("schedule job=%s skipped %d tick(s): the run outlasted its rate", job.name, missed)
