"""What every request body must be, whatever the route: the edge policy applied by ``route()``.

In order, before any view code or storage call:

1. a body above ``MAX_BODY_BYTES`` is a 413;
2. a non-empty body must be sent as JSON (``Content-Type: application/json`` or ``…+json``);
   anything else is a 422, as Prefect answers;
3. arrays and objects nest at most ``MAX_JSON_DEPTH`` deep (checked on the raw text, before
   parsing, so a body nested 100,000 deep costs one pass and no recursion);
4. it is strict JSON: no ``NaN``/``Infinity``, no number that overflows to infinity (``1e400``),
   no integer outside signed 64 bits, no string or key that cannot be encoded as UTF-8 (a lone
   surrogate such as ``"\\ud800"``).

Each refusal names the field where it can (``["body", "parameters", "x"]``). The limits live in
:mod:`chalicelib.schemas.limits`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.schemas.limits import MAX_BODY_BYTES, MAX_INT, MAX_JSON_DEPTH, MIN_INT


class BodyTooLarge(Exception):
    """A body above the size limit (answered 413)."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"Request body is {size} bytes; the limit is {limit} bytes.")


class BodyRefused(Exception):
    """A body the policy refuses (answered 422); ``loc`` names the field, ``body`` is what to echo."""

    def __init__(self, loc: list[str | int], message: str, kind: str, body: Any) -> None:
        self.loc = loc
        self.message = message
        self.kind = kind
        self.body = body
        super().__init__(message)


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_OPENING = frozenset(b"[{")


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (strings ignored; malformed text is
    left to the parser)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        if match.group()[0] in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class _NotFinite(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotFinite(f"{text} is out of range for a number")
    return value


def _bad_value(value: Any, loc: list[str | int]) -> tuple[list[str | int], str, str] | None:
    """The first value in ``value`` that the policy refuses: (loc, message, type), or None."""
    stack: list[tuple[Any, list[str | int]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        if isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                return where, "Integer must fit in 64 bits", "int_too_large"
        elif isinstance(item, str):
            if not _encodable(item):
                return where, "String must be valid Unicode (no lone surrogates)", "string_unicode"
        elif isinstance(item, list):
            stack.extend((child, [*where, i]) for i, child in enumerate(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _encodable(key):
                    return where, "Object keys must be valid Unicode (no lone surrogates)", "string_unicode"
                stack.append((child, [*where, key]))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse(raw: bytes | None, content_type: str | None, *, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The JSON body of a request under the policy (``None`` when empty). Raises
    :class:`BodyTooLarge` or :class:`BodyRefused`."""
    if not raw:
        return None
    if len(raw) > max_bytes:
        raise BodyTooLarge(len(raw), max_bytes)
    echo = raw.decode("utf-8", "replace")
    if not _is_json(content_type):
        message = f"Content-Type must be application/json, not {content_type or 'missing'}"
        raise BodyRefused(["body"], message, "content_type", echo)
    if _depth(raw) > MAX_JSON_DEPTH:
        raise BodyRefused(["body"], f"JSON nests deeper than {MAX_JSON_DEPTH} levels", "json_too_deep", None)
    try:
        body = json.loads(raw, parse_constant=_constant, parse_float=_float)
    except _NotFinite as exc:
        raise BodyRefused(["body"], str(exc), "json_invalid", echo) from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BodyRefused(["body"], f"JSON decode error: {exc}", "json_invalid", echo) from exc
    bad = _bad_value(body, ["body"])
    if bad is not None:
        where, message, kind = bad
        raise BodyRefused(where, message, kind, None)
    return body
