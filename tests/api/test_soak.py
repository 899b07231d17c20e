"""A 30-second soak: mixed ingest, polling and streaming against a real ``exchange serve``
with no error and bounded memory growth (``bench/soak.py`` runs it for ten minutes and more)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.soak import server, soak

SECONDS = 30
RSS_BOUND_MIB = 64


def test_a_short_soak_has_no_error_and_bounded_memory(
    db_url: str, make_member: Any, tmp_path: Path
) -> None:
    members = [make_member(), make_member()]
    with server(db_url) as proc:
        report = soak(proc.api_root, proc.pid, members, SECONDS)
    assert report.errors == []
    assert report.posted > 0 and report.events > 0 and report.requests > 50
    assert report.rss_growth() <= RSS_BOUND_MIB * 2**20, report.rss
