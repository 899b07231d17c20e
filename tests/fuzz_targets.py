"""Fuzz targets, shared by the property tests (tests/unit/test_fuzz_targets.py: short, bounded)
and the long harness (bench/fuzz.py: atheris, or hypothesis for a long time).

Each target takes bytes and may raise only the errors its code documents (``ExchangeError``
for the exchange's parsers; ``ValueError`` for strict JSON, whose callers turn it into one);
anything else is a failure, which over HTTP would be a 500. ``hostile_document`` turns any
bytes into one of the hostile shapes the issue lists, so that random bytes from either engine
reach deep nesting, huge strings and arrays, duplicate keys, lone surrogates, non-NFC text and
the number edge cases of RFC 8785, and not only invalid UTF-8.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from typing import Any

from exchange.crypto import (
    SIGNATURE_EXTENSION_ID,
    SigningKey,
    canonical_json,
    sign_object,
    verify_object_signature,
)
from exchange.errors import ExchangeError, SignatureError
from exchange.strictjson import loads as strict_loads
from exchange.taxii.cursor import Cursors
from exchange.taxii.envelope import split_envelope
from exchange.taxii.filters import KNOWN, parse_filter, parse_limit

# --- bytes → a hostile document ----------------------------------------------------------------


class Reader:
    """Takes choices from the front of a byte string (zeros once it runs out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value

    def number(self, below: int) -> int:
        value = self.byte() << 16 | self.byte() << 8 | self.byte()
        return value % below if below > 0 else 0

    def pick(self, options: list[Any] | tuple[Any, ...] | str) -> Any:
        return options[self.byte() % len(options)]

    def rest(self) -> bytes:
        return self.data[self.at :]


NUMBERS = [
    "0",
    "-0",
    "0.0",
    "-0.0",
    "1e308",
    "1.7976931348623157e308",
    "1e309",  # past float: Python reads inf
    "-1e400",
    "5e-324",
    "1e-400",  # underflows to 0
    "1e21",
    "1e-7",
    "123456789012345678901234567890",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "0.1",
    "1E+2",
    "1.0000000000000002",
    "4.35",
    "333333333.33333329",
]
NON_NFC = ["e\u0301", "\u212b", "\u1e9b\u0323", "\u1100\u1161\u11a8", "A\u030a", "\ufb01"]
LONE = ["\\ud800", "\\udfff", "\\udbff\\u0041", "\\u0041\\udc00"]
STIX_ID = "indicator--0f4b5a1e-3c1d-4a6e-9a43-0f8f2c5d9e10"


def _indicator(props: str) -> str:
    return (
        '{"type": "indicator", "spec_version": "2.1", "id": "' + STIX_ID + '", '
        '"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", '
        '"pattern": "[ipv4-addr:value = \'203.0.113.1\']", "pattern_type": "stix", '
        '"valid_from": "2026-01-01T00:00:00Z"' + props + "}"
    )


def _nested(reader: Reader) -> str:
    depth = reader.number(12_000)
    if reader.byte() % 2:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def hostile_document(data: bytes, max_size: int = 300_000) -> bytes:
    """One hostile JSON body (or not JSON at all), chosen and shaped by ``data``."""
    reader = Reader(data)
    shape = reader.byte() % 10
    where = reader.byte() % 3  # at the top, inside "objects", inside an object
    if shape == 0:
        return reader.rest()
    if shape == 1:
        inner = _nested(reader)
    elif shape == 2:
        char = reader.pick(["a", "\u00e9", "\\u0000", '\\"', "\u202e", "\U0001f600", "\\\\"])
        inner = '"' + char * reader.number(max_size // 4) + '"'
    elif shape == 3:
        item = reader.pick(["1", "null", '"x"', "{}", "[]", "1e308"])
        inner = "[" + ",".join([item] * reader.number(max_size // 6)) + "]"
    elif shape == 4:
        key = reader.pick(["type", "id", "objects", "extensions", "a"])
        inner = "{" + f'"{key}": 1, "{key}": 2' + "}"
    elif shape == 5:
        inner = '"' + reader.pick(LONE) + '"'
    elif shape == 6:
        text = reader.pick(NON_NFC)
        inner = json.dumps({text: text, "name": text}, ensure_ascii=reader.byte() % 2 == 0)
    elif shape == 7:
        inner = "[" + ",".join(reader.pick(NUMBERS) for _ in range(1 + reader.byte() % 8)) + "]"
    elif shape == 8:
        inner = reader.rest().decode("utf-8", "replace")
    else:
        inner = reader.rest().decode("latin-1")
    if where == 0:
        document = inner
    elif where == 1:
        document = '{"objects": [' + inner + "]}"
    else:
        document = '{"objects": [' + _indicator(', "x_value": ' + inner) + "]}"
    raw = document.encode("utf-8", "surrogatepass")
    return raw[: max_size * 2]


# --- the targets ----------------------------------------------------------------------------


def target_envelope(data: bytes) -> None:
    """The envelope parser: objects with their exact text, or an ExchangeError."""
    try:
        found = split_envelope(hostile_document(data))
    except ExchangeError:
        return
    for raw in found:
        assert raw.problem is not None or raw.value is not None or raw.text == "null"


def target_strictjson(data: bytes) -> None:
    """Strict JSON: a value, or ValueError (never RecursionError or anything else)."""
    try:
        text = hostile_document(data).decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        strict_loads(text)
    except ValueError:
        return


def _finite(value: Any) -> bool:
    """No inf anywhere in ``value`` (walked without recursion: it may nest 1000 deep)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def target_jcs(data: bytes) -> None:
    """RFC 8785: canonical bytes or SignatureError; canonical bytes are strict JSON, read back
    equal, and canonicalise to themselves."""
    try:
        value = strict_loads(hostile_document(data, 20_000).decode("utf-8"))
    except ValueError:
        return
    try:
        canonical = canonical_json(value)
    except SignatureError:
        return
    again = strict_loads(canonical.decode("utf-8"))
    assert canonical_json(again) == canonical
    if _finite(value):
        assert again == value


_KEY = SigningKey.from_seed(bytes(range(32)))
_OTHER = SigningKey.from_seed(bytes(range(1, 33)))


def target_signature(data: bytes) -> None:
    """Signature checks: a SignatureError for anything but the signer's own bytes, and a
    signature that verifies for what was signed."""
    reader = Reader(data)
    try:
        value = strict_loads(hostile_document(reader.rest(), 20_000).decode("utf-8"))
    except ValueError:
        return
    objects = value.get("objects") if isinstance(value, dict) else None
    obj = objects[0] if isinstance(objects, list) and objects else value
    if not isinstance(obj, dict):
        return
    with contextlib.suppress(SignatureError):
        verify_object_signature(obj, _KEY.public)
    try:
        signed = sign_object(obj, _KEY)
    except SignatureError:
        return  # not canonicalisable: nothing to sign
    verify_object_signature(signed, _KEY.public)
    for tamper in (_tamper_signature, _tamper_body):
        forged = tamper(signed, reader)
        try:
            verify_object_signature(forged, _KEY.public)
        except SignatureError:
            continue
        raise AssertionError(f"a tampered object verified ({tamper.__name__})")
    try:
        verify_object_signature(signed, _OTHER.public)
    except SignatureError:
        return
    raise AssertionError("another key verified the signature")


def _tamper_signature(signed: dict[str, Any], reader: Reader) -> dict[str, Any]:
    forged = json.loads(json.dumps(signed))
    block = forged["extensions"][SIGNATURE_EXTENSION_ID]
    text = block["signature"]
    i = reader.number(len(text))
    block["signature"] = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
    return forged


def _tamper_body(signed: dict[str, Any], reader: Reader) -> dict[str, Any]:
    forged = json.loads(json.dumps(signed))
    forged["x_tampered_" + str(reader.byte())] = reader.pick(NON_NFC)
    return forged


def _query(data: bytes) -> dict[str, list[str]]:
    """Query parameters from bytes: known names (and some others), hostile values."""
    reader = Reader(data)
    names = [*sorted(KNOWN), "match[x]", "match[", "limit ", "x"]
    params: dict[str, list[str]] = {}
    for _ in range(1 + reader.byte() % 5):
        name = reader.pick(names)
        length = reader.byte() % 40
        chunk = reader.data[reader.at : reader.at + length]
        reader.at += length
        value = chunk.decode("utf-8", "replace")
        if reader.byte() % 4 == 0:
            value = (
                reader.pick(
                    [
                        "\uff11",
                        "\u0663",
                        "2026-01-01T00:00:00Z",
                        "2026-13-01T00:00:00Z",
                        "all",
                        ",,",
                        STIX_ID,
                    ]
                )
                + value
            )
        params.setdefault(name, []).append(value)
    return params


def target_filters(data: bytes) -> None:
    """TAXII filters and limit: an ObjectFilter and a limit, or InvalidInput."""
    params = _query(data)
    allow = set(KNOWN)
    with contextlib.suppress(ExchangeError):
        parse_filter(params, allow=allow, default_versions=("last",))
    try:
        limit = parse_limit(params, 100, 1000)
    except ExchangeError:
        return
    assert 1 <= limit <= 1000


_CURSORS = Cursors(bytes(32))


def target_cursors(data: bytes) -> None:
    """``next`` cursors and event ids (``Last-Event-ID``): decoded, or InvalidInput; what was
    encoded decodes to itself, and only in its own scope."""
    reader = Reader(data)
    text = reader.rest().decode("utf-8", "replace")
    for decode in (_CURSORS.decode, _CURSORS.decode_event):
        with contextlib.suppress(ExchangeError):
            decode("scope", text)
    seq = reader.number(1 << 24)
    event = _CURSORS.encode_event("scope", seq)
    assert _CURSORS.decode_event("scope", event) == seq
    try:
        _CURSORS.decode_event("other scope", event)
    except ExchangeError:
        pass
    else:
        raise AssertionError("an event id decoded in another scope")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": target_envelope,
    "strictjson": target_strictjson,
    "jcs": target_jcs,
    "signature": target_signature,
    "filters": target_filters,
    "cursors": target_cursors,
}
