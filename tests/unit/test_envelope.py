"""Envelope splitting keeps each object's exact text and reads JSON strictly."""

from __future__ import annotations

import pytest

from exchange.errors import InvalidInput, Unprocessable
from exchange.taxii.envelope import envelope_bytes, split_envelope


def test_each_object_keeps_its_exact_text() -> None:
    body = '{ "more": false, "objects" : [ {"b": 1,  "a": "\\u00e9"} ,\n{"x":[1, 2]} ] }'
    objects = split_envelope(body.encode())
    assert [o.text for o in objects] == ['{"b": 1,  "a": "\\u00e9"}', '{"x":[1, 2]}']
    assert objects[0].value == {"b": 1, "a": "é"}


@pytest.mark.parametrize(
    "body",
    [
        '{"objects": [{"a": 1, "a": 2}]}',  # duplicate keys make a signature ambiguous
        '{"objects": [{"a": NaN}]}',
        '{"objects": [{"a": Infinity}]}',
        '{"objects": []} trailing',
        '{"objects": [1,]}',
        '{"objects": [], }',
        '{"objects": [] "x": 1}',
        '{"objects": [], "objects": []}',
        '{"no": "objects"}',
        "not json",
        "",
    ],
)
def test_bad_bodies_are_refused(body: str) -> None:
    with pytest.raises(InvalidInput):
        split_envelope(body.encode())


def test_json_that_is_not_an_envelope_is_unprocessable() -> None:
    with pytest.raises(Unprocessable):
        split_envelope(b"[1, 2]")


def test_envelope_bytes_has_no_empty_lists() -> None:
    assert envelope_bytes([], False, None) == b'{"more":false}'
    assert envelope_bytes(['{"a":1}'], True, "c") == b'{"more":true,"next":"c","objects":[{"a":1}]}'
