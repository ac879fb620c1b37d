"""Lines for a person at a terminal that never abort the program when the terminal is gone."""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone (`linkage-hub ... | head`, or `tee`
    killed by Ctrl-C), so later writes and the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def say(text: str) -> None:
    """A progress line for the operator that never aborts the caller on a broken pipe."""
    try:
        print(text, flush=True)
    except (BrokenPipeError, ValueError):  # ValueError: stdout already closed
        silence_stdout()
