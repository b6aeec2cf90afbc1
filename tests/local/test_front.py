"""The local front (``devstack.front``) over real HTTP and websockets, in-process on moto:
what ``make run`` answers that Chalice's dev server did not (404s, HEAD, ``/events/in``, static files)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chalicelib.config import override_settings
from devstack.front import Front, serve
from devstack.processes import free_port, http_get
from devstack.stack import load_chalice_config
from devstack.ui import UiSite

HOST = "127.0.0.1"


@pytest.fixture
def front(settings, tmp_path: Path) -> Iterator[str]:
    """The front on a free port in a thread (its own event loop), with a UI in ``tmp_path/ui``."""
    from app import app

    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "index.html").write_text("<h1>ui</h1>")
    (tmp_path / "secret.txt").write_text("outside the root")
    port = free_port(HOST)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    front = Front(app, load_chalice_config(), ui_site=UiSite(tmp_path / "ui"), threads=8)
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(front, HOST, port, stop),), daemon=True)
    thread.start()
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 10
    while http_get(f"{url}/health", timeout_s=1) != (200, "true"):
        assert time.monotonic() < deadline and thread.is_alive(), "the front did not start"
        time.sleep(0.05)
    yield url
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=10)
    assert not thread.is_alive()
    loop.close()


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


async def _request(url: str, method: str, path: str, body: Any = None) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        data = None if body is None else json.dumps(body)
        async with http.request(method, url + path, data=data, headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.read(), dict(r.headers)


def test_rest_routes_unknown_paths_methods_head_and_options(front: str) -> None:
    assert _run(_request(front, "GET", "/health"))[:2] == (200, b"true")
    status, body, headers = _run(_request(front, "HEAD", "/health"))
    assert (status, body, headers["Content-Type"]) == (200, b"", "application/json")
    assert _run(_request(front, "GET", "/no/such/route"))[:2] == (404, b'{"detail": "Not Found"}')
    assert _run(_request(front, "POST", "/events/out"))[:2] == (404, b'{"detail": "Not Found"}')
    assert _run(_request(front, "DELETE", "/health"))[0] == 405
    status, _, headers = _run(_request(front, "OPTIONS", "/flows/filter"))
    assert status == 200 and "OPTIONS" in headers["Access-Control-Allow-Methods"]


def test_concurrent_requests_each_see_their_own_body(front: str) -> None:
    names = [f"flow-{i}-{uuid.uuid4().hex[:6]}" for i in range(16)]

    async def create_all() -> list[Any]:
        return await asyncio.gather(*(_request(front, "POST", "/flows/", {"name": name}) for name in names))

    replies = _run(create_all())
    assert [json.loads(body)["name"] for _, body, _ in replies] == names
    assert {status for status, _, _ in replies} == {201}


def test_the_ui_beside_the_api_and_nothing_outside_its_root(front: str) -> None:
    assert _run(_request(front, "GET", "/"))[:2] == (200, b"<h1>ui</h1>")
    status, body, headers = _run(_request(front, "HEAD", "/index.html"))
    assert (status, body, headers["Content-Type"]) == (200, b"", "text/html")
    assert _run(_request(front, "GET", "/../secret.txt"))[0] == 404
    assert _run(_request(front, "GET", "/%2e%2e/secret.txt"))[0] == 404
    assert _run(_request(front, "GET", "/health"))[:2] == (200, b"true")  # the API at the root
    assert _run(_request(front, "GET", "/api/health"))[:2] == (200, b"true")  # and under /api, for the UI
    assert json.loads(_run(_request(front, "GET", "/ui-settings"))[1])["api_url"].endswith("/api")


def test_events_in_speaks_prefects_protocol(front: str, repos) -> None:
    _, flow, _ = _run(_request(front, "POST", "/flows/", {"name": "ws-flow"}))
    flow_id = json.loads(flow)["id"]
    _, run, _ = _run(_request(front, "POST", "/flow_runs/", {"flow_id": flow_id, "state": {"type": "RUNNING"}}))
    run_id = json.loads(run)["id"]
    heartbeat = {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "prefect.flow-run.heartbeat",
        "resource": {"prefect.resource.id": f"prefect.flow-run.{run_id}"},
    }

    async def session() -> list[Any]:
        seen: list[Any] = []
        ws_url = front.replace("http", "ws") + "/events/in"
        async with aiohttp.ClientSession() as http:
            # PREFECT_API_URL may name the /api prefix (as the UI does): the same socket answers there.
            async with http.ws_connect(front.replace("http", "ws") + "/api/events/in", protocols=("prefect",)) as ws:
                await ws.send_str(json.dumps({"type": "auth", "token": None}))
                seen.append(json.loads((await ws.receive()).data))
            async with http.ws_connect(ws_url, protocols=("prefect",), autoping=False) as ws:
                seen.append(ws.protocol)
                await ws.send_str(json.dumps({"type": "auth", "token": None}))
                seen.append(json.loads((await ws.receive()).data))
                await ws.ping(b"checkpoint")
                pong = await ws.receive()
                seen.append((pong.type, pong.data))
                for frame in ("not json", json.dumps({"id": "x"}), json.dumps([heartbeat, {"junk": 1}])):
                    await ws.send_str(frame)
                await ws.send_str(json.dumps({"type": "auth", "token": None}))  # still open and answering
                seen.append(json.loads((await ws.receive()).data))
        return seen

    seen = _run(session())
    assert seen == [
        {"type": "auth_success"},
        "prefect",
        {"type": "auth_success"},
        (aiohttp.WSMsgType.PONG, b"checkpoint"),
        {"type": "auth_success"},
    ]
    assert repos.flow_runs.get(uuid.UUID(run_id)).heartbeat is not None


def test_events_in_refuses_bad_credentials_when_auth_is_required(front: str, settings) -> None:
    override_settings(settings, auth_required=True)
    ws_url = front.replace("http", "ws") + "/events/in"

    async def upgrade(headers: dict[str, str]) -> int:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.ws_connect(ws_url, protocols=("prefect",), headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert _run(upgrade({})) == 401
    assert _run(upgrade({"Authorization": "Bearer not-a-key"})) == 403
