"""Property tests (bounded, fast): the envelope parser and strict JSON answer any input with
a value or an ExchangeError (a 4xx), never another exception (a 500)."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.errors import ExchangeError
from exchange.strictjson import loads, nesting_depth
from exchange.taxii.envelope import split_envelope

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
nasty_text = st.text(alphabet=st.characters(), max_size=200).map(
    lambda t: t.encode("utf-8", "surrogatepass")
)


def parse(body: bytes) -> None:
    with contextlib.suppress(ExchangeError):
        split_envelope(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | nasty_text)
def test_any_bytes(body: bytes) -> None:
    parse(body)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=5), st.integers(0, 3000), st.sampled_from("[{"))
def test_envelopes_of_any_values_and_depth(objects: list[object], depth: int, bracket: str) -> None:
    parse(json.dumps({"objects": objects}).encode())
    closing = "]" if bracket == "[" else "}"
    deep = (bracket if bracket == "[" else '{"a":') * depth + "1" + closing * depth
    parse(('{"objects": [' + deep + "]}").encode())
    parse(('{"x": ' + deep + ', "objects": []}').encode())


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_strict_json_round_trip(value: object) -> None:
    text = json.dumps(value)
    assert loads(text) == json.loads(text)
    assert nesting_depth(text) <= 25
