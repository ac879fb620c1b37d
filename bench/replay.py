"""Rules replay benchmark: cases re-evaluated per second from ledger records (fold + evaluate).

What is measured, honestly:

1. setup (not timed): N cases' events (3-5 each, a mix of on-time, over-threshold, penalised,
   split and incomplete cases, 10% of parties shared), built as signed DSSE envelopes over
   CloudEvents exactly as the ledger stores them, in arrival (event-time) order;
2. fold (timed): `streams.rules_runner.CaseFold` over those bytes: envelope and CloudEvent parsing,
   `streams.apply`, as `linkage-hub rules replay` does after reading the ledger;
3. evaluate (timed): `streams.assess` (alert decisions and next due time in one pass, with
   each case's related cases from an in-memory party index), as the replay's re-evaluation does.

In-memory figure: reading the ledger from PostgreSQL and writing case states and alerts back
are not included. `--db` also runs the real command (`linkage-hub rules replay`, same code)
against a fresh database on the local PostgreSQL whose ledger holds the same records, and
times it end to end (ledger read + fold + store + evaluate + diff + outbox).

`--mix v1.1` adds three kinds of case that exercise the contract v1.1 rules (a 检察意见 after
non-prosecution, a complaint decided by opening a case, a case fined by a second agency) and
gives shared parties valid 统一社会信用代码 so the screening signals match them; the default
mix (`v1.0`) is the workload of the earlier measurements, so figures stay comparable.

    python bench/replay.py [--cases 100000] [--db] [--db-cases 20000] [--jobs N] [--mix v1.0|v1.1]
                           [--pg-statements]  (PostgreSQL's CPU by statement, every process)

`--callgrind` (with `--db --jobs 1`, under valgrind) collects the replay command alone: the
CLI's instructions per case, which do not move with the machine's load as its CPU µs do
(±20-30 % from one run to the next on a shared machine). PostgreSQL runs outside valgrind
(bench/pg_callgrind.py counts its statements):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --collect-atstart=no \
        --callgrind-out-file=/tmp/r.out python bench/replay.py --cases 2000 --db --jobs 1 \
        --callgrind
    python bench/connector_path.py --sum /tmp/r.out -n 2000   # instructions per case
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing.util
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.ledger import NewEntry
from bench.connector_path import Marks
from bench.pg_statements import ENV, HOOK_DIR, BackendCpu, StatementCpu, read_dumps, table
from connectors.events import build_event
from hub.adapters.ledger_store import PostgresLedger
from hub.commands.rules_cmds import LEDGER_CHUNK
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.identity import uscc_check_char
from schemas.signing import SigningKey
from streams.rules import CaseState, assess, load_rules
from streams.rules_runner import CaseFold

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["transfer_letter", "investigation_report", "seized_items_list", "inspection_report"]


@dataclass(frozen=True)
class Generated:
    event_id: str
    agency: str
    case_id: str
    type_name: str
    time: datetime
    value: bytes


Step = tuple[str, str, float, dict[str, Any]]


def _steps(kind: int, base: datetime, party: str, rng: random.Random) -> list[Step]:
    """(agency, type, hours after base, data) of the events of one case of the given kind."""
    def at(hours: float) -> str:
        return (base + timedelta(hours=hours)).isoformat()

    opened: Step = ("zs-aic", "case.opened", 0.0, {
        "offence": "trademark_counterfeiting", "opened_at": at(0), "summary": "假冒注册商标",
        "parties": [{"kind": "organization", "id_type": "USCC", "id_number": party,
                     "name": "某公司"}]})
    over: Step = ("zs-aic", "case.assessed", 6.0, {"assessed_at": at(6),
                                             "illegal_business_amount": f"{rng.randint(5, 50)}0000.00"})
    under: Step = ("zs-aic", "case.assessed", 6.0, {"assessed_at": at(6), "illegal_business_amount":
                                              f"{rng.randint(20, 45)}000.00"})
    approve: Step = ("zs-aic", "transfer.decided", 30.0, {"report_at": at(28), "decided_at": at(30),
                                                    "approved": True})
    if kind == 0:  # on time, police accept: 5 events
        return [opened, over, approve,
                ("zs-aic", "case.transferred", 36.0, {"to_agency": "zs-psb", "transferred_at": at(36),
                 "documents": [{"kind": k, "title": k, "sha256": "ab" * 32} for k in DOCS]}),
                ("zs-psb", "transfer.accepted", 40.0, {"accepted_at": at(40), "receipt_no": "R"})]
    if kind == 1:  # over the threshold, penalised instead: 3 events
        return [opened, over, ("zs-aic", "penalty.decided", 48.0, {
            "decision_no": "罚", "decided_at": at(48), "fine": "20000.00", "confiscated": "0.00"})]
    if kind == 4:  # v1.1 reverse transfer: prosecution declined, a 检察意见, its reply: 5 events
        return [opened, over,
                ("zs-procuratorate", "prosecution.decided", 200.0, {
                    "decided_at": at(200), "prosecuted": False, "reasons": "不起诉"}),
                ("zs-procuratorate", "opinion.issued", 210.0, {
                    "opinion_id": "OP", "to_agency": "zs-aic", "issued_at": at(210),
                    "proposal": "administrative_penalty", "summary": "建议处罚"}),
                ("zs-aic", "opinion.replied", 400.0, {
                    "opinion_id": "OP", "replied_at": at(400),
                    "outcome": rng.choice(["penalty_imposed", "no_penalty"]), "reasons": ""})]
    if kind == 5:  # v1.1 complaint decided by opening a case, reporter told: 4 events
        clue = {"clue_id": "Q", "channel": "ecommerce_platform", "received_at": at(-48),
                "summary": "平台通报", "platform": "某平台", "reporter_named": True}
        return [("zs-aic", "clue.received", -48.0, clue),
                (opened[0], opened[1], opened[2], {**opened[3], "clue_id": "Q"}), under,
                ("zs-aic", "clue.answered", 30.0, {"clue_id": "Q", "answered_at": at(30),
                                                  "outcome": "case_opened"})]
    if kind == 6:  # v1.1 screening: the same party fined by customs, near the threshold: 4
        return [("zs-customs", *opened[1:]), ("zs-customs", *under[1:]),
                ("zs-customs", "penalty.decided", 48.0, {
                    "decision_no": "关罚", "decided_at": at(48), "fine": "9000.00",
                    "confiscated": "0.00"}),
                ("zs-customs", "case.closed", 72.0, {"closed_at": at(72), "outcome": "结案"})]
    if kind == 2:  # under the threshold (split cases when the party is shared), closed: 3-4
        steps = [opened, under]
        if rng.random() < 0.5:
            steps.append(("zs-aic", "case.closed", 72.0, {"closed_at": at(72), "outcome": "结案"}))
        return [*steps, ("zs-aic", "clue.notified", 2.0, {"to_agency": "zs-psb", "summary": "线索"})]
    # approved, handed over late with documents missing: 4 events
    return [opened, over, approve, ("zs-aic", "case.transferred", 80.0, {
        "to_agency": "zs-psb", "transferred_at": at(80),
        "documents": [{"kind": k, "title": k, "sha256": "ab" * 32} for k in DOCS[:2]]})]


def _valid_uscc(n: int) -> str:
    body = f"91442000MA{n:07d}"
    return body + uscc_check_char(body)


def generate(cases: int, seed: int = 7, mix: str = "v1.0") -> list[Generated]:
    """Signed records of `cases` cases, in event-time order (the order a ledger receives them)."""
    rng = random.Random(seed)
    keys = {a: SigningKey.generate()
            for a in ("zs-aic", "zs-psb", "zs-customs", "zs-procuratorate")}
    now = datetime.now(UTC)
    records: list[Generated] = []
    kinds = 7 if mix == "v1.1" else 4
    for i in range(cases):
        if rng.random() < 0.1:
            shared = rng.randrange(cases // 20 + 1)
            party = _valid_uscc(shared) if mix == "v1.1" else f"9144{shared:08d}"
        else:
            party = f"P{i:010d}"
        base = now - timedelta(days=rng.uniform(5, 90))
        for agency, type_name, hours, data in _steps(rng.randrange(kinds), base, party, rng):
            event_time = base + timedelta(hours=hours)
            event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            _, raw = build_event(agency, type_name, f"B-{i:07d}", data, event_id=event_id,
                                 time=event_time, validate=False)
            value = keys[agency].sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes()
            records.append(Generated(event_id, agency, f"B-{i:07d}", type_name, event_time, value))
    records.sort(key=lambda r: r.time)
    return records


def in_memory(records: list[Generated], cases: int) -> None:
    rules = load_rules()
    fold = CaseFold()
    # Garbage collection as `rules replay` does it (hub/commands/rules_cmds.py: what each
    # ledger page leaves frozen, no collection while the states are made, then those frozen):
    # left to CPython's defaults here, collections walking the generated records and the
    # states took as long as the fold itself (fold 194 against 95 µs a case, issue 14), a cost
    # the command does not pay.
    gc.freeze()  # the generated records (setup)
    started, cpu = time.perf_counter(), time.process_time()
    for page in range(0, len(records), LEDGER_CHUNK):
        for record in records[page:page + LEDGER_CHUNK]:
            fold.add(record.value)
        gc.freeze()
    gc.disable()
    try:
        states = fold.states
    finally:
        gc.enable()
    gc.freeze()
    folded, fold_cpu = time.perf_counter() - started, time.process_time() - cpu
    by_party: dict[tuple[str, str], list[str]] = {}
    for state in states.values():
        for key in state.party_keys:
            by_party.setdefault(key, []).append(state.case_id)
    now = datetime.now(UTC)
    rules_fired: Counter[str] = Counter()
    started, cpu = time.perf_counter(), time.process_time()
    for case_id, state in states.items():
        related: list[CaseState] = [states[other] for key in state.party_keys
                                    for other in by_party[key] if other != case_id]
        for decision in assess(state, rules, now, related).decisions:
            rules_fired[f"{decision.rule_id}:{decision.status}"] += 1
    evaluated, evaluate_cpu = time.perf_counter() - started, time.process_time() - cpu
    gc.unfreeze()
    total = folded + evaluated
    print(f"records (ledger entries)     : {len(records):,} ({fold.bad} skipped)")
    print(f"fold                         : {len(records) / folded:,.0f} events/s ({folded:.1f} s)")
    print(f"assess (evaluate + next_due): {cases / evaluated:,.0f} cases/s ({evaluated:.1f} s)")
    print(f"fold + evaluate (in memory)  : {cases / total:,.0f} cases re-evaluated/s "
          f"({total:.1f} s for {cases:,} cases)")
    print(f"  CPU (this process)         : fold {fold_cpu / cases * 1e6:.0f} + evaluate "
          f"{evaluate_cpu / cases * 1e6:.0f} = {(fold_cpu + evaluate_cpu) / cases * 1e6:.0f} µs "
          "per case (what a shared machine's load does not inflate as it does the rates)")
    print("decisions                    : " + ", ".join(
        f"{name} {count:,}" for name, count in rules_fired.most_common()))


async def with_database(records: list[Generated], cases: int, dsn: str, home: Path,
                        jobs: int | None = None, by_statement: bool = False,
                        marks: Marks | None = None) -> None:
    """Load the records into a fresh ledger, then time `linkage-hub rules replay` on it."""
    from hub.adapters.postgres import create_pool, migrate
    from hub.commands.rules_cmds import rules_replay
    from hub.settings import Settings

    await migrate(dsn)
    pool = await create_pool(dsn, max_size=2)
    try:
        ledger = PostgresLedger(pool)
        received = datetime.now(UTC)
        started = time.perf_counter()
        for i in range(0, len(records), 5000):
            chunk = records[i:i + 5000]
            async with pool.acquire() as conn, conn.transaction():
                await ledger.append(conn, [NewEntry(r.event_id, r.agency, r.case_id, r.type_name,
                                                    r.time, received, "0" * 64, r.value)
                                           for r in chunk])
        print(f"ledger load (setup)          : {len(records):,} entries in "
              f"{time.perf_counter() - started:.1f} s")
    finally:
        await pool.close()
    settings = Settings.from_env({"LINKAGE_HOME": str(home), "LINKAGE_DATABASE_URL": dsn})
    settings.ensure_hub_key()
    backends = BackendCpu(dsn.rsplit("/", 1)[1])
    statements = StatementCpu() if by_statement else None
    with contextlib.ExitStack() as stack:
        # The replay's pool processes count their statements too: a spawned one (where fork
        # is missing) through the hook bench/ingress.py uses, set up by the environment it
        # inherits; a forked one (Linux: hub/commands/rules_cmds._process_context) inherits
        # this process's patched asyncpg but not its counters' way home, so it writes them
        # at its exit (`_dump_in_forked_children`). Without that the table showed this
        # process's half of a two-process replay only (54.1 µs a case against 97.8 summed
        # over both processes, and 93.3 with `--jobs 1`, 2026-11-28).
        dumps = Path(stack.enter_context(tempfile.TemporaryDirectory())) if by_statement else None
        if dumps is not None and statements is not None:
            stack.enter_context(_environment({ENV: str(dumps), "PYTHONPATH": os.pathsep.join(
                [str(HOOK_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])}))
            stack.enter_context(_dump_in_forked_children(statements, dumps))
        started, cpu = time.perf_counter(), _cpu()
        with backends, statements or contextlib.nullcontext():
            if marks is not None:
                marks.on()
            await rules_replay(settings, argparse.Namespace(rules=None, override=None, jobs=jobs))
            if marks is not None:
                marks.off("replay")
        # Less the CPU of this process's sampling thread (BackendCpu: ~1 ms every 0.1 s, about
        # 2 µs a case of a 20,000-case replay), which is the benchmark's, not the replay's.
        elapsed, cpu = time.perf_counter() - started, _cpu() - cpu - backends.sampling_seconds
        children = read_dumps(dumps) if dumps is not None else {}
    print(f"`rules replay` (PostgreSQL)  : {cases / elapsed:,.0f} cases re-evaluated/s "
          f"({elapsed:.1f} s for {cases:,} cases, ledger read + fold + store + evaluate + "
          "alerts outbox)")
    print(f"  its CPU (all its processes): {cpu / cases * 1e6:,.0f} µs per case "
          f"({cpu:.1f} s; PostgreSQL's own CPU not included)")
    if backends.seconds is not None:
        print(f"  PostgreSQL backends' CPU   : {backends.seconds / cases * 1e6:,.0f} µs per case "
              f"({backends.seconds:.1f} s; its connections' server processes, sampled every "
              f"{BackendCpu.EVERY} s: a lower bound; checkpointer and WAL writer not included)")
    if statements is not None:
        # Summed over the processes, by statement (each runs the same statements).
        summed: dict[str, list[int]] = {}
        for counts in (statements.snapshot(), *children.values()):
            for key, (ns, calls) in counts.items():
                total = summed.setdefault(key, [0, 0])
                total[0] += ns
                total[1] += calls
        print(f"  (statements of {1 + len(children)} processes)")
        print("\n".join(table({"": summed}, cases, "case", 14)))


_FORKED_COUNTING: list[tuple[StatementCpu, Path]] = []
"""The counter and dump directory a process forked while `_dump_in_forked_children` runs
writes its own statements' counts to (empty: no counting)."""


def _after_fork_in_child(_: object = None) -> None:
    """In a multiprocessing process just forked: its statements counted afresh (the inherited
    counts are the parent's) and written to <dumps>/<pid>.json when it ends. Such a process
    leaves through `os._exit`, not `atexit`; its `util._exit_function` runs the finalizers
    first, which is where the counts are written. Registered through multiprocessing's own
    after-fork hooks: the child clears the finalizers it inherits before running them."""
    if not _FORKED_COUNTING:
        return
    statements, dumps = _FORKED_COUNTING[0]
    statements.ns.clear()
    statements.calls.clear()
    path = dumps / f"{os.getpid()}.json"

    def dump() -> None:
        path.write_text(json.dumps(statements.snapshot()))

    multiprocessing.util.Finalize(None, dump, exitpriority=10)


@contextlib.contextmanager
def _dump_in_forked_children(statements: StatementCpu, dumps: Path) -> Iterator[None]:
    """Processes forked inside the block write their statements' counts into `dumps`."""
    _FORKED_COUNTING.append((statements, dumps))
    multiprocessing.util.register_after_fork(statements, _after_fork_in_child)
    try:
        yield
    finally:
        _FORKED_COUNTING.clear()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (replay's pool)."""
    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


def ingress_reference() -> str:
    doc = ROOT / "docs" / "benchmarks.md"
    if not doc.exists():
        return "ingress                      : see `bench/ingress.py` (no docs/benchmarks.md yet)"
    lines = [line.strip() for line in doc.read_text(encoding="utf-8").splitlines()
             if "events/s" in line]
    return ("ingress (docs/benchmarks.md) : " + lines[0]) if lines else \
        "ingress                      : see docs/benchmarks.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", action="store_true",
                        help="also time `rules replay` on the local PostgreSQL (LINKAGE_TEST_TCP_DSN)")
    parser.add_argument("--db-cases", type=int, default=20_000,
                        help="cases for the PostgreSQL run (default 20000)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="`rules replay --jobs` (default: every core)")
    parser.add_argument("--pg-statements", action="store_true",
                        help="with --db: PostgreSQL's CPU per case by statement")
    parser.add_argument("--mix", choices=["v1.0", "v1.1"], default="v1.0",
                        help="v1.1 adds reverse-transfer, complaint and screening cases")
    parser.add_argument("--callgrind", action="store_true",
                        help="with --db --jobs 1, under callgrind: collect the replay alone")
    args = parser.parse_args()
    if args.callgrind and not (args.db and args.jobs == 1):
        parser.error("--callgrind counts this process only: give --db --jobs 1")
    print(f"date                         : {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"Python {sys.version.split()[0]}, one process")
    started = time.perf_counter()
    records = generate(args.cases, mix=args.mix)
    print(f"generate (setup, not timed)  : {args.cases:,} cases ({args.mix} mix), "
          f"{len(records):,} signed records "
          f"in {time.perf_counter() - started:.1f} s")
    in_memory(records, args.cases)
    if args.db:
        from tests.support import stop_embedded, tcp_database

        db_cases = min(args.db_cases, args.cases)
        subset = [r for r in records if int(r.case_id[2:]) < db_cases]
        with tempfile.TemporaryDirectory() as home:
            try:
                asyncio.run(with_database(subset, db_cases, tcp_database(), Path(home),
                                          args.jobs, args.pg_statements,
                                          Marks(args.callgrind, Path(home))))
            finally:
                stop_embedded()  # drops the benchmark's database
    print(ingress_reference())


if __name__ == "__main__":
    main()
