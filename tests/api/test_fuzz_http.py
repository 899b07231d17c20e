"""Hostile requests against a live exchange, briefly (bench/fuzz.py runs them for long):
bodies of every hostile shape sent with Content-Length, chunked, or over max_content_length,
each beside a valid signed object; event streams opened with any Last-Event-ID. Never a 500,
never a hang, and every object a 202 called stored can be read back."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.config import Settings
from tests.api.conftest import post_objects
from tests.conftest import TAXII, LiveServer, free_port, indicator
from tests.http_fuzz import judge_post, judge_stream, post_request, send, stream_request

MAX_CONTENT_LENGTH = 64 * 1024
steered = st.builds(
    lambda framing, shape, where, rest: bytes([framing, shape, where]) + rest,
    st.integers(0, 4),
    st.integers(0, 9),
    st.integers(0, 2),
    st.binary(max_size=48),
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def fuzzed(db_url: str) -> Any:
    live = LiveServer(
        Settings(
            db=db_url,
            port=free_port(),
            max_content_length=MAX_CONTENT_LENGTH,
            body_timeout_seconds=5,
            auth_failures_per_minute=0,
        )
    )
    live.start()
    yield live
    live.stop()


def test_hostile_posts(fuzzed: LiveServer, make_member: Any) -> None:
    member = make_member()
    stored: set[str] = set()
    problems: list[str] = []

    @FUZZ
    @given(steered | st.binary(max_size=64))
    def post(data: bytes) -> None:
        valid = member.sign(indicator("green"))
        request, framing = post_request(data, member.token, valid, MAX_CONTENT_LENGTH)
        answer = send(fuzzed.settings.port, request)
        problem = judge_post(answer, framing, valid["id"])
        if problem is not None:
            problems.append(f"{framing}: {problem} for {data!r}")
        if answer.status == 202 and framing == "beside":
            stored.add(valid["id"])

    post()
    assert not problems, problems[:5]
    assert stored, "no envelope beside a hostile object was accepted: the test tests nothing"
    # what was called stored is stored
    found: set[str] = set()
    url: str | None = fuzzed.api_root + "collections/bulletins/manifest/?match[type]=indicator"
    headers = {"Accept": TAXII, "Authorization": f"Bearer {member.token}"}
    while url:
        page = requests.get(url, headers=headers, timeout=30).json()
        found |= {o["id"] for o in page.get("objects", [])}
        url = None
        if page.get("more"):
            url = (
                fuzzed.api_root
                + "collections/bulletins/manifest/?match[type]=indicator&next="
                + page["next"]
            )
    assert stored <= found


def test_hostile_last_event_ids(fuzzed: LiveServer, make_member: Any) -> None:
    member = make_member()
    post_objects(fuzzed, member.token, [member.sign(indicator("green"))])
    good = ""
    with requests.get(
        fuzzed.api_root + "collections/bulletins/events/?from=start",
        headers={"Authorization": f"Bearer {member.token}"},
        stream=True,
        timeout=10,
    ) as opened:
        for line in opened.iter_lines(decode_unicode=True):
            if line.startswith("id:"):
                good = line[3:].strip()
                break
    assert good
    problems: list[str] = []

    @FUZZ
    @given(st.binary(max_size=64))
    def open_stream(data: bytes) -> None:
        answer = send(
            fuzzed.settings.port, stream_request(data, member.token, good), timeout=10, stream=True
        )
        problem = judge_stream(answer)
        if problem is not None:
            problems.append(f"{problem} for {data!r}")

    open_stream()
    assert not problems, problems[:5]
