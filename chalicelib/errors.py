"""Domain exceptions. They carry data as attributes and speak the domain, never HTTP.

The API maps them to status codes in one table (``chalicelib.api.common``).
"""

from __future__ import annotations


class CirrusError(Exception):
    """Base of every domain error."""


class NotFoundError(CirrusError):
    """An object the caller named does not exist."""

    def __init__(self, kind: str, key: object = None) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} not found")


class FlowNotFoundError(NotFoundError):
    def __init__(self, key: object = None) -> None:
        super().__init__("Flow", key)


class DeploymentNotFoundError(NotFoundError):
    def __init__(self, key: object = None) -> None:
        super().__init__("Deployment", key)


class FlowRunNotFoundError(NotFoundError):
    def __init__(self, key: object = None) -> None:
        super().__init__("Flow run", key)


class AutomationNotFoundError(NotFoundError):
    def __init__(self, key: object = None) -> None:
        super().__init__("Automation", key)


class ScheduleNotFoundError(NotFoundError):
    def __init__(self, key: object = None) -> None:
        super().__init__("Schedule", key)

    def __str__(self) -> str:  # Prefect's wording has a full stop
        return "Schedule not found."


class ConflictError(CirrusError):
    """The request conflicts with the stored state (duplicate, missing parent, lost race)."""

    def __init__(self, message: str, **data: object) -> None:
        self.message = message
        self.data = data
        super().__init__(message)


class InvalidRequestError(CirrusError):
    """Input the schemas accepted but the domain rejects; ``loc`` names the field."""

    def __init__(self, loc: tuple[str | int, ...], message: str, kind: str = "value_error") -> None:
        self.loc = loc
        self.message = message
        self.kind = kind
        super().__init__(message)


class ConcurrentUpdateError(CirrusError):
    """An optimistic write lost to a concurrent writer; the caller may re-read and retry."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key} changed concurrently")


class WorkPoolNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__("Work pool", name)

    def __str__(self) -> str:  # Prefect's wording
        return f'Work pool "{self.key}" not found.'


class WorkQueueNotFoundError(NotFoundError):
    def __init__(self, pool: str, name: str) -> None:
        super().__init__("Work queue", f"{pool}/{name}")

    def __str__(self) -> str:  # Prefect's wording
        return f"Work pool queue '{self.key}' not found."


class WorkerNotFoundError(NotFoundError):
    def __init__(self, key: object = None) -> None:
        super().__init__("Worker", key)

    def __str__(self) -> str:  # Prefect's wording
        return "Worker not found."


class ForbiddenError(CirrusError):
    """A request Prefect refuses with 403 (e.g. writing a reserved ``prefect…`` work pool)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class StorageUnavailableError(CirrusError):
    """The store failed a request that may succeed later: throttled after the client's retries,
    timed out, a server error, a transaction that failed without an answer. Nothing was stored
    unless the operation says otherwise; the caller may retry (the API answers 503 Retry-After)."""

    retry_after_s = 1

    def __init__(self, operation: str, key: object = None, code: str | None = None) -> None:
        self.operation = operation
        self.key = key
        self.code = code
        super().__init__(f"{operation} failed" + (f" for {key}" if key is not None else "") + f" ({code})")


class StorageLimitError(CirrusError):
    """The store refused an object it can never hold (DynamoDB's ``ValidationException``: an item
    above 400 KB, a key above its size limit, an empty key value). The API answers 422."""

    def __init__(self, operation: str, reason: str | None = None) -> None:
        self.operation = operation
        self.reason = reason
        super().__init__(
            "The request cannot be stored: it exceeds a storage limit (an object above 400 KB or a key "
            "value too long or empty)" + (f": {reason}" if reason else "")
        )


class SlotsUnavailableError(CirrusError):
    """Concurrency slots are taken: try again after ``retry_after_s`` (the API answers 423); ``None``:
    never (a limit of 0: the client gives up)."""

    def __init__(self, names: list[str], retry_after_s: float | None, message: str | None = None) -> None:
        self.names = names
        self.retry_after_s = retry_after_s
        super().__init__(message or f"Concurrency slots of {', '.join(names)} are taken")


class OverlapTokenTakenError(CirrusError):
    """Another run of the schedule holds the overlap token a write needed (``token``: "active" or
    "waiting"); set_state answers with the schedule's overlap policy instead (never HTTP)."""

    def __init__(self, schedule_id: str, token: str) -> None:
        self.schedule_id = schedule_id
        self.token = token
        super().__init__(f"The {token} token of schedule {schedule_id} is taken")


class GoneError(CirrusError):
    """An object that existed only for a while (a lease) has expired or was released (410)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
