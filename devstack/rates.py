"""EventBridge ``rate(...)`` expressions, as ``@app.schedule`` accepts them, turned into intervals."""

from __future__ import annotations

import re
from datetime import timedelta

from chalice.app import ScheduleExpression

_RATE = re.compile(r"rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class UnsupportedScheduleError(ValueError):
    """A valid schedule the local emulator cannot fire (EventBridge ``cron(...)``)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        super().__init__(f"{expression!r}: only rate(...) schedules are emulated locally")


def expression_text(expression: str | ScheduleExpression) -> str:
    """The expression as EventBridge sees it: ``Rate(1, unit=Rate.MINUTES)`` becomes ``rate(1 minute)``."""
    if isinstance(expression, ScheduleExpression):
        return expression.to_string()
    return str(expression).strip()


def parse_rate(expression: str | ScheduleExpression) -> timedelta:
    """The interval of a ``rate(<value> <unit>)`` expression, with EventBridge's rules.

    The value is a positive integer; the unit is ``minute``, ``hour`` or ``day``, singular exactly
    when the value is 1 (EventBridge rejects ``rate(1 minutes)`` and ``rate(5 minute)``).
    Raises :class:`UnsupportedScheduleError` for ``cron(...)`` and ValueError for anything else.
    """
    text = expression_text(expression)
    if text.startswith("cron("):
        raise UnsupportedScheduleError(text)
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an EventBridge rate expression such as 'rate(5 minutes)'")
    value, unit = int(match["value"]), match["unit"]
    if value < 1:
        raise ValueError(f"{text!r}: the rate must be at least 1")
    if (value == 1) == unit.endswith("s"):
        expected = unit.rstrip("s") if value == 1 else f"{unit}s"
        raise ValueError(f"{text!r}: EventBridge expects 'rate({value} {expected})'")
    return timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")])
