"""Schedule engine benchmark: ``python bench/schedules.py`` prints one JSON line.

For each kind, the occurrences per second of ``occurrences(schedule, now, now + 100 days, 100)``:
100 runs of a 5-minute schedule in America/New_York from a window starting now, once with the
anchor (interval ``anchor_date``, rrule ``DTSTART``) at now and once ten years back. Ten years back
is where dateutil alone walks ~1 million periods before the window (Prefect #18861). Each case
repeats for about half a second (at least three calls) and reports calls * 100 / elapsed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import _env  # noqa: E402, F401  (first: the project root on sys.path)

from chalicelib.domain.schedules import occurrences  # noqa: E402
from chalicelib.schemas.schedules import parse_schedule  # noqa: E402

RUNS = 100
ZONE = "America/New_York"


def rate(spec: dict[str, object], start: datetime, budget: float = 0.5) -> float:
    """Occurrences per second generating RUNS occurrences of ``spec`` from ``start``."""
    schedule = parse_schedule(spec)
    end = start + timedelta(days=100)
    assert len(occurrences(schedule, start, end, RUNS)) == RUNS  # warm caches, check the work
    calls, began = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - began < budget:
        occurrences(schedule, start, end, RUNS)
        calls += 1
    return round(calls * RUNS / (time.perf_counter() - began))


def main() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=3653)
    local = now.astimezone(ZoneInfo(ZONE)).strftime("%Y%m%dT%H%M%S")
    old_local = old.astimezone(ZoneInfo(ZONE)).strftime("%Y%m%dT%H%M%S")
    cases = {
        "cron": {"cron": "*/5 * * * *", "timezone": ZONE},
        "interval": {"interval": 300, "anchor_date": now.isoformat(), "timezone": ZONE},
        "rrule": {"rrule": f"DTSTART:{local}\nRRULE:FREQ=MINUTELY;INTERVAL=5", "timezone": ZONE},
        "interval_old_anchor": {"interval": 300, "anchor_date": old.isoformat(), "timezone": ZONE},
        "rrule_old_anchor": {"rrule": f"DTSTART:{old_local}\nRRULE:FREQ=MINUTELY;INTERVAL=5", "timezone": ZONE},
    }
    print(json.dumps({name: {"occurrences_per_s": rate(spec, now)} for name, spec in cases.items()}))


if __name__ == "__main__":
    main()
