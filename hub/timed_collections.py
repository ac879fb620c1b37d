"""Cyclic garbage collection in the hub's workers: on a clock, not every 700 allocations.

Decision (issue 14, session 9): the rules worker keeps up to `CACHED_EVENTS` parsed case states
(hub/adapters/case_store.py), and every batch of 500 events leaves ~9,000 new tracked objects
(states, figures, their dicts and sets) that live on in that cache. Python's allocation-driven
collector traverses each of them young, again in the middle generation, and the whole cache at
every full collection: 0.22-0.39 s of the rules worker's CPU in a `bench/ingress.py` run of
26,000 events (timed with `gc.callbacks`), ~9-13 µs of its 78-106 µs per event. Raising the
young threshold (20,000) did not help: the cost is the survivors, traversed wherever they land.
What the worker frees is freed by reference counting as before; only reference cycles wait for
the collector, and it collected 154 such objects in that whole run. So here the automatic
collector is off, the start-up's objects (modules, schemas, rules) are frozen out of every
collection, and the whole heap is collected every `COLLECT_EVERY` seconds, or sooner once
`COLLECT_AFTER` net allocations have piled up (a burst cannot grow memory unboundedly between
two clock collections). `python_gc_*` in /metrics still counts these collections.

The ingress worker (role `ingress`) collects the same way (issue 14, session 9): a 500-record
batch holds its records, verdicts, events and outcomes until it is settled, so the young
generation was collected ~13 times a batch and the older ones in turn; timed with
`gc.callbacks` over four batches through IngressProcessor (in-memory store, three runs),
3.5-21.7 µs of 138 µs per event, the most when a full collection fell in the window; with
the collector frozen and off as here, that fixed workload ran 16,000 fewer instructions per
event (1,418,729 -> 1,402,699, callgrind, 2,000 events), its small heap the least it can gain.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

COLLECT_EVERY = 30.0
"""Seconds between two full collections."""
COLLECT_AFTER = 1_000_000
"""Net allocations of tracked objects since the last collection that bring the next one forward
(a full 20,000-event cache holds about 400,000)."""


class TimedCollections:
    """Owns the process's collector once started; `tick` (from a 1 s timer) collects when due."""

    def __init__(self, every: float = COLLECT_EVERY, after: int = COLLECT_AFTER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._after = after
        self._clock = clock
        self._last: float | None = None

    @property
    def started(self) -> bool:
        return self._last is not None

    def start(self) -> None:
        """Freeze what exists (the start-up's objects) and turn the automatic collector off."""
        gc.collect()
        gc.freeze()
        gc.disable()
        self._last = self._clock()

    def tick(self) -> bool:
        """Start on the first call (inside the running worker), then collect when due; True
        when this call collected."""
        if self._last is None:
            self.start()
            return False
        now = self._clock()
        if now - self._last < self._every and gc.get_count()[0] < self._after:
            return False
        gc.collect()
        self._last = now
        return True

    def stop(self) -> None:
        """Give the process its automatic collector back (tests; a worker never stops it)."""
        if self._last is not None:
            gc.unfreeze()
            gc.enable()
            self._last = None
