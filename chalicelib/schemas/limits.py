"""Every limit a request is held to, in one place (README, "Request limits"); plain numbers, so the
edge (``chalicelib.api.request_policy``) reads them without importing pydantic (cold start).

They follow from DynamoDB's limits (an item is at most 400 KB; a partition key at most 2,048
bytes and a sort key 1,024, in the table and in every index; key values are non-empty; documents
nest at most 32 levels) and from Prefect's schemas. The field types that apply them are in
:mod:`chalicelib.schemas.common`.
"""

from __future__ import annotations

#: A request body above this many bytes is a 413 (API Gateway's own limit is 10 MB).
MAX_BODY_BYTES = 1_048_576
#: Arrays and objects nest at most this deep in a body (DynamoDB documents nest at most 32 levels).
MAX_JSON_DEPTH = 32
#: Integers are signed 64-bit (what Prefect's database and its client's JSON parser hold).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
#: Names and every value that becomes (part of) a DynamoDB key or an id's input: UTF-8 bytes.
#: Well under the sort-key limit (1,024) so that prefixes such as ``STATE#time`` or a slug claim's
#: ``deployment id#`` still fit.
MAX_KEY_BYTES = 512
#: Free text (descriptions, versions, paths, entrypoints, run names): UTF-8 bytes.
MAX_TEXT_BYTES = 16_384
#: A state message longer than this is cut to it (Prefect's engine sends exception texts here; a
#: refusal would strand the run, and each message is kept in the run's history).
MAX_STATE_MESSAGE_CHARS = 4_000
#: A JSON document field (parameters, job variables, context, labels, pull steps, schemas, state
#: data) serialised: a run copies its deployment's and its schedule's, and must stay under 400 KB.
MAX_DOCUMENT_BYTES = 65_536
#: Ids named in one request where each costs a query (``get_scheduled_flow_runs``).
MAX_IDS_PER_REQUEST = 500
#: Prefect's name pattern (``prefect.types.names``): no ``/ % & > <``.
NAME_PATTERN = r"^[^/%&><]+$"
