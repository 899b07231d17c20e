"""stop_pool leaves no thread of the validation pool behind: its manager thread has closed
the wake-up pipe before the process exits, so the interpreter's exit hook cannot write to a
pipe being closed (an "OSError: Bad file descriptor" traceback after a clean Ctrl-C)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import _ExecutorManagerThread

from exchange.processes import die_with, stop_pool


def managers() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if isinstance(t, _ExecutorManagerThread) and t.is_alive()
    ]


def test_stop_pool_waits_for_the_pool_manager_thread() -> None:
    for _ in range(3):
        executor = ProcessPoolExecutor(
            2,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=die_with,
            initargs=(os.getpid(),),
        )
        assert executor.submit(abs, -3).result(timeout=60) == 3
        assert managers()
        stop_pool(executor)
        assert managers() == []
