"""Settings of the local stack only (``make run``); the app's own settings live in ``chalicelib.config``.

Read once, by ``python -m devstack``, from the environment it was started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The Chalice stage the local stack serves (``.chalice/config.json``).
CHALICE_STAGE = "local"
#: The variable that, set in the stack's own environment, points it at an external DynamoDB.
ENDPOINT_VARIABLE = "CIRRUS_DYNAMODB_ENDPOINT"

#: Values of ``CIRRUS_LOCAL_DYNAMODB``.
DYNAMODB_CHOICES = ("auto", "local", "moto")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class LocalSettings:
    """Knobs of the dev stack; each is ``CIRRUS_LOCAL_<FIELD>`` upper-cased in the environment."""

    #: Interface the API and the embedded DynamoDB bind to.
    host: str = "127.0.0.1"
    #: Port of the API (REST and the ``/events/in`` websocket).
    api_port: int = 8000
    #: Port of the embedded DynamoDB (moto server); unused with an external endpoint.
    dynamodb_port: int = 5005
    #: Multiplies every ``@app.schedule`` rate (0.01 turns ``rate(1 minute)`` into 0.6 s).
    tick_scale: float = 1.0
    #: Fire the ``@app.schedule`` functions in the background.
    schedules: bool = True
    #: How long the API may take to answer ``/health`` before the stack gives up.
    startup_timeout_s: float = 90.0  # creating the tables on DynamoDB Local of a loaded machine took 30+ s
    #: Log level of the stack's own lines (ticks, banner); DEBUG adds tracebacks of failed ticks.
    log_level: str = "INFO"
    #: The embedded DynamoDB: ``auto`` (DynamoDB Local when Java and the emulator are there, else
    #: moto), ``local`` or ``moto``; see :mod:`devstack.store`.
    dynamodb: str = "auto"
    #: DynamoDB Local's data folder (``-dbPath``), relative to the checkout; ``make reset`` wipes it.
    dynamodb_dir: str = ".local-stack/dynamodb"
    #: An external DynamoDB (DynamoDB Local, AWS) given by ``CIRRUS_DYNAMODB_ENDPOINT``; None: embedded.
    external_endpoint: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def dynamodb_endpoint(self) -> str:
        """Where the stack's DynamoDB answers: the external endpoint or the embedded one's port."""
        return self.external_endpoint or f"http://{self.host}:{self.dynamodb_port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalSettings:
        """Build from ``env``; unset or empty variables keep their defaults, bad values raise ValueError."""

        def raw(name: str) -> str | None:
            value = env.get(f"CIRRUS_LOCAL_{name.upper()}")
            return value.strip() if value and value.strip() else None

        values: dict[str, object] = {}
        for name in ("host", "log_level", "dynamodb", "dynamodb_dir"):
            if (value := raw(name)) is not None:
                values[name] = value.upper() if name == "log_level" else value.lower() if name == "dynamodb" else value
        for name in ("api_port", "dynamodb_port"):
            if (value := raw(name)) is not None:
                values[name] = _parse(name, value, int)
        for name in ("tick_scale", "startup_timeout_s"):
            if (value := raw(name)) is not None:
                values[name] = _parse(name, value, float)
        if (value := raw("schedules")) is not None:
            values["schedules"] = _parse("schedules", value, _boolean)
        values["external_endpoint"] = (env.get(ENDPOINT_VARIABLE) or "").strip() or None
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.dynamodb not in DYNAMODB_CHOICES:
            raise ValueError(f"CIRRUS_LOCAL_DYNAMODB={settings.dynamodb!r} is not one of {', '.join(DYNAMODB_CHOICES)}")
        if settings.tick_scale <= 0:
            raise ValueError(f"CIRRUS_LOCAL_TICK_SCALE={settings.tick_scale} must be positive")
        return settings


def _boolean(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError(raw)


def _parse(name: str, raw: str, kind: type | object) -> object:
    try:
        return kind(raw)  # type: ignore[operator]
    except ValueError as exc:
        raise ValueError(f"CIRRUS_LOCAL_{name.upper()}={raw!r} is not valid") from exc
