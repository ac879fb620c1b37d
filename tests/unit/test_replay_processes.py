"""`rules replay --jobs N`: its pool processes are forked (no second start-up of the hub) and,
forked from the CLI's event loop, handle Ctrl-C as a fresh interpreter does."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from hub.commands import rules_cmds


def _signals() -> tuple[bool, int, int]:
    """In the pool process: Python's own SIGINT handler?, the wake-up fd, the process id."""
    wakeup = signal.set_wakeup_fd(-1)
    return signal.getsignal(signal.SIGINT) is signal.default_int_handler, wakeup, os.getpid()


@pytest.mark.skipif(sys.platform != "linux", reason="the hub forks where it runs: Linux")
def test_pool_processes_are_forked_on_linux() -> None:
    assert rules_cmds._process_context().get_start_method() == "fork"


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
async def test_a_forked_child_drops_the_parents_sigint_handling() -> None:
    """The CLI's loop handles SIGINT (a no-op handler and a wake-up fd into the loop): the
    child must not keep either, or a Ctrl-C would wake the parent's loop and not stop it."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    try:
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        with ProcessPoolExecutor(1, mp_context=rules_cmds._process_context(),
                                 initializer=rules_cmds._in_forked_child) as pool:
            python_handler, wakeup, pid = await loop.run_in_executor(pool, _signals)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            inherited = await loop.run_in_executor(pool, _signals)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    assert pid != os.getpid()
    assert python_handler and wakeup == -1
    # What the initializer undoes: without it, the child keeps both.
    assert not inherited[0] and inherited[1] != -1
