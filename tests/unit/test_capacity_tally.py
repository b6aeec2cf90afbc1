"""The capacity tally behind ``count_requests(capacity=True)``: DynamoDB's ConsumedCapacity shapes."""

from __future__ import annotations

from chalicelib.storage.instrumentation import LOCAL_TRANSACTION_FACTOR, CapacityTally

PUT = {
    "TableName": "runs",
    "CapacityUnits": 3.0,
    "Table": {"CapacityUnits": 1.0},
    "GlobalSecondaryIndexes": {"by-a": {"CapacityUnits": 2.0}},
}
TRANSACTION = [
    {
        "TableName": "runs",
        "CapacityUnits": 8.0,
        "Table": {"CapacityUnits": 4.0},
        "GlobalSecondaryIndexes": {"by-a": {"CapacityUnits": 4.0}},
    },
    {"TableName": "schedules", "CapacityUnits": 4.0, "Table": {"CapacityUnits": 4.0}},
]


def test_units_per_table_and_index_split_into_reads_and_writes() -> None:
    tally = CapacityTally()
    tally.add("PutItem", PUT)
    tally.add("Query", {"TableName": "runs", "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.0},
                        "GlobalSecondaryIndexes": {"by-a": {"CapacityUnits": 0.5}}})  # fmt: skip
    tally.add("GetItem", {"TableName": "runs", "CapacityUnits": 1.0})  # TOTAL only
    assert tally.write_units() == 3.0
    assert tally.read_units() == 1.5
    assert tally.read_units("other") == 0
    assert tally.by_index() == {"read runs": 1.0, "read runs/by-a": 0.5, "write runs": 1.0, "write runs/by-a": 2.0}


def test_transactional_writes_convert_by_the_emulator_factor() -> None:
    tally = CapacityTally()
    tally.add("PutItem", PUT)
    tally.add("TransactWriteItems", TRANSACTION)
    assert tally.write_units() == 3.0 + 12.0
    assert tally.write_units(transaction_factor=LOCAL_TRANSACTION_FACTOR) == 3.0 + 6.0
    assert tally.write_units("runs", transaction_factor=LOCAL_TRANSACTION_FACTOR) == 3.0 + 4.0
    tally.reset()
    assert tally.write_units() == 0
