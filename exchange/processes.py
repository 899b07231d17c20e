"""Child processes that die with the server.

The validation pool's processes are forked by multiprocessing's forkserver, not by the
server, so they outlive a server killed with SIGKILL (nothing runs in a killed process to
stop them), and with them the forkserver and the resource tracker that wait on them. Each
pool process therefore watches the server itself: ``die_with(pid)`` runs in the pool's
initializer and exits the process as soon as ``pid`` has gone (a pidfd, so a reused pid
cannot fool it). It also ignores SIGINT: Ctrl-C in a terminal reaches the whole process
group, and the server, not every pool process, decides how to stop (no tracebacks).
"""

from __future__ import annotations

import os
import select
import signal
import threading
from concurrent.futures import Executor
from typing import Any


def die_with(pid: int) -> None:
    """Exit this process when process ``pid`` exits (Linux pidfd; a poll elsewhere)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:  # no pidfd: poll for the process
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                threading.Event().wait(0.5)
        os._exit(0)

    if fd is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
    threading.Thread(target=watch, name="die-with-server", daemon=True).start()


def stop_pool(executor: Executor) -> None:
    """Stop the pool at once. By the time the app's cleanup runs no request is waiting for
    it; a plain ``shutdown(wait=False)`` can leave an idle pool process that never reads its
    stop sentinel, and the interpreter then waits for it at exit forever (seen with the
    forkserver on Python 3.11), so the processes are also terminated."""
    # ``_processes`` is the executor's own table of its processes; there is no public one.
    table: dict[int, Any] = getattr(executor, "_processes", None) or {}
    running = list(table.values())
    # Taken before shutdown(), which drops the executor's reference to it.
    manager: threading.Thread | None = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    for process in running:
        if process.is_alive():
            process.terminate()
    # Wait (bounded) for the executor's manager thread to see its processes gone and close
    # its wake-up pipe. Left running, it can close that pipe while the interpreter's exit
    # hook is writing to it, which prints "OSError: Bad file descriptor" with a traceback
    # after a clean Ctrl-C (CPython 3.11; found by bench/repeat_tests.sh, 1 run in 17;
    # tests/unit/test_stop_pool.py).
    if manager is not None and manager.is_alive():
        manager.join(timeout=10)
