"""Process hygiene of ``exchange serve``: killing it leaves nothing behind (the validation
pool, its forkserver and the resource tracker go with it), Ctrl-C stops it without a
traceback, and a busy port is reported before anything claims to be serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.conftest import TAXII, free_port, indicator, serving_within

EXE = str(Path(sys.executable).parent / "exchange")


def session_members(sid: int) -> set[int]:
    """Every process in session ``sid`` (``/proc/PID/stat`` field 6)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def gone_within(sid: int, seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := session_members(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@contextmanager
def serving(db_url: str, port: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [EXE, "--db", db_url, "serve", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        serving_within(port)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for pid in session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)


def post_some(port: int, member: Any) -> None:
    """Posts that go through the validation processes (so the pool exists)."""
    answer = requests.post(
        f"http://127.0.0.1:{port}/api/v1/collections/bulletins/objects/",
        json={"objects": [member.sign(indicator("green")) for _ in range(4)]},
        headers={"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {member.token}"},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["success_count"] == 4, answer.text


def test_sigkill_leaves_no_process_behind(db_url: str, make_member: Any) -> None:
    member = make_member()
    port = free_port()
    with serving(db_url, port) as proc:
        post_some(port, member)
        helpers = session_members(proc.pid) - {proc.pid}
        assert helpers, "the validation pool should be running"
        proc.kill()
        proc.wait(10)
        assert gone_within(proc.pid, 10) == set()


def test_sigkill_with_several_workers_leaves_no_process_behind(
    db_url: str, make_member: Any
) -> None:
    member = make_member()
    port = free_port()
    with serving(db_url, port, "--workers", "2") as proc:
        for _ in range(3):
            post_some(port, member)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            table = subprocess.run(
                ["ps", "-s", str(proc.pid), "-o", "pid,ppid,stat,wchan:20,cmd"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            raise AssertionError(f"exchange serve did not stop on SIGTERM:\n{table}") from None
        assert gone_within(proc.pid, 15) == set()


def test_ctrl_c_stops_without_a_traceback(db_url: str, make_member: Any) -> None:
    member = make_member()
    port = free_port()
    with serving(db_url, port) as proc:
        post_some(port, member)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
        assert gone_within(proc.pid, 10) == set()


def test_a_busy_port_is_reported_before_serving(db_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [EXE, "--db", db_url, "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            timeout=60,
            check=False,
        )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "serving" not in err and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0], err
