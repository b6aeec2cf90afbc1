"""``/events/out`` in the local front over a real websocket (moto): Prefect's subscription protocol,
the backfill, live events from ``POST /events`` and from a run's state change, within 2 seconds."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from tests.api.test_events_out import _event
from tests.local import test_front
from tests.local.test_front import _request, _run

front = test_front.front  # the fixture

LATENCY_S = 2.0


async def _subscribe(http: aiohttp.ClientSession, url: str, flt: dict[str, Any]) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url.replace("http", "ws") + "/events/out", protocols=("prefect",))
    await ws.send_str(json.dumps({"type": "auth", "token": None}))
    assert json.loads((await ws.receive(timeout=10)).data) == {"type": "auth_success"}
    await ws.send_str(json.dumps({"type": "filter", "filter": flt}))
    return ws


async def _next_event(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    frame = json.loads(message.data)
    assert frame["type"] == "event"
    return frame["event"]


def test_backfill_then_live_events_within_two_seconds(front: str) -> None:
    before = _event("acme.before", datetime.now(UTC) - timedelta(minutes=2))
    assert _run(_request(front, "POST", "/events", [before]))[0] == 204

    async def session() -> tuple[list[str], float]:
        async with aiohttp.ClientSession() as http:
            ws = await _subscribe(http, front, {"event": {"prefix": ["acme."]}})
            seen = [(await _next_event(ws, 10))["id"]]
            await asyncio.sleep(0.5)  # the hub's first pump has run
            live = _event("acme.live")
            posted = time.monotonic()
            await _request(front, "POST", "/events", [_event("other.thing"), live])
            got = await _next_event(ws, LATENCY_S + 3)
            latency = time.monotonic() - posted
            seen.append(got["id"])
            await ws.close()
            return seen, latency, live["id"]

    seen, latency, live_id = _run(session())
    assert seen == [before["id"], live_id]
    assert latency <= LATENCY_S, latency
    print(f"events/out: stored -> subscriber in {latency:.3f} s")


def test_a_cancelling_run_is_pushed_to_a_runner_like_subscriber(front: str) -> None:
    _, flow, _ = _run(_request(front, "POST", "/flows/", {"name": "cancel-me"}))
    _, run, _ = _run(
        _request(front, "POST", "/flow_runs/", {"flow_id": json.loads(flow)["id"], "state": {"type": "RUNNING"}})
    )
    run_id = json.loads(run)["id"]
    now = datetime.now(UTC)
    runner_filter = {
        "occurred": {
            "since": (now - timedelta(minutes=1)).isoformat(),
            "until": (now + timedelta(days=365)).isoformat(),
        },
        "event": {"name": ["prefect.flow-run.Cancelling"]},
        "resource": {"id": [f"prefect.flow-run.{run_id}"]},
    }

    async def session() -> tuple[dict, float]:
        async with aiohttp.ClientSession() as http:
            ws = await _subscribe(http, front, runner_filter)
            await asyncio.sleep(0.5)
            asked = time.monotonic()
            body = {"state": {"type": "CANCELLING"}}
            status, _, _ = await _request(front, "POST", f"/flow_runs/{run_id}/set_state", body)
            assert status == 201
            event = await _next_event(ws, LATENCY_S + 3)
            return event, time.monotonic() - asked

    event, latency = _run(session())
    assert event["event"] == "prefect.flow-run.Cancelling"
    assert event["resource"]["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert latency <= LATENCY_S, latency
    print(f"events/out: set_state CANCELLING -> subscriber in {latency:.3f} s")


def test_protocol_errors_close_with_1002_and_later_frames_are_harmless(front: str) -> None:
    async def session() -> list[Any]:
        results = []
        async with aiohttp.ClientSession() as http:
            url = front.replace("http", "ws") + "/events/out"
            for second in (json.dumps({"type": "nonsense"}), json.dumps({"type": "filter", "filter": {"bogus": 1}})):
                async with http.ws_connect(url) as ws:
                    await ws.send_str(json.dumps({"type": "auth", "token": None}))
                    await ws.receive(timeout=10)
                    await ws.send_str(second)
                    closing = await ws.receive(timeout=10)
                    results.append((closing.type, ws.close_code or closing.data))
            ws = await _subscribe(http, front, {})
            await ws.send_str("junk after the filter")
            await ws.send_str(json.dumps(_event("acme.x")))
            posted = _event("acme.after-junk")
            await _request(front, "POST", "/events", [posted])
            while True:  # the backfill may hold other tests' events; the socket stays open
                event = await _next_event(ws, LATENCY_S + 3)
                if event["id"] == posted["id"]:
                    break
            results.append("open")
        return results

    results = _run(session())
    assert results[0][1] == 1002 and results[1][1] == 1002
    assert results[2] == "open"
