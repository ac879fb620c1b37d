"""PostgresLedger: the ledger, its Merkle nodes and its head in PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from audit.ledger import LedgerEntry, NewEntry, ProofsFromNodes, TreeHead
from audit.merkle import CompactRange, NodeId, leaf_hash

_LEDGER_COLUMNS = (("ledger_index", "bigint"), ("event_id", "uuid"), ("agency_id", "text"),
                   ("case_id", "text"), ("event_type", "text"), ("event_time", "timestamptz"),
                   ("received_at", "timestamptz"), ("keyid", "text"), ("record", "bytea"),
                   ("leaf_hash", "bytea"))
_NODE_COLUMNS = (("level", "smallint"), ("idx", "bigint"), ("hash", "bytea"))

COPY_MIN_ROWS = 32
"""Fewer rows than this go in by one INSERT ... unnest statement, more by COPY."""


async def insert_rows(conn: asyncpg.Connection, table: str, columns: Sequence[tuple[str, str]],
                      rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert `rows` (values in the order of `columns`: (name, SQL type)) in conn's transaction.

    Design decision (session 6, issue 14): the append path's inserts were all `INSERT ...
    SELECT * FROM unnest($1, ...)`. Binary COPY spares the server building and unnesting
    the arrays and lets it insert heap tuples in batches: on 500-entry batches, alternating
    the two on one connection, the server's CPU per event went 11.6 -> 9.7 µs for `ledger`
    and 7.1 -> 5.8 µs for `ingress_outcomes` (ledger_nodes' small rows: worse, they keep the
    statement). But COPY takes two round trips where a prepared INSERT takes one, and at a
    paced 300 events/s the batches hold a handful of rows, where the round trip is worth more
    than the rows and a loaded machine makes each wake-up of the server cost latency: so
    batches under COPY_MIN_ROWS keep the single INSERT. asyncpg encodes COPY rows itself and
    lets a value it cannot encode (a lone surrogate, an int beyond int64) escape as a plain
    Python error, where a statement's arguments raise its DataError: that is raised here too,
    so `translated_errors` reports such a batch as refused either way."""
    if len(rows) < COPY_MIN_ROWS:
        await insert_unnest(conn, table, columns, rows)
        return
    try:
        await conn.copy_records_to_table(table, columns=[name for name, _ in columns],
                                         records=rows)
    except (UnicodeEncodeError, OverflowError, ValueError, TypeError) as exc:
        raise asyncpg.exceptions.DataError(f"invalid input for COPY {table}: {exc}") from exc


async def insert_unnest(conn: asyncpg.Connection, table: str, columns: Sequence[tuple[str, str]],
                        rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert `rows` by one `INSERT ... SELECT * FROM unnest($1::type[], ...)` statement."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, start=1))
    await conn.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})",
                       *([row[i] for row in rows] for i in range(len(columns))))


NODE_RUNS_SQL = (
    "INSERT INTO ledger_nodes (level, idx, hash)"
    " SELECT r.level, r.first + g, substring(r.hashes FROM g * 32 + 1 FOR 32)"
    " FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) AS r(level, first, hashes),"
    " generate_series(0, length(r.hashes) / 32 - 1) AS g")
"""The nodes of runs of consecutive indexes on one level: level $1[i], the run's first index
$2[i] and its hashes $3[i], 32 bytes each, one after the other (`node_runs`)."""


def node_runs(nodes: Sequence[tuple[int, int, bytes]]
              ) -> tuple[list[int], list[int], list[bytes]] | None:
    """`nodes` (level, index, hash) as NODE_RUNS_SQL's arrays: per level, each run of
    consecutive indexes as its first index and its hashes joined; None if a hash is not 32
    bytes long (the caller then inserts them one row each, and the table's check refuses)."""
    by_level: dict[int, list[tuple[int, bytes]]] = {}
    for level, index, hash_ in nodes:
        if len(hash_) != 32:
            return None
        by_level.setdefault(level, []).append((index, hash_))
    levels: list[int] = []
    firsts: list[int] = []
    packed: list[bytes] = []
    for level, row in by_level.items():
        row.sort()
        run: list[bytes] = []
        following = None
        for index, hash_ in row:
            if index != following:
                if run:
                    packed.append(b"".join(run))
                levels.append(level)
                firsts.append(index)
                run = []
            run.append(hash_)
            following = index + 1
        packed.append(b"".join(run))
    return levels, firsts, packed


async def insert_nodes(conn: asyncpg.Connection, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    """Insert Merkle nodes (level, index, hash) in conn's transaction.

    Design decision (issue 14, session 10): the nodes went in as three arrays of one element
    per node (`insert_unnest`), ~2 nodes per event, and asyncpg checks every array element
    against two ABCs and encodes it by itself. An append's nodes are, on each level, a run
    of consecutive indexes (the perfect subtrees it completes), so they go as one element
    per run (~10 a batch), the run's hashes joined, and the server cuts them up
    (`NODE_RUNS_SQL`). Measured on 500-record batches: the ingress worker's instructions per
    event 1,407.4 k -> 1,392.6 k (callgrind, IngressProcessor over PostgresIngressStore),
    the statement's server CPU 4.1 -> 3.6 and 4.6 -> 4.1 µs per event (two runs, the two
    statements alternating on one connection, bench/pg_statements.py). Not by COPY: for
    these three-column rows it cost 11 % more server CPU than the row-per-node statement
    (4.9 against 4.4 µs per event on 500-entry batches; session 6, measured as
    bench/append_statements.py measures the other two)."""
    runs = node_runs(nodes)
    if runs is None:
        await insert_unnest(conn, "ledger_nodes", _NODE_COLUMNS, nodes)
        return
    await conn.execute(NODE_RUNS_SQL, *runs)


RECORDS_SQL = (
    "SELECT ledger_index, record FROM ledger WHERE ledger_index >= $1 AND ledger_index < $2"
    " AND ($4 = 1 OR (hashtext(case_id) & 2147483647) % $4 = $3)")
"""The entries (index, record) of ledger indexes $1 to before $2 of the cases in partition
$3 of $4, in no particular order (`PostgresLedger.records` says why)."""


def _entry(row: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        ledger_index=row["ledger_index"],
        event_id=str(row["event_id"]),
        agency_id=row["agency_id"],
        case_id=row["case_id"],
        event_type=row["event_type"],
        event_time=row["event_time"],
        received_at=row["received_at"],
        keyid=row["keyid"],
        record=bytes(row["record"]),
        leaf_hash=bytes(row["leaf_hash"]),
    )


class PostgresLedger(ProofsFromNodes):
    """Appends under the ledger_head row lock (see audit/schema.sql); serves proofs."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- writes -------------------------------------------------------------------------

    async def lock_head(self, conn: asyncpg.Connection) -> CompactRange:
        """Take the appenders' lock for this transaction and return the current frontier."""
        row = await conn.fetchrow(
            "SELECT size, frontier FROM ledger_head WHERE singleton FOR UPDATE"
        )
        assert row is not None, "ledger_head missing: run migrations"
        return CompactRange(row["size"], [bytes(h) for h in row["frontier"]])

    async def append(
        self, conn: asyncpg.Connection, entries: Sequence[NewEntry], head: CompactRange | None = None
    ) -> list[LedgerEntry]:
        """Append entries at the next indexes, with their Merkle nodes, in conn's transaction."""
        if not entries:
            return []
        frontier = head if head is not None else await self.lock_head(conn)
        start = frontier.size
        hashes = [leaf_hash(e.record) for e in entries]
        nodes = frontier.extend(hashes)
        indexes = list(range(start, start + len(entries)))
        await insert_rows(
            conn, "ledger", _LEDGER_COLUMNS,
            [(i, e.event_id, e.agency_id, e.case_id, e.event_type, e.event_time, e.received_at,
              e.keyid, e.record, h) for i, e, h in zip(indexes, entries, hashes, strict=True)])
        await insert_nodes(conn, nodes)
        await conn.execute(
            "UPDATE ledger_head SET size = $1, frontier = $2, root_hash = $3 WHERE singleton",
            frontier.size,
            frontier.to_list(),
            frontier.root(),
        )
        return [
            LedgerEntry(i, e.event_id, e.agency_id, e.case_id, e.event_type, e.event_time,
                        e.received_at, e.keyid, e.record, h)
            for i, e, h in zip(indexes, entries, hashes, strict=True)
        ]

    # -- reads --------------------------------------------------------------------------

    async def tree_head(self) -> TreeHead:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT size, root_hash FROM ledger_head WHERE singleton")
        assert row is not None
        return TreeHead(row["size"], bytes(row["root_hash"]))

    async def entries(
        self,
        *,
        case_id: str | None = None,
        agency_id: str | None = None,
        start: int = 0,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM ledger WHERE ledger_index >= $1"
                " AND ($2::text IS NULL OR case_id = $2)"
                " AND ($3::text IS NULL OR agency_id = $3)"
                " ORDER BY ledger_index LIMIT $4",
                start, case_id, agency_id, limit,
            )
        return [_entry(r) for r in rows]

    async def records(self, start: int, stop: int, part: int = 0,
                      parts: int = 1) -> list[tuple[int, bytes]]:
        """(index, record) of the entries from `start` to before `stop`, in ledger order, of
        the cases in partition `part` of `parts` (by a hash of the case id, so every entry of
        a case falls in one partition: `rules replay` folds each partition in its own
        process). The caller bounds the range (`rules replay` reads it a page at a time).

        Design decision (session 7, issue 14): this was `... ORDER BY ledger_index LIMIT n`
        from `start` to the end of the ledger. Right after a bulk load (the replay's real
        case, and the benchmark's) the ledger has no statistics, and the partition filter's
        selectivity is a guess (0.5 %) even with them: PostgreSQL then expected fewer rows
        than the limit, read every remaining entry by a bitmap scan and sorted them all on
        disk (external merge, 31-63 MB) for each page of 5,000, or scanned it in parallel
        workers, so each page cost as much as the rest of the ledger (43 µs of PostgreSQL
        CPU per case of a 20,000-case replay, /tmp measurements in the session-7 report).
        A bounded range without ORDER BY has no plan that reads more than the range nor
        sorts: the rows come in heap order, which for this append-only table is ledger order
        but for a hole left by an aborted append reused, and are put in order here (a sort of
        already ordered ints, ~0.05 µs a row). Measured on a fresh and an analysed copy of
        the benchmark's ledger: 8-10 µs per case with one or two partitions, either way.
        Each partition still visits every entry of the range and drops the others' (~1 µs
        per case): reading once and handing records across processes would cost more."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(RECORDS_SQL, start, stop, part, parts)
        found = [(r[0], r[1]) for r in rows]
        found.sort()
        return found

    async def entries_by_event_ids(
        self, conn: asyncpg.Connection, event_ids: Sequence[str]
    ) -> dict[str, LedgerEntry]:
        rows = await conn.fetch("SELECT * FROM ledger WHERE event_id = ANY($1::uuid[])", event_ids)
        return {str(r["event_id"]): _entry(r) for r in rows}

    async def entry_by_event_id(self, event_id: str) -> LedgerEntry | None:
        async with self._pool.acquire() as conn:
            found = await self.entries_by_event_ids(conn, [event_id])
        return found.get(event_id)

    async def entry_at(self, index: int) -> LedgerEntry | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM ledger WHERE ledger_index = $1", index)
        return _entry(row) if row else None

    async def nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """The stored perfect-subtree hashes among ``ids``, in one query (absent ones omitted).

        Tried in session 6 and reverted: serving leaves (level 0) from `ledger.leaf_hash` and
        appending inner nodes only (about 2 µs of PostgreSQL CPU per event). The level-0 rows
        are an independent copy of each entry's leaf hash: with them `ledger verify` pins a
        swap of whole ledger rows on the entry (tests/integration/test_tamper.py, whole-rows);
        without them it could only name the level-1 node above it."""
        if not ids:
            return {}
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT n.level, n.idx, n.hash FROM ledger_nodes n"
                " JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)"
                " ON n.level = w.level AND n.idx = w.idx",
                [i[0] for i in ids], [i[1] for i in ids],
            )
        return {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
