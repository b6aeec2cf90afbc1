"""Fault injection: a botocore ``before-send`` hook on the models' DynamoDB clients.

Registered first, the hook sees each HTTP attempt before it is sent (before moto's stubber, on
moto) and, at ``rate`` (drawn from a seeded generator), replaces it with the next of these faults
in turn (whether the write happened is what makes them hard):

- ``throttled``: a 400 ThrottlingException, the request not applied (botocore retries it);
- ``server_error``: a 500 InternalServerError *after* the request was applied (retried: the
  retry meets its own write);
- ``timeout``: a read timeout, not applied (retried);
- ``late_timeout``: a read timeout after the request was applied (retried);
- ``exhausted``: a ThrottlingException raised as if retries had run out: not applied, and
  the caller sees the error;
- ``lost_reply``: the request applied, then an error the caller sees (it cannot know it wrote).

"Applied" means sent to the backend by the hook itself: to moto's stubber in process, or over HTTP
to DynamoDB Local. The attempt botocore would send is then pointed nowhere and answered by the hook.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.httpsession import URLLib3Session
from moto.core.models import botocore_stubber

from chalicelib.storage.models import ALL_MODELS

MODES = ("throttled", "server_error", "timeout", "late_timeout", "exhausted", "lost_reply")
_NOWHERE = "http://fault-injected.invalid/"  # moto passes such a request through: it never applies it


class _Raw:
    """The smallest raw body AWSResponse needs."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(url: str, status: int, code: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse(url, status, headers, _Raw(body))


_HTTP = URLLib3Session()


def _apply(event_name: str, request: Any) -> None:
    """Let the backend apply ``request`` now (its reply is dropped), then make sure nothing else does:
    moto's stubber passes a request to ``_NOWHERE`` through, and botocore sends nothing when a hook
    answers or raises."""
    if botocore_stubber.enabled:  # in-process moto
        botocore_stubber(event_name, request)
    else:  # a real endpoint (DynamoDB Local)
        _HTTP.send(request)
    request.url = _NOWHERE


class FaultInjector:
    """Fails a fraction of DynamoDB attempts (see the module docstring); counts what it did."""

    def __init__(self, rate: float = 0.1, seed: int = 7) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()
        self.enabled = True
        self._next = 0

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        if not self.enabled or self.random.random() >= self.rate:
            return None
        mode = MODES[self._next % len(MODES)]
        self._next += 1
        self.injected[mode] += 1
        operation = event_name.rsplit(".", 1)[-1]
        self.operations[operation] += 1
        url = request.url
        if mode == "throttled":
            request.url = _NOWHERE  # never applied (moto passes it through; botocore sends nothing)
            return _response(url, 400, "ThrottlingException")
        if mode == "server_error":
            _apply(event_name, request)
            return _response(url, 500, "InternalServerError")
        if mode in ("late_timeout", "lost_reply"):
            _apply(event_name, request)  # applied; the raise below stops the other handlers
        if mode in ("timeout", "late_timeout"):
            raise ReadTimeoutError(endpoint_url=url)
        code = "ThrottlingException" if mode == "exhausted" else "InternalServerError"
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


def _clients() -> list[Any]:
    clients: list[Any] = []
    for model in ALL_MODELS:
        client = model._get_connection().connection.client
        if all(client is not c for c in clients):
            clients.append(client)
    return clients


@contextmanager
def hooked(event: str, handler: Any) -> Iterator[Any]:
    """Register ``handler`` first for ``event`` on every model's client for the block."""
    clients = _clients()
    hook_id = f"hook-{id(handler)}"
    for client in clients:
        client.meta.events.register_first(event, handler, unique_id=hook_id)
    try:
        yield handler
    finally:
        for client in clients:
            client.meta.events.unregister(event, unique_id=hook_id)


def injected(injector: FaultInjector) -> Any:
    """Install ``injector`` on every model's client for the block."""
    return hooked("before-send.dynamodb", injector)


class Interleave:
    """Runs ``action`` once, in the calling thread, just before the ``skip + 1``-th call of
    ``operation`` is sent: a deterministic "another client got there in between"."""

    def __init__(self, operation: str, action: Any, skip: int = 0) -> None:
        self.operation = operation
        self.action = action
        self.skip = skip
        self.fired = False

    def __call__(self, model: Any = None, **_: Any) -> None:
        if self.fired or getattr(model, "name", None) != self.operation:
            return
        if self.skip:
            self.skip -= 1
            return
        self.fired = True  # before acting: the action's own calls must not fire it again
        self.action()


def interleaved(interleave: Interleave) -> Any:
    return hooked("before-call.dynamodb", interleave)
