"""Typed settings, read from the environment once and lazily (never at import time).

Chalice's test client and ``chalice local`` set a stage's environment only around a handler, so
nothing here runs at import: the first call to :func:`get_settings` reads ``os.environ``; tests
build a :class:`Settings` directly or call :func:`override_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta

PREFECT_VERSION = "3.9.1"
API_VERSION = "0.8.4"


@dataclass(frozen=True)
class Settings:
    """Every knob of Cirrus. Names in the environment are ``CIRRUS_<FIELD>`` upper-cased."""

    stage: str = "local"
    region: str = "us-east-1"
    #: DynamoDB endpoint override (moto server, DynamoDB Local); None means AWS.
    dynamodb_endpoint: str | None = None
    #: Prefix of every table name; defaults to ``cirrus-<stage>-``.
    table_prefix: str | None = None
    # Scheduler (Prefect's defaults).
    scheduler_min_runs: int = 3
    scheduler_max_runs: int = 100
    scheduler_min_scheduled_time_s: float = 3600.0
    scheduler_max_scheduled_time_s: float = 100 * 86400.0
    scheduler_recent_window_s: float = 300.0
    #: A job stops when the Lambda has less than this many seconds left.
    job_time_margin_s: float = 10.0
    # Maintenance.
    late_runs_after_s: float = 15.0
    #: The catch-up window of every schedule that sets none (seconds; 0: none, Prefect's behaviour).
    schedule_catchup_window_s: float = 0.0
    #: The overlap policy of every schedule that sets none (ALLOW_ALL: Prefect's behaviour).
    schedule_overlap: str = "ALLOW_ALL"
    #: How often the clients send a flow run's heartbeat: Prefect's ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
    #: (180 s by default, 30 s at least). Set it to what the runners use.
    heartbeat_frequency_s: float = 180.0
    #: Heartbeats a RUNNING run may miss before the zombie killer crashes it.
    zombie_missed_heartbeats: int = 3
    #: Silence (seconds since the last heartbeat) after which a RUNNING run is a zombie; unset, it is
    #: ``zombie_missed_heartbeats`` x ``heartbeat_frequency_s`` (540 s with Prefect's defaults).
    zombie_threshold_s: float = None  # type: ignore[assignment]  # always a float after __post_init__
    cancelling_timeout_s: float = 300.0
    #: A run PENDING this long while it holds a deployment concurrency slot or a schedule's overlap
    #: token is crashed by the zombie killer (the slot given back; Lazarus may reschedule it), as
    #: Prefect's slot lease expires (``..._INITIAL_DEPLOYMENT_LEASE_DURATION``, 300 s).
    pending_slot_lease_s: float = 300.0
    lazarus_max_attempts: int = 3
    retention_days: int = 90
    #: How long stored events are kept (TTL), as Prefect's ``PREFECT_EVENTS_RETENTION_PERIOD`` (7 days).
    events_retention_days: int = 7
    #: The API Gateway WebSocket API whose ``/events/out`` connections the fan-out Lambda posts to
    #: (set by the CDK stack; unused locally, where the front pushes events itself).
    events_out_api_id: str | None = None
    # Workers, pools and queues (Prefect's foreman thresholds).
    #: A worker is OFFLINE after this many of its heartbeat intervals without one.
    worker_heartbeat_multiple: int = 3
    #: The interval assumed for a worker that did not say its own.
    worker_fallback_heartbeat_s: float = 30.0
    #: A work queue (and a deployment) is READY while a worker polled it at most this long ago.
    poll_ready_window_s: float = 60.0
    #: How long a worker's poll holds each run it hands out: other polls skip it meanwhile.
    worker_claim_s: float = 30.0
    #: How the run counts get the runs tables' stream records: ``lambda`` (a Lambda consumes each
    #: stream: AWS), ``pull`` (reads drain the streams first: the local stack, tests), or ``auto``:
    #: ``pull`` when a DynamoDB endpoint is set or the stage is ``local``/``test``.
    streams: str = "auto"
    # Auth.
    auth_required: bool = False
    # Blocks: the key that wraps block documents' data keys (chalicelib/storage/blocks/sealing.py).
    #: An AWS KMS key id or ARN (the deployed stack sets it).
    blocks_kms_key_id: str | None = None
    #: A local key file, used without a KMS key (default on the local and test stages:
    #: ``.local-stack/blocks.key``, created on first use).
    blocks_key_file: str | None = None
    #: The zombie threshold was derived from the heartbeat settings (not given): a copy that changes
    #: them derives it again (:func:`override_settings`).
    zombie_threshold_derived: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schedule_overlap not in _OVERLAP_POLICIES:
            known = ", ".join(_OVERLAP_POLICIES)
            raise ValueError(f"CIRRUS_SCHEDULE_OVERLAP={self.schedule_overlap!r} is not one of {known}")
        if self.zombie_threshold_s is None:
            threshold = self.zombie_missed_heartbeats * self.heartbeat_frequency_s
            object.__setattr__(self, "zombie_threshold_s", float(threshold))
            object.__setattr__(self, "zombie_threshold_derived", True)

    @property
    def tables_prefix(self) -> str:
        return self.table_prefix if self.table_prefix is not None else f"cirrus-{self.stage}-"

    @property
    def pull_streams(self) -> bool:
        if self.streams == "auto":
            return self.dynamodb_endpoint is not None or self.stage in ("local", "test")
        return self.streams == "pull"

    @property
    def min_scheduled_time(self) -> timedelta:
        return timedelta(seconds=self.scheduler_min_scheduled_time_s)

    @property
    def max_scheduled_time(self) -> timedelta:
        return timedelta(seconds=self.scheduler_max_scheduled_time_s)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``env``; unset or empty variables keep their defaults."""
        values: dict[str, object] = {}
        for f in fields(cls):
            if not f.init:
                continue
            raw = env.get(f"CIRRUS_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        if "region" not in values:
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        return cls(**values)  # type: ignore[arg-type]


def _coerce(name: str, kind: object, raw: str) -> object:
    kind = str(kind)
    try:
        if kind.startswith("bool"):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"CIRRUS_{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


#: ``chalicelib.domain.schedule_policy.OVERLAP_POLICIES`` (config imports no domain; a test compares).
_OVERLAP_POLICIES = ("ALLOW_ALL", "SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER")

_current: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_env(os.environ)
    return _current


def read_settings_uncached() -> Settings:
    """Settings as the environment says right now, without touching the cache (import-time decisions
    such as attaching the API Gateway authorizer, which follow the stage being packaged)."""
    return Settings.from_env(os.environ)


def override_settings(settings: Settings | None = None, **changes: object) -> Settings:
    """Replace the process's settings (tests, the local stack); ``None`` re-reads the environment."""
    global _current
    base = settings if settings is not None else Settings.from_env(os.environ)
    if base.zombie_threshold_derived and "zombie_threshold_s" not in changes:
        changes["zombie_threshold_s"] = None  # derived again from the (changed) heartbeat settings
    _current = replace(base, **changes) if changes else base
    return _current


def reset_settings() -> None:
    """Forget the cached settings; the next :func:`get_settings` reads the environment again."""
    global _current
    _current = None
