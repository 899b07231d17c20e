"""Strict JSON reading, shared by the server and the client.

A signature over JSON with duplicate keys is ambiguous (parsers disagree on which
value wins), and NaN or Infinity are not JSON and have no RFC 8785 form: both are
refused wherever the exchange reads STIX.
"""

from __future__ import annotations

import json
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
