"""``/logs`` routes: ``POST /logs/`` (a batch, stored whole or refused whole) and ``POST /logs/filter``."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import now, parse_body, repositories, route

bp = Blueprint(__name__)


#: Prefect's client sends batches of up to 4,000,000 bytes (PREFECT_LOGGING_TO_API_BATCH_SIZE);
#: Lambda takes 6 MB requests.
LOG_BATCH_MAX_BYTES = 5_000_000


@route(bp, "/logs", methods=("POST",), status=201, max_body_bytes=LOG_BATCH_MAX_BYTES)
def create_logs() -> None:
    batch = parse_body(bp, schemas.logs.LogBatch, default=[])
    services.logs.create_logs(repositories(), batch.root, now())


@route(bp, "/logs/filter", methods=("POST",))
def filter_logs() -> object:
    return services.logs.filter_logs(repositories(), parse_body(bp, schemas.logs.LogFilterBody))
