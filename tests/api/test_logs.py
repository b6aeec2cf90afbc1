import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.storage.instrumentation import count_requests
from tests.helpers import call

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _record(run_id, i, *, level=20, task_run_id=None, message=None, at=None):
    return {
        "name": "prefect.flow_runs",
        "level": level,
        "message": message if message is not None else f"line {i}",
        "timestamp": (at or T0 + timedelta(milliseconds=i)).isoformat(),
        "flow_run_id": str(run_id),
        "task_run_id": str(task_run_id) if task_run_id else None,
    }


def _read(client, body):
    status, logs = call(client, "POST", "/logs/filter", body)
    assert status == 200, logs
    return logs


def test_a_batch_of_200_costs_8_write_requests_and_reads_back_in_order(client):
    run = uuid.uuid4()
    batch = [_record(run, i) for i in reversed(range(200))]
    with count_requests() as counter:
        assert call(client, "POST", "/logs/", batch) == (201, None)
    assert counter.by_operation == {"BatchWriteItem": 8}
    with count_requests() as counter:
        logs = _read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}, "limit": 200, "offset": 0})
    assert [entry["message"] for entry in logs] == [f"line {i}" for i in range(200)]
    assert counter.by_operation == {"Query": 1}
    assert logs[0]["flow_run_id"] == str(run) and logs[0]["level"] == 20 and logs[0]["timestamp"].endswith("Z")


def test_paging_sort_level_and_time_window(client):
    run = uuid.uuid4()
    call(client, "POST", "/logs/", [_record(run, i, level=40 if i % 3 == 0 else 20) for i in range(30)])
    flt = {"flow_run_id": {"any_": [str(run)]}}
    page = lambda **kw: [e["message"] for e in _read(client, {"logs": flt, **kw})]  # noqa: E731
    assert page(limit=5, offset=10) == [f"line {i}" for i in range(10, 15)]
    assert page(limit=3, sort="TIMESTAMP_DESC") == ["line 29", "line 28", "line 27"]
    errors = [e["message"] for e in _read(client, {"logs": {**flt, "level": {"ge_": 40}}})]
    assert errors == [f"line {i}" for i in range(0, 30, 3)]
    assert len(_read(client, {"logs": {**flt, "level": {"le_": 20}}})) == 20
    ms = lambda n: (T0 + timedelta(milliseconds=n)).isoformat()  # noqa: E731
    window = {"after_": ms(5), "before_": ms(7)}
    in_window = [e["message"] for e in _read(client, {"logs": {**flt, "timestamp": window}})]
    assert in_window == ["line 5", "line 6", "line 7"]
    assert _read(client, {"logs": flt, "limit": 0}) == []
    assert call(client, "POST", "/logs/filter", {"logs": flt, "sort": "LEVEL"})[0] == 422


def test_task_run_filters_and_several_flow_runs_merge_in_order(client):
    a, b, task = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    call(client, "POST", "/logs/", [_record(a, i, task_run_id=task if i % 2 else None) for i in range(0, 10, 1)])
    call(client, "POST", "/logs/", [_record(b, i, message=f"b {i}") for i in range(10)])
    both = _read(client, {"logs": {"flow_run_id": {"any_": [str(a), str(b)]}}, "limit": 6})
    stamps = [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in both]
    assert stamps == sorted(stamps) and len(both) == 6
    assert len(_read(client, {"logs": {"flow_run_id": {"any_": [str(a), str(b)]}}})) == 20
    by_task = _read(client, {"logs": {"task_run_id": {"any_": [str(task)]}}})
    assert [e["message"] for e in by_task] == [f"line {i}" for i in range(1, 10, 2)]
    flow_only = _read(client, {"logs": {"flow_run_id": {"any_": [str(a)]}, "task_run_id": {"is_null_": True}}})
    assert len(flow_only) == 5
    texts = _read(client, {"logs": {"flow_run_id": {"any_": [str(b)]}, "text": {"query": "b -7"}}})
    assert len(texts) == 9


def test_reading_needs_a_run_never_a_scan(client):
    status, body = call(client, "POST", "/logs/filter", {"logs": {"level": {"ge_": 10}}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "logs", "flow_run_id"]
    assert call(client, "POST", "/logs/filter", {})[0] == 422


def test_a_bad_record_refuses_the_whole_batch(client):
    run = uuid.uuid4()
    batch = [_record(run, i) for i in range(50)]
    batch[37]["level"] = "loud"
    status, body = call(client, "POST", "/logs/", batch)
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", 37, "level"]
    assert _read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}}) == []
    assert call(client, "POST", "/logs/", {"name": "x"})[0] == 422


def test_a_1mb_batch_is_stored_whole_and_resending_it_stores_nothing_twice(client):
    run = uuid.uuid4()
    batch = [_record(run, i, message=f"{i}:" + "x" * 5000) for i in range(210)]  # ~1.06 MB
    assert call(client, "POST", "/logs/", batch) == (201, None)
    assert call(client, "POST", "/logs/", batch) == (201, None)
    assert len(_read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}})) == 200
    assert len(_read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}, "offset": 200})) == 10


def test_a_huge_message_is_stored_truncated(client):
    run = uuid.uuid4()
    assert call(client, "POST", "/logs/", [_record(run, 0, message="é" * 300_000)])[0] == 201
    (entry,) = _read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}})
    assert len(entry["message"].encode()) <= 256 * 1024 and entry["message"].endswith("exceeded 256 KB]")


def test_identical_lines_in_one_batch_are_all_kept(client):
    run = uuid.uuid4()
    same = _record(run, 0)
    assert call(client, "POST", "/logs/", [same, same, same])[0] == 201
    assert len(_read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}})) == 3


def test_a_batch_above_5mb_is_a_413_and_stores_nothing(client):
    run = uuid.uuid4()
    batch = [_record(run, i, message="x" * 100_000) for i in range(51)]
    status, body = call(client, "POST", "/logs/", batch)
    assert status == 413
    assert _read(client, {"logs": {"flow_run_id": {"any_": [str(run)]}}}) == []
