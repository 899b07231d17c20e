"""Split a TAXII envelope (or STIX bundle) into objects, keeping each object's exact text.

The exchange stores and serves objects byte-for-byte as they came: the stored
text of an object is the slice of the request body that held it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from exchange.errors import InvalidInput, RefusalCode, Unprocessable
from exchange.strictjson import MAX_DEPTH, nesting_depth, raw_decode, value_extent

_WS = " \t\n\r"
MAX_OBJECT_DEPTH = 100
"""An object nesting deeper is refused (``too-deep``) without being parsed: STIX needs a few
levels, and deep values would exhaust the recursion of the validator and of pickling."""


@dataclass(frozen=True)
class RawObject:
    text: str
    value: Any
    # Why the object is refused before anything looks at it (then ``value`` is None).
    problem: tuple[RefusalCode, str] | None = None


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _decode(text: str, i: int) -> tuple[Any, int]:
    try:
        return raw_decode(text, i)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc


def split_envelope(body: bytes) -> list[RawObject]:
    """The ``objects`` of an envelope ``{"objects": [...]}`` each with its exact text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the body is not UTF-8") from exc
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise InvalidInput(f"the body nests arrays and objects more than {MAX_DEPTH} deep")
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "{":
        try:
            json.loads(text)
        except (ValueError, RecursionError) as exc:
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
            # Only a body nesting deeper than MAX_OBJECT_DEPTH can hold a too-deep object.
            found, i = _split_array(text, i, measure=depth > MAX_OBJECT_DEPTH + 2)
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
    """The items of a JSON array document, each with its exact text (the exchange's own
    files: no depth limit is measured)."""
    found, i = _split_array(text, _skip_ws(text, 0), measure=False)
    if _skip_ws(text, i) != len(text):
        raise InvalidInput("trailing data after the JSON array")
    return found


def _split_array(text: str, i: int, measure: bool) -> tuple[list[RawObject], int]:
    if i >= len(text) or text[i] != "[":
        raise InvalidInput("'objects' must be a list")
    i = _skip_ws(text, i + 1)
    out: list[RawObject] = []
    if i < len(text) and text[i] == "]":
        return out, i + 1
    while True:
        i = _skip_ws(text, i)
        start = i
        extent = value_extent(text, i) if measure and text[i : i + 1] in ("{", "[") else None
        if extent is not None and extent[1] > MAX_OBJECT_DEPTH:
            i = extent[0]
            out.append(
                RawObject(
                    text=text[start:i],
                    value=None,
                    problem=(
                        RefusalCode.TOO_DEEP,
                        f"the object nests arrays and objects more than {MAX_OBJECT_DEPTH} deep",
                    ),
                )
            )
        else:
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
