"""Recognising DynamoDB failures by their response code (never by message text), and translating
the ones no repository handles into domain errors, once, at the storage boundary."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError

from chalicelib.errors import CirrusError, StorageLimitError, StorageUnavailableError

#: What a pynamodb or botocore call raises when DynamoDB (or the way to it) fails.
STORE_ERRORS: tuple[type[Exception], ...] = (PynamoDBException, BotoCoreError, ClientError)
#: DynamoDB's answer for a request it can never accept (item too large, key too long or empty).
VALIDATION = "ValidationException"

CONDITION_FAILED = "ConditionalCheckFailedException"
#: The code of a failed condition inside a cancelled transaction (AWS and moto both use this form).
REASON_CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CANCELLED = "TransactionCanceledException"


def response_code(exc: BaseException) -> str | None:
    """DynamoDB's error code for ``exc`` (a pynamodb error or its botocore cause), or None when
    there was no answer (a timeout, a connection error). Unlike pynamodb's
    ``cause_response_code``, never raises: a timeout's cause carries ``response = None``."""
    cause = exc.cause if isinstance(exc, PynamoDBException) else exc
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    return error.get("Code") if isinstance(error, dict) else None


def response_message(exc: BaseException) -> str | None:
    cause = exc.cause if isinstance(exc, PynamoDBException) else exc
    response = getattr(cause, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return error.get("Message") if isinstance(error, dict) else None


def translated(exc: BaseException, operation: str = "DynamoDB request") -> CirrusError:
    """The domain error for a store failure no repository handled: a ``ValidationException`` is a
    :class:`StorageLimitError` (never storable), anything else :class:`StorageUnavailableError`."""
    code = response_code(exc)
    if code == VALIDATION:
        error: CirrusError = StorageLimitError(operation, response_message(exc))
    else:
        error = StorageUnavailableError(operation, None, code or type(getattr(exc, "cause", None) or exc).__name__)
    error.__cause__ = exc
    return error


def is_condition_failure(exc: PynamoDBException) -> bool:
    """A single-item write whose condition did not hold."""
    return response_code(exc) == CONDITION_FAILED


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    """One code per transaction item (``None`` where that item did not fail); ``[]`` when the
    transaction was not cancelled (throttled, timed out, invalid)."""
    if response_code(exc) != TRANSACTION_CANCELLED:
        return []
    codes = [getattr(reason, "code", None) if reason else None for reason in exc.cancellation_reasons or []]
    # DynamoDB lists items that were fine with the code "None".
    return [None if code in (None, "None") else code for code in codes]


def is_cancelled_by_condition(exc: TransactWriteError) -> bool:
    """A transaction cancelled only because conditions failed (not throttling or a conflict)."""
    codes = [c for c in cancellation_codes(exc) if c]
    return bool(codes) and all(c == REASON_CONDITION_FAILED for c in codes)
