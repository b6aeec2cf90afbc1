"""The schedule emulator of the local stack: rate parsing, discovery, one tick, the background loop."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from chalice import Blueprint, Chalice, Cron, Rate
from chalice.config import Config

from devstack.rates import UnsupportedScheduleError, parse_rate
from devstack.schedule_emulator import ScheduleEmulator, discover_jobs, fire

EMULATOR_LOGGER = "devstack.schedules"


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        (Rate(1, unit=Rate.MINUTES), 60),
        (Rate(5, unit=Rate.MINUTES), 300),
        (Rate(2, unit=Rate.HOURS), 7200),
        (Rate(1, unit=Rate.DAYS), 86400),
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("  rate(1 hour) ", 3600),
        ("rate(3 days)", 3 * 86400),
    ],
)
def test_parse_rate_accepts_eventbridge_rates(expression: object, seconds: int) -> None:
    assert parse_rate(expression) == timedelta(seconds=seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",  # EventBridge wants the singular for 1 …
        "rate(5 minute)",  # … and the plural otherwise
        "rate(0 minutes)",
        Rate(0, unit=Rate.MINUTES),
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate(2 weeks)",
        "every 5 minutes",
        "",
    ],
)
def test_parse_rate_rejects_what_eventbridge_rejects(expression: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_rate(expression)  # type: ignore[arg-type]
    assert not isinstance(caught.value, UnsupportedScheduleError)


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", Cron(0, 12, "*", "*", "?", "*")])
def test_parse_rate_reports_cron_as_unsupported(expression: object) -> None:
    with pytest.raises(UnsupportedScheduleError) as caught:
        parse_rate(expression)  # type: ignore[arg-type]
    assert caught.value.expression == "cron(0 12 * * ? *)"


class TinyApp:
    """A Chalice app with a good job, a failing job, a cron job, a Blueprint job and a route."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.failures = 0
        self.app = app = Chalice(app_name="tiny")
        bp = Blueprint(__name__)

        @app.schedule(Rate(1, unit=Rate.MINUTES))
        def every_minute(event: object) -> dict[str, int]:
            self.seen.append(event)
            return {"created": 2}

        @app.schedule("rate(1 minute)", name="broken")
        def always_fails(event: object) -> None:
            self.failures += 1
            raise RuntimeError("boom\non two lines")

        @app.schedule(Cron(0, 12, "*", "*", "?", "*"))
        def at_noon(event: object) -> None:
            raise AssertionError("cron jobs are not emulated")

        @app.route("/")
        def index() -> dict[str, str]:
            return {}

        @bp.schedule("rate(5 minutes)")
        def from_blueprint(event: object) -> None:
            return None

        app.register_blueprint(bp)


def test_discover_finds_every_rate_schedule_of_the_app_and_its_blueprints(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=EMULATOR_LOGGER):
        jobs = {job.name: job for job in discover_jobs(TinyApp().app)}

    assert {name: job.interval.total_seconds() for name, job in jobs.items()} == {
        "every_minute": 60,
        "broken": 60,
        "from_blueprint": 300,
    }
    assert jobs["every_minute"].expression == "rate(1 minute)"
    assert jobs["every_minute"].timeout_s == 60
    assert "job=at_noon not emulated" in caplog.text


def test_discover_takes_timeout_and_memory_from_the_chalice_config() -> None:
    config = Config.create(chalice_stage="local", lambda_timeout=300, lambda_memory_size=512)

    job = next(job for job in discover_jobs(TinyApp().app, config) if job.name == "every_minute")

    assert (job.timeout_s, job.memory_mb) == (300, 512)


def test_fire_sends_a_scheduled_event_and_a_lambda_context(caplog: pytest.LogCaptureFixture) -> None:
    tiny = TinyApp()
    job = next(job for job in discover_jobs(tiny.app) if job.name == "every_minute")

    with caplog.at_level(logging.INFO, logger=EMULATOR_LOGGER):
        tick = fire(job, region="us-east-1")

    assert tick.report == {"created": 2} and tick.error is None
    (event,) = tiny.seen
    assert (event.source, event.detail_type, event.region) == ("aws.events", "Scheduled Event", "us-east-1")
    assert 59_000 < event.context.get_remaining_time_in_millis() <= 60_000
    assert event.context.function_name == "every_minute"
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tick ")]
    assert line.startswith("tick job=every_minute duration=") and line.endswith('report={"created":2}')


def test_fire_logs_a_failing_job_on_one_line_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    job = next(job for job in discover_jobs(TinyApp().app) if job.name == "broken")

    with caplog.at_level(logging.INFO, logger=EMULATOR_LOGGER):
        tick = fire(job, region="us-east-1")

    assert isinstance(tick.error, RuntimeError) and tick.report is None
    (record,) = [r for r in caplog.records if r.getMessage().startswith("tick ")]
    assert record.levelno == logging.ERROR
    assert "tick job=broken" in record.getMessage()
    assert "error=RuntimeError: boom on two lines at " in record.getMessage()
    assert "\n" not in record.getMessage()


def wait_until(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_emulator_fires_each_job_on_its_scaled_rate_and_survives_failures() -> None:
    tiny = TinyApp()
    # rate(1 minute) × 0.005 = 0.3 s; the 5-minute Blueprint job would need 1.5 s.
    emulator = ScheduleEmulator(discover_jobs(tiny.app), region="us-east-1", tick_scale=0.005)
    started = time.monotonic()
    emulator.start()
    try:
        assert wait_until(lambda: len(tiny.seen) >= 3 and tiny.failures >= 3, timeout_s=10)
        # The first tick comes one interval after start, as with a new EventBridge rule.
        assert time.monotonic() - started >= 3 * 0.3
    finally:
        emulator.stop(timeout_s=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("schedule-")]
    fired = len(tiny.seen)
    time.sleep(0.5)
    assert len(tiny.seen) == fired, "no tick after stop()"


def test_a_tick_is_one_line_the_jobs_own_report_line_is_not_printed_again(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from chalicelib.jobs.common import log_bare_json_lines

    log_bare_json_lines("cirrus.test.job")
    job_log = logging.getLogger("cirrus.test.job")
    emulator = ScheduleEmulator([], region="us-east-1")
    emulator.start()
    try:
        job_log.info('{"job": "x", "report": 1}')  # what a job prints for CloudWatch
    finally:
        emulator.stop(timeout_s=1)
    assert capsys.readouterr().out == ""  # under the emulator, its tick line is the only line
    job_log.info('{"job": "x", "report": 2}')
    assert capsys.readouterr().out == '{"job": "x", "report": 2}\n'  # on Lambda, the job's line is printed
