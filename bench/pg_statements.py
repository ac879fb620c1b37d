"""PostgreSQL CPU by statement and by backend, read from /proc (shared by the benchmarks).

Design decision (session 6): pg_stat_statements would be the natural source, but the Debian
server here ships it without loading it (`shared_preload_libraries` is empty, and loading it
needs a restart of a server other engineers share), and it times statements by wall clock
(lock waits, WAL flush waits included), not CPU. So the figures come from the server
processes' own on-CPU time in /proc/<pid>/schedstat (nanoseconds), read just before and just
after each statement a client sends: `StatementCpu` patches asyncpg.Connection's statement
methods (fetch, fetchrow, fetchval, execute, executemany, copy_records_to_table; asyncpg's transaction BEGIN /
COMMIT and the pool's reset on release go through `execute`, so they are counted too) and
sums the backend's CPU by statement text. The server must run on this machine.

In-process use (bench/replay.py `--pg-statements`): `with StatementCpu() as s: ...`. Across
processes (bench/ingress.py `--pg-statements`): the benchmark puts `bench/pg_hook` first on
PYTHONPATH and names a directory in LINKAGE_BENCH_PG_STATEMENTS; the hook's sitecustomize
calls `install_from_env()` in every hub process it starts, which patches asyncpg and writes
the process's counters to <dir>/<pid>.json twice a second; `read_dumps` reads them back.
The two /proc reads per statement cost the client some CPU (about 10-20 µs a statement),
so a run with the hook reads the hub workers' own CPU high: compare workers' figures from
runs without it.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ENV = "LINKAGE_BENCH_PG_STATEMENTS"
HOOK_DIR = Path(__file__).resolve().parent / "pg_hook"
_METHODS = ("fetch", "fetchrow", "fetchval", "execute", "executemany", "copy_records_to_table")


def on_cpu(pid: int) -> int:
    """Nanoseconds process `pid` has spent on a CPU (the first field of /proc/<pid>/schedstat)."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


def statement_key(query: str) -> str:
    """A statement's label: its text with whitespace folded, cut to 72 characters."""
    return " ".join(query.split())[:72]


class StatementCpu:
    """The PostgreSQL backend's on-CPU time while each statement of this process runs,
    summed by statement: where PostgreSQL's CPU goes. Only this process's connections are
    seen; the server must be local."""

    def __init__(self) -> None:
        self.ns: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> StatementCpu:
        import asyncpg

        for name in _METHODS:
            self._saved[name] = original = getattr(asyncpg.Connection, name)
            setattr(asyncpg.Connection, name,
                    self._timed(original, "COPY " if name.startswith("copy") else ""))
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncpg

        for name, original in self._saved.items():
            setattr(asyncpg.Connection, name, original)

    def _timed(self, original: Any, prefix: str) -> Any:
        async def timed(conn: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            pid = conn.get_server_pid()
            before = on_cpu(pid)
            try:
                return await original(conn, query, *args, **kwargs)
            finally:
                key = statement_key(prefix + query)
                self.ns[key] += on_cpu(pid) - before
                self.calls[key] += 1
        return timed

    def snapshot(self) -> dict[str, list[int]]:
        return {key: [ns, self.calls[key]] for key, ns in list(self.ns.items())}

    def report(self, units: int, unit: str = "case", top: int = 12) -> None:
        print("\n".join(table({"": self.snapshot()}, units, unit, top)))


def table(by_process: dict[str, dict[str, list[int]]], units: int, unit: str,
          top: int = 12) -> list[str]:
    """Per-statement CPU per unit (µs) and calls per unit, biggest first, with the total."""
    rows = [(ns, calls, name, key) for name, stats in by_process.items()
            for key, (ns, calls) in stats.items()]
    total = sum(r[0] for r in rows)
    lines = [f"  PostgreSQL CPU by statement: {total / units / 1e3:,.1f} µs per {unit} in all "
             f"({len(rows)} statements)"]
    for ns, calls, name, key in sorted(rows, reverse=True)[:top]:
        label = f"{name:<7} " if name else ""
        lines.append(f"    {ns / units / 1e3:6.1f} µs/{unit} {calls / units:6.3f}/{unit} "
                     f"{label}{key}")
    return lines


def install_from_env() -> None:
    """In a hub process started with LINKAGE_BENCH_PG_STATEMENTS=<dir>: count by statement
    and keep <dir>/<pid>.json current (every 0.5 s and at exit). Does nothing without it."""
    target = os.environ.get(ENV)
    if not target:
        return
    counter = StatementCpu().__enter__()
    path = Path(target) / f"{os.getpid()}.json"

    def dump() -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(counter.snapshot()))
        tmp.replace(path)

    def run() -> None:
        while not stop.wait(0.5):
            dump()

    stop = threading.Event()
    threading.Thread(target=run, daemon=True, name="pg-statements").start()
    atexit.register(dump)


def read_dumps(directory: Path) -> dict[int, dict[str, list[int]]]:
    """The counters every hooked process last wrote, by pid."""
    found: dict[int, dict[str, list[int]]] = {}
    for file in directory.glob("*.json"):
        try:
            found[int(file.stem)] = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
    return found


def difference(after: dict[str, list[int]], before: dict[str, list[int]]) -> dict[str, list[int]]:
    """Counters accumulated between two dumps of one process."""
    zero = [0, 0]
    return {key: [ns - before.get(key, zero)[0], calls - before.get(key, zero)[1]]
            for key, (ns, calls) in after.items() if calls > before.get(key, zero)[1]}


class BackendCpu:
    """CPU seconds of the PostgreSQL server processes serving one database, read from /proc
    while the block runs (a backend's own figure is gone once its connection closes, so it
    is sampled); None where /proc shows no such process (a server on another machine)."""

    EVERY = 0.1

    def __init__(self, database: str) -> None:
        self._marker = f" {database} ".encode()
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.seconds: float | None = None
        self.sampling_seconds = 0.0
        """The CPU the sampling thread itself spent (~1 ms a sample with ~100 processes to
        look through): a benchmark timing its own process's CPU takes it out."""

    def __enter__(self) -> BackendCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = sum(self._seen.values()) if self._seen else None

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.wait(self.EVERY):
            self._sample()
        self.sampling_seconds = time.thread_time() - started

    def _sample(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if self._marker not in f.read().replace(b"\0", b" "):
                        continue
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            self._seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
