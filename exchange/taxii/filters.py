"""TAXII 2.1 query parameters → ObjectFilter."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from exchange.errors import InvalidInput
from exchange.models import ObjectFilter
from exchange.timeutil import normalise_ts

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*--[0-9a-fA-F-]{36}$")
_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DIGITS = re.compile(r"[0-9]{1,18}")
KNOWN = {
    "added_after",
    "limit",
    "next",
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
}


def _split(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def parse_filter(
    params: Mapping[str, Sequence[str]], *, allow: set[str], default_versions: tuple[str, ...]
) -> ObjectFilter:
    for name in params:
        if name.startswith("match[") and name not in allow:
            raise InvalidInput(f"the filter {name} is not supported on this endpoint")
    ids = _split(params.get("match[id]", [])) if "match[id]" in allow else []
    for value in ids:
        if not _ID.match(value):
            raise InvalidInput(f"match[id] {value!r} is not a STIX identifier")
    types = _split(params.get("match[type]", [])) if "match[type]" in allow else []
    for value in types:
        if not _TYPE.match(value):
            raise InvalidInput(f"match[type] {value!r} is not a STIX type")
    versions: list[str] = []
    for value in _split(params.get("match[version]", [])) if "match[version]" in allow else []:
        versions.append(value if value in ("first", "last", "all") else normalise_ts(value))
    spec = _split(params.get("match[spec_version]", [])) if "match[spec_version]" in allow else []
    for value in spec:
        if not re.fullmatch(r"2\.[01]", value):
            raise InvalidInput(f"match[spec_version] {value!r} is not a STIX version")
    added = params.get("added_after", [])
    added_after = normalise_ts(added[-1]) if added else None
    return ObjectFilter(
        ids=tuple(sorted(set(ids))),
        types=tuple(sorted(set(types))),
        versions=tuple(sorted(set(versions))) or default_versions,
        spec_versions=tuple(sorted(set(spec))),
        added_after=added_after,
    )


def parse_limit(params: Mapping[str, Sequence[str]], default: int, maximum: int) -> int:
    values = params.get("limit", [])
    if not values:
        return default
    text = values[-1]
    # ASCII digits only: int() would also read full-width or Arabic-Indic digits.
    if not _DIGITS.fullmatch(text):
        raise InvalidInput(f"limit {text!r} is not a whole number (ASCII digits)")
    limit = int(text)
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    return min(limit, maximum)
