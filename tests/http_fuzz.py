"""Hostile requests over a raw socket, shared by tests/api/test_fuzz_http.py (short) and
bench/fuzz.py (long): posts of hostile bodies (sent with Content-Length, chunked in pieces
of any size, or over ``max_content_length``) beside one valid signed object, and event
streams opened with any ``Last-Event-ID`` bytes.

Each exchange says how it ended: the status, or ``hang`` when no complete answer came in
``timeout`` seconds. A 500, a hang, or a valid object that is neither stored nor refused
with its envelope (a 4xx for the whole body) is a failure.
"""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from tests.fuzz_targets import Reader, hostile_document

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Answer:
    status: int | None  # None: no complete answer in time (a hang), or the connection closed
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    closed_early: bool = False


def _read_answer(sock: socket.socket, stream: bool) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return Answer(None, closed_early=True)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if stream and status == 200:
        while b"\n\n" not in body:  # the stream's first block, then hang up
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return Answer(status, headers, body)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(status, headers, body)


def send(port: int, request: bytes, timeout: float = 20.0, stream: bool = False) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # the server may answer 413 and close before the whole body is sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        try:
            return _read_answer(sock, stream)
        except TimeoutError:
            return Answer(None)
        except ConnectionResetError:
            return Answer(None, closed_early=True)


def _chunked(body: bytes, reader: Reader) -> bytes:
    out, i = b"", 0
    while i < len(body):
        size = 1 + reader.number(max(1, min(len(body), 70_000)))
        piece = body[i : i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        i += size
    return out + b"0\r\n\r\n"


def post_request(
    data: bytes, token: str, valid: dict[str, Any], max_content_length: int
) -> tuple[bytes, str]:
    """A POST of hostile ``data`` to the bulletins collection, and how it is framed."""
    reader = Reader(data)
    framing = reader.pick(["length", "chunked", "oversize-length", "oversize-chunked", "beside"])
    hostile = hostile_document(reader.rest(), 200_000)
    if framing == "beside":
        # the hostile object inside the envelope, beside a valid one that must be stored
        body = b'{"objects": [' + json.dumps(valid).encode() + b", " + hostile + b"]}"
    elif framing.startswith("oversize"):
        body = b'{"objects": [' + b" " * (max_content_length + reader.number(4096)) + b"]}"
    else:
        body = hostile
    head = (
        "POST /api/v1/collections/bulletins/objects/ HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Accept: {TAXII}\r\nContent-Type: {TAXII}\r\nConnection: close\r\n"
    )
    if framing.endswith("chunked"):
        framed = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + _chunked(body, reader)
    else:
        framed = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return framed, framing


EVENT_IDS = [
    b"",
    b"0",
    b"\xff\xfe",
    b"\xef\xbf\xbd",
    "١٢".encode(),
    b"A" * 5000,
    b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    b"../../etc/passwd",
    b"%00",
    b" \t ",
]


def stream_request(data: bytes, token: str, good_event_id: str) -> bytes:
    """An event-stream request with a hostile ``Last-Event-ID`` (and query)."""
    reader = Reader(data)
    choice = reader.byte() % 4
    if choice == 0:
        value = reader.pick(EVENT_IDS)
    elif choice == 1:
        value = good_event_id.encode()[: reader.number(len(good_event_id) + 1)]
    elif choice == 2:
        value = good_event_id.encode()
    else:
        value = bytes(b for b in reader.rest()[:200] if b not in b"\r\n")
    query = reader.pick(["", "?from=start", "?from=now", "?last_event_id=x", "?match[type]=%ff"])
    return (
        (
            f"GET /api/v1/collections/bulletins/events/{query} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n"
        ).encode()
        + b"Last-Event-ID: "
        + value
        + b"\r\n\r\n"
    )


def judge_post(answer: Answer, framing: str, valid_id: str) -> str | None:
    """Why this answer to a post is a failure, or None."""
    if answer.status is None:
        return None if answer.closed_early and framing.startswith("oversize") else "hang"
    if answer.status >= 500:
        return f"{answer.status}: {answer.body[:200]!r}"
    if framing.startswith("oversize") and answer.status != 413:
        return f"an oversize body got {answer.status}"
    if framing == "beside" and answer.status == 202:
        status = json.loads(answer.body)
        if valid_id not in {s["id"] for s in status.get("successes", [])}:
            return f"the valid object was not stored: {status}"
    return None


def judge_stream(answer: Answer) -> str | None:
    if answer.status is None:
        return "hang"
    if answer.status >= 500:
        return f"{answer.status}: {answer.body[:200]!r}"
    if answer.status not in (200, 400):
        return f"unexpected {answer.status}"
    return None
