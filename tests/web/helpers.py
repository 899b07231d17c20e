"""Bulletins (STIX reports) to publish in the public-page tests, and reading the pages."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import TLP, stamp


def note(tlp: str = "clear", content: str = "A note", **props: Any) -> dict[str, Any]:
    now = stamp()
    obj: dict[str, Any] = {
        "type": "note",
        "spec_version": "2.1",
        "id": f"note--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "abstract": "Note",
        "content": content,
        "object_refs": [f"vulnerability--{uuid.uuid4()}"],
        "object_marking_refs": [TLP[tlp]],
    }
    obj.update(props)
    return obj


def report(
    title: str,
    tlp: str = "clear",
    refs: list[str] | None = None,
    description: str = "What to do about it.",
    published: str | None = None,
    report_types: tuple[str, ...] = ("threat-report",),
    extra_markings: tuple[str, ...] = (),
    **props: Any,
) -> dict[str, Any]:
    now = stamp()
    obj: dict[str, Any] = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "name": title,
        "description": description,
        "published": published or now,
        "report_types": list(report_types),
        "object_refs": refs or [f"indicator--{uuid.uuid4()}"],
        "object_marking_refs": [TLP[tlp], *extra_markings],
    }
    obj.update(props)
    return obj
