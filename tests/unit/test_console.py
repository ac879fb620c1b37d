"""say() keeps a program going when its terminal (or `tee`) has gone."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import time
from connectors.console import say
time.sleep(0.5)  # the reader closes the pipe meanwhile
for i in range(2000):
    say("line %d" % i)
print("still running", file=__import__("sys").stderr)
"""


def test_say_survives_a_reader_that_went_away() -> None:
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before the first line
    errors = child.stderr.read().decode()
    assert child.wait(30) == 0, errors
    assert "still running" in errors and "Traceback" not in errors


def test_the_demo_speaks_only_through_say() -> None:
    """The demo's lines go through say(): a bare print raised BrokenPipeError in its
    scenario tasks when `up | tee` lost tee to Ctrl-C (a traceback at shutdown)."""
    from pathlib import Path

    import connectors.demo

    source = Path(connectors.demo.__file__).read_text("utf-8")
    assert "print(" not in source
