"""`linkage-hub rules replay` / `rules check`: re-evaluate every case from the ledger; check a file."""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path

from tqdm import tqdm

from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.kafka_publisher import BrokerUnavailable, KafkaPublisher
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import create_pool, translated_errors
from hub.commands.common import CliError, database
from hub.runtime import resolve
from hub.settings import Settings
from streams.rules import CaseState, ConfigError, RuleSet, load_rules
from streams.rules_runner import CaseFold, RulesRunner, rules_from_env

LEDGER_CHUNK = 5000
YOUNG_COLLECTION_EVERY = 20_000
"""Net allocations of tracked objects between two young collections during a replay part
(Python's default: 700); see `fewer_collections`."""
CASE_CHUNK = 500
REPLAY_CONCURRENCY = 2
"""Chunk transactions at once (the CLI's pool has two connections)."""


def _rules(rules_path: str | None, override_path: str | None) -> RuleSet:
    try:
        return rules_from_env(rules_path=rules_path, override_path=override_path)
    except ConfigError as exc:
        raise CliError(exc.diagnostics()) from exc


async def _publish(runner: RulesRunner, bootstrap: str | None,
                   security: KafkaSecurity = PLAINTEXT) -> tuple[int, str]:
    """Publish the outbox if a broker is known; else leave it for the worker."""
    if not bootstrap:
        return 0, "未配置 Kafka，预警留在发件箱由工作进程发布 / no Kafka known: alerts stay in " \
                  "the outbox for the worker to publish"
    try:
        async with KafkaPublisher.connect(bootstrap, security) as publisher:
            published = await runner.publish_outbox(publisher)
    except BrokerUnavailable as exc:
        return 0, (f"Kafka 不可用，预警留在发件箱由工作进程发布 / Kafka unavailable ({exc}): "
                   "alerts stay in the outbox for the worker to publish")
    return published, f"已发布到 linkage.alerts / published to linkage.alerts: {published}"


@dataclass(frozen=True)
class Tally:
    """What one replay (or one partition of it) did, for the summary line."""

    events: int = 0
    bad: int = 0
    cases: int = 0
    raised: int = 0
    resolved: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def _summary(tally: Tally) -> str:
    t = tally
    return (f"重放 {t.events} 个事件（跳过 {t.bad} 个），评估 {t.cases} 个案件：新预警 {t.raised} 条，"
            f"解除 {t.resolved} 条\nreplayed {t.events} events ({t.bad} skipped), evaluated "
            f"{t.cases} cases: {t.raised} alerts raised, {t.resolved} resolved")


async def rules_replay(settings: Settings, args: argparse.Namespace) -> None:
    """Re-evaluate every case from the ledger, in `--jobs` processes (default: every core).

    The work is split by case (a hash of the case id, PostgresLedger.records): each process
    reads only its cases' ledger records, folds them and replays them in chunks; no case is
    in two processes, so they never wait for each other's row locks (issue 14: one process
    left the other cores idle, and folding and evaluating are CPU-bound).

    Two decisions of session 7 (issue 14), both measured on a 20,000-case replay:

    * No ANALYZE of what it reads or writes. A replay right after a bulk import (a restored
      or migrated ledger) is the real case, and its ledger then has no statistics: the
      ledger read is written so that no plan depends on them (PostgresLedger.records; with
      them its partition filter is still a guess, so ANALYZE alone left the bad plan in
      place), as the party look-up already was (case_store.NEIGHBOURS_SQL). The tables it
      fills grow from nothing, and autovacuum analyses a table that was never analysed
      within its next round (50 changed rows); an ANALYZE here would sample 30,000 rows of
      each table for plans the replay does not need.
    * Its transactions keep the server's synchronous_commit. A replay's writes are derived
      state, rebuilt by running it again, so `SET LOCAL synchronous_commit = off` would be
      defensible; but it saves no CPU: re-running its statements with it off left the
      backend's CPU where it was (within the noise, 92-99 µs per case either way) and moved
      2-3 µs per case of WAL writing to the WAL writer, which the benchmark does not count.
      It would only shorten the wait for the WAL flush at each of its ~40 commits."""
    rules = _rules(args.rules, args.override)
    if not (settings.keys_dir / "hub.key.pem").exists():
        raise CliError(f"找不到枢纽密钥 {settings.keys_dir}，请在枢纽的 LINKAGE_HOME 下运行 / "
                       f"no hub key in {settings.keys_dir}: run with the hub's LINKAGE_HOME")
    # Rules other than the worker's may raise alerts; only the worker's own rules retract them.
    retract = args.rules is None and args.override is None
    jobs = max(1, getattr(args, "jobs", None) or os.cpu_count() or 1)
    bootstrap = resolve(settings, need_database=False).kafka
    async with database(settings) as pool, translated_errors():
        size = (await PostgresLedger(pool).tree_head()).size
        runner = RulesRunner(PostgresCaseStore(pool), settings.hub_key(), rules)
        here = _replay_part(runner, PostgresLedger(pool), retract, size, 0, jobs)
        if jobs == 1:
            tally = await here
        else:
            tally = await _replay_in_processes(settings, args, retract, size, jobs, here)
        _, published = await _publish(runner, bootstrap, settings.kafka_security)
    print(_summary(tally))
    print(published)


async def _replay_in_processes(settings: Settings, args: argparse.Namespace, retract: bool,
                               size: int, jobs: int, here: Awaitable[Tally]) -> Tally:
    """Partition 0 `here`, in this process, the others in `jobs - 1` pool processes.

    The pool's processes are forked where the platform can (`_process_context`): a spawned
    one spent about 0.5 s of CPU importing the hub before its first record (issue 14: ~25 µs
    a case of a 20,000-case replay, 7 % of the CLI's CPU), where a forked one starts with
    every module imported. This process replays a partition itself instead of waiting."""
    dsn = resolve(settings).require_database()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(jobs - 1, mp_context=_process_context(),
                             initializer=_in_forked_child) as pool:
        # Submitted (the processes forked) before this process starts its own part or any
        # thread of its own (the progress bar's monitor): a fork copies only the calling
        # thread, so none may hold a lock the child would then wait for forever.
        gc.freeze()  # the child touches no page only to walk it in a collection
        others = [loop.run_in_executor(pool, _part_in_process, dsn, settings, args.rules,
                                       args.override, retract, size, part, jobs)
                  for part in range(1, jobs)]
        with tqdm(total=jobs, unit="part", desc="重放 / replay", file=sys.stderr,
                  disable=None) as bar:
            async def one(part: Awaitable[Tally]) -> Tally:
                found = await part
                bar.update(1)
                return found

            tallies = await asyncio.gather(*(one(part) for part in (here, *others)))
    return sum(tallies, Tally())


def _process_context() -> multiprocessing.context.BaseContext:
    """Fork where the platform has it (Linux, where the hub runs), else spawn.

    Decision (issue 14, session 7): fork, although this process runs an event loop and
    holds open connections. The child never touches what it inherits: it runs
    `_part_in_process`, which makes its own event loop (`asyncio.run`: the running loop
    is per process id, so the inherited one is not seen as running) and its own pool of
    connections, and it leaves through `os._exit` (multiprocessing's forked workers), so no
    inherited socket is written to or shut down; `_in_forked_child` undoes the one
    inherited setting that reaches back into this process (the event loop's signal
    wake-up descriptor). Measured: the child's start went from ~0.5 s of CPU (spawn:
    interpreter, imports, rules) to a few ms."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _in_forked_child() -> None:
    """A pool process's first act: signals handled as in a fresh interpreter.

    Forked from a process whose event loop handles SIGINT (`hub.cli._run_async`), the
    child would inherit the loop's no-op handler and its wake-up descriptor: a Ctrl-C would
    wake the parent's loop (through the shared socket) and leave the child running. With
    Python's own handler back, the child's `asyncio.run` stops on Ctrl-C, as a spawned
    child did. (A no-op in a spawned child.)"""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _part_in_process(dsn: str, settings: Settings, rules_path: str | None,
                     override_path: str | None, retract: bool, size: int, part: int,
                     parts: int) -> Tally:
    """One partition of a replay, in a pool process with its own connections."""
    async def run() -> Tally:
        async with translated_errors():  # the hub's errors travel back; asyncpg's may not
            pool = await create_pool(dsn, max_size=REPLAY_CONCURRENCY)
            try:
                runner = RulesRunner(PostgresCaseStore(pool), settings.hub_key(),
                                     _rules(rules_path, override_path))
                return await _replay_part(runner, PostgresLedger(pool), retract, size, part,
                                          parts)
            finally:
                await pool.close()

    return asyncio.run(run())


async def _replay_part(runner: RulesRunner, ledger: PostgresLedger, retract: bool, size: int,
                       part: int, parts: int) -> Tally:
    """Fold the ledger records (up to `size`) of partition `part`, replay its cases.

    The folded states stay in memory until the end, and each full garbage collection walked
    all of them again: about a quarter of the fold's CPU at 20,000 cases (issue 14). So the
    objects alive after each ledger page, the states once made, and what each replayed chunk
    leaves (the store's cache) are frozen (`gc.freeze`: left out of collections, still freed
    by reference counting; the fold makes no reference cycles, and a chunk's garbage cycles
    are mostly collected young, before it ends) until the part ends; and collected young
    less often (`fewer_collections`)."""
    try:
        with fewer_collections():
            return await _replay_part_frozen(runner, ledger, retract, size, part, parts)
    finally:
        gc.unfreeze()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The young generation collected every YOUNG_COLLECTION_EVERY net allocations, not 700,
    until the block ends (the thresholds as they were restored, whatever happens).

    Decision (issue 14, session 8): a replay allocates and frees a great many short-lived
    containers (records, facts, rows); at the default threshold a 20,000-case replay (`--jobs
    1`) ran ~1,480 young and ~115 middle collections, 0.34-0.41 s of its 6.6-7.1 s of CPU,
    and one full, 0.14-0.17 s: 25-27 µs a case. With 20,000 it ran 31 young collections and no
    other, 0.10-0.11 s, and its peak memory was the same (483 / 485 MB): what dies young is
    freed by reference counting either way, and cycles are still collected, only in larger
    batches. Measured by timing the collections (gc.callbacks) in `bench/replay.py --cases
    20000 --db --db-cases 20000 --jobs 1`."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _replay_part_frozen(runner: RulesRunner, ledger: PostgresLedger, retract: bool,
                              size: int, part: int, parts: int) -> Tally:
    fold = CaseFold()
    # Read a page of LEDGER_CHUNK indexes per partition, so each read returns about
    # LEDGER_CHUNK records whatever the number of partitions (PostgresLedger.records).
    span = LEDGER_CHUNK * parts
    pages = [(start, min(start + span, size)) for start in range(0, size, span)]
    with tqdm(total=size, unit="event", desc="读取账本 / ledger", file=sys.stderr,
              disable=None if parts == 1 else True, mininterval=0.5) as bar:
        # The next page is read while this one is folded (PostgreSQL and this process
        # work at once).
        reading: asyncio.Future[list[tuple[int, bytes]]] | None = None
        for i, (start, stop) in enumerate(pages):
            if reading is None:
                reading = asyncio.ensure_future(ledger.records(start, stop, part, parts))
            records = await reading
            reading = None if i + 1 == len(pages) else asyncio.ensure_future(
                ledger.records(*pages[i + 1], part, parts))
            fold_page(fold, [record for _, record in records])
            bar.update(stop - start)
    case_ids = sorted(folded_states(fold))
    with tqdm(total=len(case_ids), unit="case", desc="评估 / evaluate", file=sys.stderr,
              disable=None if parts == 1 else True, mininterval=0.5) as bar:
        raised, resolved = await _replay_chunks(runner, fold, case_ids, retract, bar.update)
    return Tally(fold.events, fold.bad, len(case_ids), raised, resolved)


def fold_page(fold: CaseFold, records: Iterable[bytes]) -> None:
    """Add one ledger page's records to `fold`, then freeze what they left (`_replay_part`)."""
    fold.extend(records)
    gc.freeze()


def folded_states(fold: CaseFold) -> dict[str, CaseState]:
    """The fold's states, made (CaseFold folds on reading `.states`) with the collector off,
    then frozen: all of them are kept, and a collection meanwhile would only walk them (a
    third of making them, issue 14)."""
    gc.disable()
    try:
        states = fold.states
    finally:
        gc.enable()
    gc.freeze()
    return states


async def _replay_chunks(runner: RulesRunner, fold: CaseFold, case_ids: Sequence[str],
                         retract: bool, done: Callable[[int], object]) -> tuple[int, int]:
    """`runner.replay` over chunks of CASE_CHUNK cases, REPLAY_CONCURRENCY transactions at once;
    how many alerts it raised and resolved.

    Chunks are disjoint sets of cases, each locked in case-id order by its own transaction, so
    concurrent chunks never wait for each other's locks: while one waits for PostgreSQL, this
    process evaluates the next (issue 14: strictly sequential chunks left a core idle). A case
    evaluated next to a related case of another chunk reads that case's stored state as
    committed when it looks, before or after the other chunk's write, just as a sequential
    replay sees the cases of later chunks before they are replayed."""
    slots = asyncio.Semaphore(REPLAY_CONCURRENCY)

    states = fold.states

    async def one(chunk: Sequence[str]) -> tuple[int, int]:
        async with slots:
            found = await runner.replay({c: states[c] for c in chunk}, retract=retract)
        done(len(chunk))
        gc.freeze()  # see _replay_part
        # Counted, not kept: alerts kept to the end made every full collection walk them.
        raised = sum(1 for t in found if t.alert.status == "open")
        return raised, len(found) - raised

    chunks = [case_ids[i:i + CASE_CHUNK] for i in range(0, len(case_ids), CASE_CHUNK)]
    results = await asyncio.gather(*(one(chunk) for chunk in chunks))
    return sum(r for r, _ in results), sum(r for _, r in results)


def _unconfirmed(rules: RuleSet) -> int:
    """Enabled entries that rest on a figure the law file marks UNCONFIRMED."""
    count = 0
    for rule in rules.enabled_rules():
        count += rule.unconfirmed + sum(d.unconfirmed for d in rule.deadlines.values())
        count += sum(p.unconfirmed for p in rule.params.values())
    for offence in rules.offences.values():
        count += sum(t.unconfirmed for t in offence.thresholds.values() if t.enabled)
    return count


def rules_check(settings: Settings, args: argparse.Namespace) -> None:
    path = Path(args.file)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        full = {"version", "rules", "offences"} <= document.keys()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        full = True  # load_rules reports the reading error with the file name
    try:
        rules = load_rules(path) if full else rules_from_env(override_path=str(path))
    except ConfigError as exc:
        raise CliError(exc.diagnostics()) from exc
    kind = "完整规则文件 / full rule file" if full else "覆盖文件 / override file"
    enabled = len(rules.enabled_rules())
    print(f"有效 / valid: {path} ({kind}); version {rules.version}; "
          f"启用规则 {enabled}/{len(rules.rules)} rules enabled")
    unconfirmed = _unconfirmed(rules)
    if unconfirmed:
        print(f"其中 {unconfirmed} 项依据未确认的数值（unconfirmed = true）/ "
              f"{unconfirmed} enabled entries rest on UNCONFIRMED figures")
