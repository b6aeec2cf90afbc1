"""Hostile requests over real HTTP against the local stack: every route, bodies built from Prefect's
own OpenAPI request schemas with one field made hostile at a time, plus whole-body attacks (issue 16).

Used by tests/e2e/test_http_fuzz.py (a bounded budget inside ``make test``) and by
bench/hostile_http.py (a larger one, printing the number of hostile requests and of 5xx answers).

- :func:`fuzz_stack` starts DynamoDB Local (AWS's emulator, which enforces the item and key limits
  moto does not) when it is installed, else the embedded moto server, and ``python -m
  devstack`` on free ports; both are stopped (their whole sessions) on exit.
- :func:`devstack.prefect_api.prefect_openapi` is Prefect 3.9.1's OpenAPI document, generated from the ``prefect``
  package of the end-to-end virtualenv (cached per version under ``.cache/``).
- :func:`fuzz` sends the requests on one kept-alive connection (so a HEAD answered with a body
  would corrupt the next answer), records every status, checks that a refused write changed
  nothing, and keeps the JSON answers for the conformance check (tests/e2e/openapi_conformance.py).
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.local_stack import local_stack

REQUEST_TIMEOUT_S = 30.0
FUZZ = "__FUZZ__"

#: One field made hostile: raw JSON text, so that what ``json.dumps`` cannot write is sent too.
HOSTILE_VALUES: dict[str, str] = {
    "long-10k": json.dumps("x" * 10_000),
    "empty": '""',
    "lone-surrogate": '"\\ud800"',
    "banned-chars": '"a/b%c&d<e>"',
    "nested-40": '{"a":' * 40 + "1" + "}" * 40,
    "null": "null",
    "object": '{"k": {"v": [1, null]}}',
    "list": '[1, "two", null]',
    "true": "true",
    "yes": '"yes"',
    "int-10e20": "100000000000000000000",
    "int-2e64": str(2**64),
    "negative": "-1",
    "fraction": "1.5",
    "NaN": "NaN",
    "1e400": "1e400",
    "year-1": '"0001-01-01T00:00:00Z"',
    "never-fires": json.dumps({"rrule": "RRULE:FREQ=DAILY\nEXRULE:FREQ=DAILY"}),
}

#: Whole bodies that no route may take (each sent to every route that takes a body).
HOSTILE_BODIES: dict[str, tuple[bytes, str | None]] = {
    "not-json": (b'{"name": ', "application/json"),
    "NaN": (b'{"limit": NaN, "x": NaN}', "application/json"),
    "Infinity": (b'{"x": Infinity}', "application/json"),
    "1e400": (b'{"x": 1e400}', "application/json"),
    "depth-2000": (b"[" * 2_000 + b"]" * 2_000, "application/json"),
    "depth-100000": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json"),
    "lone-surrogate-key": (b'{"\\ud800": 1}', "application/json"),
    "invalid-utf8": (b'{"name": "\xff\xfe"}', "application/json"),
    "int-10e400": (b'{"limit": 1' + b"0" * 400 + b', "offset": 1' + b"0" * 400 + b"}", "application/json"),
    "limit-true": (b'{"limit": true, "force": "yes"}', "application/json"),
    "text-plain": (b'{"name": "typed"}', "text/plain"),
    "form": (b"name=typed", "application/x-www-form-urlencoded"),
    "no-content-type": (b'{"name": "typed"}', None),
    "array": (b"[1, 2, 3]", "application/json"),
    "string": (b'"body"', "application/json"),
}
#: Refused by the edge policy whatever the route (the others depend on the route's schema).
EDGE_REFUSED = frozenset(HOSTILE_BODIES) - {"limit-true", "array", "string"} | {"body-2MB"}
#: Bodies too big to send to every route: sent to the create routes only.
BIG_BODIES: dict[str, bytes] = {
    "name-1MB": json.dumps({"name": "x" * 1_000_000}).encode(),
    "body-2MB": json.dumps({"name": "n", "parameters": {"p": "x" * 2_000_000}}).encode(),
}


# ------------------------------------------------------------------------------ the stack
@dataclass(frozen=True)
class Stack:
    url: str
    store: str  # "dynamodb-local" or "moto"
    dynamodb_endpoint: str


@contextmanager
def fuzz_stack(log_dir: Path, *, dynamodb: str = "auto") -> Iterator[Stack]:
    """The local stack (tests/e2e/local_stack.py), schedules off, on DynamoDB Local when it is
    installed (or ``dynamodb="local"`` demands it), else on the embedded moto server."""
    from devstack import dynamodb_local

    with ExitStack() as stack:
        env = {"CIRRUS_LOCAL_SCHEDULES": "false"}
        store = "moto"
        if dynamodb == "local" or (dynamodb == "auto" and dynamodb_local.available()):
            ddb = stack.enter_context(dynamodb_local.DynamoDBLocal())
            env.update(dynamodb_local.DUMMY_CREDENTIALS, CIRRUS_DYNAMODB_ENDPOINT=ddb.endpoint)
            store = "dynamodb-local"
        url, endpoint = stack.enter_context(local_stack(log_dir, env))
        yield Stack(url, store, env.get("CIRRUS_DYNAMODB_ENDPOINT", endpoint))


# --------------------------------------------------------------------------------- HTTP
class Http:
    """One kept-alive HTTP/1.1 connection; a broken one is counted and replaced."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.broken: list[str] = []
        self._conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)

    def send(self, method: str, path: str, body: bytes | None = None,
             content_type: str | None = "application/json") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        headers = {"Content-Type": content_type} if content_type and body is not None else {}
        try:
            self._conn.request(method, path, body=body, headers=headers)
            response = self._conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except (http.client.HTTPException, OSError) as exc:
            self.broken.append(f"{method} {path}: {type(exc).__name__}: {exc}"[:300])
            self._conn.close()
            self._conn = self._connect()
            return 0, {}, b""

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, _, data = self.send(method, path, None if body is None else json.dumps(body).encode())
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data.decode("utf-8", "replace")


# ------------------------------------------------------------------------ routes and world
@dataclass(frozen=True)
class Route:
    method: str
    path: str  # Chalice's template: /flows/{id}
    prefect_path: str | None  # the matching template in Prefect's document, if it has one

    @property
    def takes_body(self) -> bool:
        return self.method in ("POST", "PATCH", "PUT")


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template.rstrip("/"))


def routes(doc: dict[str, Any]) -> list[Route]:
    """Every (method, path) the app serves with a view of its own (405 fallbacks excluded)."""
    from app import app

    prefect = {(_shape(path), method.upper()): path for path, ops in doc["paths"].items() for method in ops}
    found = []
    for path, views in app.routes.items():
        for method, view in views.items():
            if view.view_name.startswith("method_not_allowed"):
                continue
            found.append(Route(method, path, prefect.get((_shape(path), method))))
    # Deletes last: they remove the objects the other routes are aimed at.
    return sorted(found, key=lambda r: (r.method == "DELETE", r.path, r.method))


@dataclass
class World:
    """Objects the paths name: ids and names by the path's first segment."""

    ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    schedule_id: str = ""
    flow_name: str = ""
    deployment_name: str = ""

    def fill(self, template: str) -> str:
        resource = template.strip("/").split("/")[0]
        values = {
            "id": self.ids.get(resource, str(uuid.uuid4())),
            "name": self.names.get(resource, "fuzz-missing"),
            "schedule_id": self.schedule_id or str(uuid.uuid4()),
            "flow_name": self.flow_name or "fuzz-missing",
            "deployment_name": self.deployment_name or "fuzz-missing",
        }
        path = re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), template)
        if resource == "flow_run_states":
            path += f"?flow_run_id={self.ids.get('flow_runs', uuid.uuid4())}"
        return path


def build_world(client: Http, all_routes: list[Route], doc: dict[str, Any]) -> World:
    world = World()
    _, flow = client.json("POST", "/flows/", {"name": "fuzz-flow"})
    world.ids["flows"], world.names["flows"], world.flow_name = flow["id"], flow["name"], flow["name"]
    body = {"name": "fuzz-deployment", "flow_id": flow["id"],
            "schedules": [{"schedule": {"interval": 3600}, "slug": "fuzz-slug"}]}  # fmt: skip
    _, deployment = client.json("POST", "/deployments/", body)
    world.ids["deployments"], world.deployment_name = deployment["id"], deployment["name"]
    world.schedule_id = deployment["schedules"][0]["id"]
    _, run = client.json("POST", "/flow_runs/", {"flow_id": flow["id"], "name": "fuzz-run"})
    world.ids["flow_runs"] = run["id"]
    # Resources added by other work (variables, ...): created from Prefect's own request schema.
    for route in all_routes:
        resource = route.path.strip("/").split("/")[0]
        if route.method != "POST" or route.path.count("/") != 1 or resource in world.ids or not route.prefect_path:
            continue
        schema = _request_schema(doc, route)
        if schema is None:
            continue
        status, made = client.json("POST", route.prefect_path, example(schema, doc, world, f"fuzz_{resource}"))
        if status in (200, 201) and isinstance(made, dict) and "id" in made:
            world.ids[resource] = made["id"]
            if isinstance(made.get("name"), str):
                world.names[resource] = made["name"]
    return world


# --------------------------------------------------------------------- schema-driven bodies
def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _request_schema(doc: dict[str, Any], route: Route) -> dict[str, Any] | None:
    if route.prefect_path is None:
        return None
    op = doc["paths"][route.prefect_path].get(route.method.lower(), {})
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    return _resolve(content["schema"], doc) if content else None


def example(schema: dict[str, Any], doc: dict[str, Any], world: World, name: str = "fuzz", depth: int = 0) -> Any:
    """A small value valid for ``schema`` (its required properties only), aimed at ``world``."""
    schema = _resolve(schema, doc)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, doc).get("type") != "null"]
            return example(options[0], doc, world, name, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {prop: _value_for(prop, sub, doc, world, depth) for prop, sub in schema.get("properties", {}).items()
                if prop in schema.get("required", [])}  # fmt: skip
    if kind == "array":
        return []
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1) or 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        if schema.get("format") == "date-time":
            return "2030-01-01T00:00:00Z"
        return name
    return None


def _value_for(prop: str, schema: dict[str, Any], doc: dict[str, Any], world: World, depth: int) -> Any:
    if prop.endswith("_id"):
        resource = {"flow_id": "flows", "deployment_id": "deployments", "flow_run_id": "flow_runs"}.get(prop)
        if resource in world.ids:
            return world.ids[resource]
    if prop == "schedule":
        return {"interval": 3600}
    return example(schema, doc, world, "fuzz", depth + 1)


@dataclass(frozen=True)
class Request:
    route: Route
    path: str
    body: bytes | None
    content_type: str | None
    label: str


def hostile_requests(all_routes: list[Route], world: World, doc: dict[str, Any], *, fields: int | None,
                     per_route: int | None = None, seed: int = 16) -> list[Request]:  # fmt: skip
    """Whole-body attacks on every route that takes a body (``per_route`` of them, rotating through
    the list so each is sent to several routes; all when None), big bodies on the create routes,
    OPTIONS on every path, and Prefect-schema bodies with one field hostile (``fields`` of them,
    sampled with a seed; all when None)."""
    rng = random.Random(seed)
    whole: list[Request] = []
    fielded: list[Request] = []
    bodies = list(HOSTILE_BODIES.items())
    turn = 0
    big_sent = False
    for route in all_routes:
        path = route.prefect_path if route.prefect_path and "{" not in route.prefect_path else route.path
        path = world.fill(path)
        if not route.takes_body:
            whole.append(Request(route, path, None, None, "no-body"))
            continue
        base = None
        schema = _request_schema(doc, route)
        if schema is not None:
            base = example(schema, doc, world)
            whole.append(Request(route, path, json.dumps(base).encode(), "application/json", "example"))
        chosen = bodies if per_route is None else [bodies[(turn + i) % len(bodies)] for i in range(per_route)]
        turn += per_route or 0
        for label, (body, content_type) in chosen:
            whole.append(Request(route, path, body, content_type, label))
        creates = route.path.count("/") == 1 and route.method == "POST"
        if creates and (per_route is None or turn % 3 == 0 or not big_sent):
            # every third create route, and always the first (the rotation shifts as routes are added)
            whole.extend(Request(route, path, body, "application/json", label) for label, body in BIG_BODIES.items())
            big_sent = True
        if schema is None or "properties" not in schema or not isinstance(base, dict):
            continue
        for prop in schema["properties"]:
            for label, fragment in HOSTILE_VALUES.items():
                text = json.dumps({**base, prop: FUZZ}).replace(json.dumps(FUZZ), fragment)
                fielded.append(Request(route, path, text.encode(), "application/json", f"{prop}={label}"))
    for template in sorted({route.path for route in all_routes}):
        # CORS preflight and plain OPTIONS (``OPTIONS /flows/`` once broke the connection).
        spellings = [template, f"{template}/"] if template.count("/") == 1 else [template]
        whole.extend(Request(Route("OPTIONS", template, None), world.fill(p), None, None, "options") for p in spellings)
    rng.shuffle(fielded)
    chosen = fielded if fields is None else fielded[:fields]
    return sorted(whole + chosen, key=lambda r: (r.route.method == "DELETE", r.route.path, r.route.method))


# ---------------------------------------------------------------------------------- fuzz
@dataclass
class Report:
    store: str = ""
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    edge_accepted: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: What Prefect's client read back afterwards (tests/e2e/read_back_driver.py).
    read_back: dict[str, Any] = field(default_factory=dict)
    #: The distinct (method, route template) pairs the requests went to.
    routes: set[tuple[str, str]] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "hostile_requests": self.sent,
            "routes": len(self.routes),
            "5xx": len(self.server_errors),
            "edge_attacks_accepted": len(self.edge_accepted),
            "statuses": dict(sorted(self.statuses.items())),
            "left_behind": len(self.left_behind),
            "broken_connections": len(self.broken),
            "read_back_objects": self.read_back.get("objects"),
            "read_back_refused": len(self.read_back.get("refused", {})),
            "seconds": round(self.seconds, 1),
        }


class Fingerprint:
    """What a refused write must not change: the item count of every Cirrus table (read from
    DynamoDB directly: cheap, and it sees writes the API would hide), and the object its path names."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.client = boto3.client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        )  # fmt: skip

    #: Items the stack writes in the background, whatever the requests: the automations' trigger
    #: state (buckets, firings, claims: the front evaluates every new event) and the events those
    #: firings emit. Counted without them, so a refused write is judged by what it could have left.
    FOREGROUND = {
        "automations": ("pk IN (:a, :v) OR begins_with(pk, :r)", {":a": "a", ":v": "v", ":r": "r#"}),
        "events": ("begins_with(pk, :t) AND NOT begins_with(e, :auto)", {":t": "t#", ":auto": "prefect.automation."}),
    }

    #: Tables derived from others' streams (the run counts and the stream checkpoints): a reader
    #: applies what earlier accepted writes left in the streams whenever it runs, so their items
    #: change between any two requests; the runs tables they derive from are counted.
    DERIVED = {"run_counts"}

    def tables(self) -> tuple[tuple[str, int], ...]:
        names = [
            t for t in self.client.list_tables()["TableNames"]
            if t.startswith("cirrus-") and t.split("-", 2)[-1] not in self.DERIVED
        ]  # fmt: skip
        return tuple((name, self._count(name)) for name in sorted(names))

    def _count(self, table: str) -> int:
        total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
        foreground = self.FOREGROUND.get(table.split("-", 2)[-1])
        if foreground is not None:
            condition, values = foreground
            kwargs["FilterExpression"] = condition
            kwargs["ExpressionAttributeValues"] = {name: {"S": value} for name, value in values.items()}
        while True:
            page = self.client.scan(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def of(self, client: Http, request: Request) -> Any:
        target = None
        if "{id}" in request.route.path:
            resource = request.route.path.strip("/").split("/")[0]
            target = client.json("GET", f"/{resource}/{request.path.split('/')[2]}")
        return self.tables(), target


def fuzz(stack: Stack, doc: dict[str, Any], *, fields: int | None, per_route: int | None = None) -> Report:
    """Send the hostile requests; a write answered 4xx must leave the fingerprint as it was."""
    started = time.monotonic()
    client = Http(stack.url)
    fingerprint = Fingerprint(stack.dynamodb_endpoint)
    all_routes = routes(doc)
    world = build_world(client, all_routes, doc)
    report = Report(store=stack.store)
    known: Any = None  # the fingerprint before the next write, when still valid
    for request in hostile_requests(all_routes, world, doc, fields=fields, per_route=per_route):
        writes = request.route.method not in ("GET", "HEAD", "OPTIONS")
        if writes and (known is None or known[1] is not None or "{id}" in request.route.path):
            known = fingerprint.of(client, request)
        status, _, data = client.send(request.route.method, request.path, request.body, request.content_type)
        report.sent += 1
        report.routes.add((request.route.method, request.route.path))
        report.statuses[status] += 1
        where = f"{request.route.method} {request.path} [{request.label}] -> {status}"
        if status >= 500 or status == 0:
            report.server_errors.append(f"{where}: {data[:300]!r}")
        if request.label in EDGE_REFUSED and request.body is not None and not 400 <= status < 500:
            report.edge_accepted.append(where)
        if writes and 400 <= status < 500:
            after = fingerprint.of(client, request)
            if after != known:
                counts, before = dict(after[0]), dict(known[0])
                changed = sorted(t for t in counts.keys() | before.keys() if counts.get(t) != before.get(t))
                report.left_behind.append(f"{where}: changed {changed or 'the object its path names'}")
            known = after
        elif writes:
            known = None
        if 200 <= status < 300 and request.route.method != "HEAD" and data and request.route.prefect_path:
            _keep(report, request.route, status, data)
    _read_back(client, all_routes, world, report)
    report.broken = client.broken
    report.seconds = time.monotonic() - started
    return report


def _keep(report: Report, route: Route, status: int, data: bytes) -> None:
    try:
        body = json.loads(data)
    except ValueError:
        return
    report.samples.append({"method": route.method, "path": route.prefect_path, "status": status, "body": body})


def _read_back(client: Http, all_routes: list[Route], world: World, report: Report) -> None:
    """Every GET route and every filter, after the fuzz: what was stored is what Prefect must parse."""
    for route in all_routes:
        if route.prefect_path is None or route.method not in ("GET", "POST"):
            continue
        if route.method == "POST" and not route.path.endswith(("/filter", "/paginate")):
            continue
        path = world.fill(route.prefect_path if "{" not in route.prefect_path else route.path)
        status, _, data = client.send(route.method, path, b"{}" if route.method == "POST" else None)
        if 200 <= status < 300:
            _keep(report, route, status, data)
