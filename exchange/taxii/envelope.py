"""Split a TAXII envelope (or STIX bundle) into objects, keeping each object's exact text.

The exchange stores and serves objects byte-for-byte as they came: the stored
text of an object is the slice of the request body that held it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from exchange.errors import InvalidInput, Unprocessable
from exchange.strictjson import DECODER

_WS = " \t\n\r"


@dataclass(frozen=True)
class RawObject:
    text: str
    value: Any


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _decode(text: str, i: int) -> tuple[Any, int]:
    try:
        return DECODER.raw_decode(text, i)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc


def split_envelope(body: bytes) -> list[RawObject]:
    """The ``objects`` of an envelope ``{"objects": [...]}`` each with its exact text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the body is not UTF-8") from exc
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "{":
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
        raise Unprocessable("the body must be a TAXII envelope: a JSON object with 'objects'")
    i = _skip_ws(text, i + 1)
    found: list[RawObject] | None = None
    seen: set[str] = set()
    closed = i < len(text) and text[i] == "}"
    if closed:
        i += 1
    while not closed:
        i = _skip_ws(text, i)
        key, i = _decode(text, i)
        if not isinstance(key, str):
            raise InvalidInput("the body is not valid JSON: object keys must be strings")
        if key in seen:
            raise InvalidInput(f"the envelope repeats the key {key!r}")
        seen.add(key)
        i = _skip_ws(text, i)
        if i >= len(text) or text[i] != ":":
            raise InvalidInput("the body is not valid JSON: expected ':'")
        i = _skip_ws(text, i + 1)
        if key == "objects":
            found, i = _split_array(text, i)
        else:
            _, i = _decode(text, i)
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "}":
            i += 1
            closed = True
            continue
        raise InvalidInput("the body is not valid JSON: expected ',' or '}'")
    if _skip_ws(text, i) != len(text):
        raise InvalidInput("the body is not valid JSON: trailing data after the envelope")
    if found is None:
        raise InvalidInput("the envelope has no 'objects' list")
    return found


def split_array(text: str) -> list[RawObject]:
    """The items of a JSON array document, each with its exact text."""
    found, i = _split_array(text, _skip_ws(text, 0))
    if _skip_ws(text, i) != len(text):
        raise InvalidInput("trailing data after the JSON array")
    return found


def _split_array(text: str, i: int) -> tuple[list[RawObject], int]:
    if i >= len(text) or text[i] != "[":
        raise InvalidInput("'objects' must be a list")
    i = _skip_ws(text, i + 1)
    out: list[RawObject] = []
    if i < len(text) and text[i] == "]":
        return out, i + 1
    while True:
        i = _skip_ws(text, i)
        start = i
        value, i = _decode(text, i)
        out.append(RawObject(text=text[start:i], value=value))
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "]":
            return out, i + 1
        raise InvalidInput("the body is not valid JSON: expected ',' or ']' in 'objects'")


def envelope_bytes(bodies: list[str], more: bool, next_cursor: str | None) -> bytes:
    """A TAXII envelope around stored object texts, without re-serialising them."""
    head = '{"more":' + ("true" if more else "false")
    if next_cursor:
        head += ',"next":' + json.dumps(next_cursor)
    if not bodies:
        return (head + "}").encode("utf-8")
    return (head + ',"objects":[' + ",".join(bodies) + "]}").encode("utf-8")
