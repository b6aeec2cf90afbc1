"""Recognising DynamoDB condition failures by their response code (never by message text)."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException, TransactWriteError

CONDITION_FAILED = "ConditionalCheckFailedException"
#: The code of a failed condition inside a cancelled transaction (AWS and moto both use this form).
REASON_CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CANCELLED = "TransactionCanceledException"


def is_condition_failure(exc: PynamoDBException) -> bool:
    """A single-item write whose condition did not hold."""
    return getattr(exc, "cause_response_code", None) == CONDITION_FAILED


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    """One code per transaction item (``None`` where that item did not fail); ``[]`` when the
    transaction was not cancelled (throttled, timed out, invalid)."""
    if getattr(exc, "cause_response_code", None) != TRANSACTION_CANCELLED:
        return []
    codes = [getattr(reason, "code", None) if reason else None for reason in exc.cancellation_reasons or []]
    # DynamoDB lists items that were fine with the code "None".
    return [None if code in (None, "None") else code for code in codes]


def is_cancelled_by_condition(exc: TransactWriteError) -> bool:
    """A transaction cancelled only because conditions failed (not throttling or a conflict)."""
    codes = [c for c in cancellation_codes(exc) if c]
    return bool(codes) and all(c == REASON_CONDITION_FAILED for c in codes)
