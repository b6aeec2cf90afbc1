"""Posting to API Gateway WebSocket connections, shared by the edges that do it: the message Lambda
(:mod:`chalicelib.api.events`) and the stream consumers (:mod:`chalicelib.jobs.event_streams`)."""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import WebsocketAPI, WebsocketDisconnectedError

#: Sends ``text`` to a connection; ``False`` when the connection is gone.
Send = Callable[[str, str], bool]


def sender(api: WebsocketAPI) -> Send:
    def send(connection_id: str, text: str) -> bool:
        try:
            api.send(connection_id, text)
        except WebsocketDisconnectedError:
            return False
        return True

    return send
