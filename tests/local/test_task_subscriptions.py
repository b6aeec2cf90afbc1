"""``/task_runs/subscriptions/scheduled`` in the local front over a real websocket (moto): Prefect's
task-worker protocol (auth, subscribe, one frame per run, ack), a run delayed while a worker is
subscribed reaching it within 2 seconds, a run whose ack never came put back, refusals with 4001."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp

from tests.local import test_front
from tests.local.test_front import _request, _run

front = test_front.front  # the fixture

LATENCY_S = 2.0
DEFERRED = {"type": "SCHEDULED", "state_details": {"deferred": True}}


async def _worker(http: aiohttp.ClientSession, url: str, subscribe: dict[str, Any]) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url.replace("http", "ws") + "/task_runs/subscriptions/scheduled", protocols=("prefect",))
    await ws.send_str(json.dumps({"type": "auth", "token": None}))
    assert json.loads((await ws.receive(timeout=10)).data) == {"type": "auth_success"}
    await ws.send_str(json.dumps(subscribe))
    return ws


async def _delay(url: str, task_key: str) -> str:
    body = {"name": "add", "task_key": task_key, "dynamic_key": str(uuid.uuid4()), "state": DEFERRED}
    status, text, _ = await _request(url, "POST", "/task_runs/", body)
    assert status == 201, text
    return json.loads(text)["id"]


def test_a_subscribed_worker_gets_each_run_once_and_an_unacknowledged_run_comes_back(front: str) -> None:
    async def session() -> tuple[list[str], float, str, str]:
        async with aiohttp.ClientSession() as http:
            waiting = await _delay(front, "add-1")
            ws = await _worker(http, front, {"type": "subscribe", "keys": ["add-1"], "client_id": "w1"})
            first = json.loads((await ws.receive(timeout=10)).data)
            await ws.send_str(json.dumps({"type": "ack"}))
            posted = time.monotonic()
            live = await _delay(front, "add-1")
            second = json.loads((await ws.receive(timeout=LATENCY_S + 3)).data)
            latency = time.monotonic() - posted
            await ws.close()  # the second run is never acknowledged: it goes back to its queue
            ws2 = await _worker(http, front, {"type": "subscribe", "keys": ["add-1"], "client_id": "w2"})
            again = json.loads((await ws2.receive(timeout=10)).data)
            await ws2.send_str(json.dumps({"type": "ack"}))
            await ws2.close()
            return [first["id"], second["id"], again["id"]], latency, waiting, live

    (first, second, again), latency, waiting, live = _run(session())
    assert (first, second, again) == (waiting, live, live)
    assert latency <= LATENCY_S, latency
    print(f"task runs: delayed -> subscribed worker in {latency:.3f} s")


def test_a_subscribe_frame_without_keys_or_client_id_closes_with_4001(front: str) -> None:
    async def session(frame: dict[str, Any]) -> tuple[int | None, str]:
        async with aiohttp.ClientSession() as http:
            ws = await _worker(http, front, frame)
            message = await ws.receive(timeout=10)
            return ws.close_code, str(message.extra or "")

    code, reason = _run(session({"type": "subscribe", "keys": [], "client_id": "w"}))
    assert code == 4001 and "'keys'" in reason
    code, reason = _run(session({"type": "subscribe", "keys": ["a"]}))
    assert code == 4001 and "'client_id'" in reason
