"""Strict JSON reading, shared by the server and the client.

A signature over JSON with duplicate keys is ambiguous (parsers disagree on which
value wins), and NaN or Infinity are not JSON and have no RFC 8785 form: both are
refused wherever the exchange reads STIX.
"""

from __future__ import annotations

import json
import re
from typing import Any


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)

MAX_DEPTH = 1000
"""Arrays and objects nested deeper than this in one document are refused before parsing
(Python's parser would recurse until RecursionError)."""

# A JSON string (escapes included) or a run of anything that is neither a string nor a bracket.
_NOT_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^"\[\]{}]+|"')
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings aside), without
    parsing it and without recursion."""
    depth = deepest = 0
    for char in _NOT_BRACKET.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def value_extent(text: str, start: int) -> tuple[int, int] | None:
    """For the array or object that begins at ``text[start]``: (its end, how deep it nests),
    found without parsing it; None when it does not close."""
    depth = deepest = 0
    for match in _TOKEN.finditer(text, start):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
            if depth == 0:
                return match.end(), deepest
    return None


def raw_decode(text: str, start: int = 0) -> tuple[Any, int]:
    """``DECODER.raw_decode``, raising ValueError (never RecursionError) for deep nesting."""
    try:
        return DECODER.raw_decode(text, start)
    except RecursionError as exc:
        raise ValueError("arrays and objects nest too deeply") from exc


def loads(text: str) -> Any:
    """Strict JSON of a whole document, nested at most MAX_DEPTH deep."""
    if nesting_depth(text) > MAX_DEPTH:
        raise ValueError(f"arrays and objects nest more than {MAX_DEPTH} deep")
    try:
        return DECODER.decode(text)
    except RecursionError as exc:
        raise ValueError("arrays and objects nest too deeply") from exc
