"""PostgresCaseStore: the case store port (streams.ports.CaseStore) in PostgreSQL.

Case states, party index, processed and parked events, alerts and the alert outbox. Every
change happens in a `transaction()` session (see hub/sql/cases.sql for the locking rules); the
rules runner decides what to write. asyncpg errors become the hub's own (StoreUnavailable,
StoreError) at this seam. A case state (`streams.rules.CaseState`) is stored in two parts
(hub/sql/case_state_events.sql): its bounded fields as JSONB in `cases.state`, and its events
and steps, which grow with the case, one row per event in `case_state_events`, so a save
appends rows instead of rewriting a value that grows (issue 14). Alerts are stored as the JSON
of the contract's alert payload (`schemas.alert.Alert`).

Parsed states are kept per process (`StateCache`), keyed by case id and the row's `version`
(hub/sql/case_versions.sql), so locking a case whose row has not changed since this process
last read or wrote it costs no JSON transfer and no parse: the cost of an event no longer grows
with how many events its case already has (issue 14). The row stays authoritative: the state
is sent only when its version differs from the cached one, and a session's own saves enter the
cache only when its transaction commits (a rolled-back save leaves the cache as it was).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast, get_origin

import asyncpg
from pydantic import BaseModel

from hub.adapters.postgres import translated_errors
from schemas.alert import Alert
from schemas.model_json import json_text
from streams.ports import OutboxRow, ParkedEvent
from streams.rules import CaseState
from streams.rules.case_state import Record, by_sort_key

__all__ = ["STATE_SQL", "OutboxRow", "PostgresCaseSession", "PostgresCaseStore", "stored_state"]


CACHED_EVENTS = 20_000
"""How many events' worth of parsed case states a store keeps, least recently used dropped
first. A parsed state takes about 3 KB per event it holds (measured: 11.6 KB for a case of
four events, its JSON 1.7 KB), so about 60 MB; counted in events, not cases, so a few huge
cases cannot take unbounded memory."""


class StateCache:
    """Case states this process has read or committed, by case id, with the row version.

    Correct with several writing processes because a version is only ever compared, under
    the row lock, with the row's current one: every committed save increments it (one writer
    at a time holds the lock), so equal versions mean the same committed state. Entries are
    immutable `CaseState` values, shared without copying.
    """

    def __init__(self, events: int = CACHED_EVENTS) -> None:
        self._budget = events
        self._held = 0
        self._entries: OrderedDict[str, tuple[int, CaseState]] = OrderedDict()

    def version_of(self, case_id: str) -> int | None:
        entry = self._entries.get(case_id)
        return None if entry is None else entry[0]

    def get(self, case_id: str, version: int) -> CaseState | None:
        """The cached state if it was cached at exactly this version."""
        entry = self._entries.get(case_id)
        if entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(case_id)
        return entry[1]

    def put(self, case_id: str, version: int, state: CaseState) -> None:
        before = self._entries.pop(case_id, None)
        if before is not None:
            self._held -= _weight(before[1])
        weight = _weight(state)
        if weight > self._budget:
            return
        self._entries[case_id] = (version, state)
        self._held += weight
        while self._held > self._budget:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._held -= _weight(dropped)


PARSED_ALERTS = 20_000
"""How many stored alerts' parsed payloads a process keeps (about 2 KB each: ~40 MB)."""


class ParsedAlerts:
    """Stored alerts' payloads parsed once per process, keyed by the payload's text.

    `alerts_of` reads every stored alert of each case of a batch, and parsing them all again
    on every batch cost more as a case gathered alerts (issue 14). Keyed by the JSON text
    PostgreSQL returns (the `text` column keeps the text as written: the same stored value
    gives the same text), so an entry cannot be stale: a changed alert is a different text.
    `Alert` is frozen and the runner never changes one in place (`retracted` copies it), so
    entries are shared.
    Decision: when full, it is emptied, not trimmed by recency: a round
    over more cases' alerts than fit would make an LRU miss on every access, while emptying
    keeps most of each round's hits, costs nothing per access, and bounds memory the same.
    """

    def __init__(self, size: int = PARSED_ALERTS) -> None:
        self._size = size
        self._parsed: dict[str, Alert] = {}
        self.parses = 0

    def __call__(self, payload: str) -> Alert:
        alert = self._parsed.get(payload)
        if alert is None:
            alert = Alert.model_validate_json(payload)
            self.parses += 1
            if len(self._parsed) >= self._size:
                self._parsed.clear()
            self._parsed[payload] = alert
        return alert


def _weight(state: CaseState) -> int:
    return 1 + len(state.event_ids)


def _parked(row: Mapping[str, Any]) -> ParkedEvent:
    return ParkedEvent(str(row["event_id"]), row["case_id"], bytes(row["record"]), row["error"],
                       row["retry_at"], row["attempts"])


class PostgresCaseStore:
    """The rules layer's tables through an asyncpg pool; no rule logic."""

    def __init__(self, pool: asyncpg.Pool, cache: StateCache | None = None) -> None:
        self._pool = pool
        self.cache = StateCache() if cache is None else cache
        self.alerts = ParsedAlerts()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresCaseSession]:
        """One connection and transaction; commits when the block exits normally."""
        async with translated_errors(), self._pool.acquire() as conn:
            async with conn.transaction():
                session = PostgresCaseSession(conn, self.cache, self.alerts)
                yield session
            # Committed: the states this session read or saved are now what the rows hold.
            for case_id, (version, state) in session.seen.items():
                self.cache.put(case_id, version, state)

    async def parked_events(self) -> list[ParkedEvent]:
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM rules_parked_events ORDER BY retry_at, event_id")
        return [_parked(r) for r in rows]

    async def unpublished_count(self) -> int:
        async with translated_errors(), self._pool.acquire() as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM alert_outbox WHERE published_at IS NULL"
            )
        return count

    async def open_count(self) -> int:
        async with translated_errors(), self._pool.acquire() as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM alerts WHERE status = 'open'")
        return count

    async def list_alerts(
        self, *, status: str | None = None, case_id: str | None = None
    ) -> list[Alert]:
        """Current alerts, oldest first, optionally of one status and one case."""
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT payload FROM alerts WHERE ($1::text IS NULL OR status = $1)"
                " AND ($2::text IS NULL OR case_id = $2) ORDER BY first_raised_at, alert_id",
                status, case_id,
            )
        return [Alert.model_validate_json(r["payload"]) for r in rows]


_ROW_FIELDS = frozenset(
    f for f, info in CaseState.model_fields.items()
    if f not in ("event_ids", "parties") and get_origin(info.annotation) is tuple)
"""CaseState's sorted lists of steps (records): stored as rows of case_state_events, one per
event, with the event ids; every other field is the bounded `cases.state` value
(hub/sql/case_state_events.sql)."""

_BOUNDED = frozenset(CaseState.model_fields) - _ROW_FIELDS - {"event_ids"}

_FIELDS = tuple(CaseState.model_fields)
"""CaseState's fields, read once: `model_fields` costs ~1 µs a read, a save compared every
field's value by identity through it (issue 14)."""

_BOUNDED_SET = set(_BOUNDED)
"""`_BOUNDED` as pydantic's `include` takes it."""

_MODEL_FIELDS = frozenset(
    f for f in _BOUNDED if isinstance(t := CaseState.model_fields[f].annotation, type)
    and issubclass(t, BaseModel))
"""The bounded fields whose value is always a model (the figures): `_patch` dumps it by
itself."""

STATE_SQL = "linkage_case_state(c.case_id, c.state)"
"""The whole state's JSON of the case row `c` (bounded value and rows), for `stored_state`."""

_VERSIONED = ("c.case_id, c.version,"
              f" CASE WHEN c.version = k.known THEN NULL ELSE {STATE_SQL} END AS state")
"""The columns of a case read through the cache: its state only when the version differs."""


def stored_state(text: str) -> CaseState:
    """A state as `linkage_case_state` reassembles it, its lists put back in the order
    `streams.rules.apply` keeps them (each step list by the steps' own keys, event ids
    sorted): the rows come in no particular order."""
    state = CaseState.model_validate_json(text)
    update: dict[str, tuple[Any, ...]] = {
        f: tuple(sorted(steps, key=by_sort_key))
        for f in _ROW_FIELDS if len(steps := getattr(state, f)) > 1}
    update["event_ids"] = tuple(sorted(state.event_ids))
    return state.model_copy(update=update)


def _patch(state: CaseState, fields: AbstractSet[str]) -> str:
    """The JSON object of these top-level fields of `state`, for `||` into its row: a field
    holding a model (the figures, which most events change) is dumped by that model itself,
    the others by the state with `include` (which costs about as much again, issue 14)."""
    if len(fields) == 1 and "figures" in fields:  # the usual: an assessment's new figures
        return f'{{"figures":{json_text(state.__dict__["figures"])}}}'
    parts = []
    rest = set()
    for field in sorted(fields):
        value = state.__dict__[field]
        # Its type's flag, not `isinstance(value, BaseModel)`: that goes through
        # `ABCMeta.__instancecheck__` in Python (a model's metaclass is an ABCMeta).
        if field in _MODEL_FIELDS:
            parts.append(f'"{field}":{json_text(value)}')
        else:
            rest.add(field)
    if rest:
        parts.append(state.model_dump_json(include=rest)[1:-1])
    return "{" + ",".join(parts) + "}"


_QUEUE_STATS = ("queued AS (INSERT INTO stats_dirty (case_id) SELECT case_id FROM up"
                " ON CONFLICT DO NOTHING)")
"""The CTE by which a save statement queues the cases it updated (`up`) for the statistics:
the row trigger on `cases` leaves an update that increments `version` to its writer
(hub/sql/case_saves.sql: ~3-9 µs of PostgreSQL CPU less per saved case)."""


_Row = tuple[str, str, str | None, str | None]
"""A case_state_events row to insert: case id, event id, step list (field), step JSON."""


_STEP_LISTS = tuple(sorted(_ROW_FIELDS))


_SEP, _NULL = "\x1f", "\x1e"
"""The separator and the NULL marker of the columns `_packed` joins into one text."""


def _packed(columns: Sequence[Sequence[Any]]) -> list[str] | None:
    """Each column's values joined into one text, by _SEP, a None as _NULL: what
    `string_to_array($n, E'\\x1f', E'\\x1e')` (`_unnest`) splits back into the very
    values; None (send arrays) when some value would not come back as it was: it holds the
    separator, it is the NULL marker, or it is a column's only value and empty (which splits
    into no value at all).

    Design decision (session 8, issue 14): asyncpg checks every element of an array
    parameter against abstract base classes in Python (`_get_array_shape` calls
    `ABCMeta.__instancecheck__` twice a string: ~11 % of the CLI's CPU in a profile of the
    statements creating cases and recording alerts; ~22 elements a case created). A column
    sent as one text costs no such check, and `str.join` and `str.count` run in C. Measured
    by re-running the `_create` statements of a 20,000-case replay (PostgreSQL under
    callgrind): the CLI 42.9 -> 38.3 µs a case, PostgreSQL 269.0 k -> 270.4 k instructions a
    case (+0.5 %: splitting the texts instead of reading arrays). For record_alerts only its
    rule ids and agencies (`ALERTS_PACKED`, which says why). Ids do not hold control
    characters in practice; a value that does is sent the careful way (arrays), not
    refused."""
    texts = []
    for values in columns:
        if None in values:
            text = _SEP.join(_NULL if v is None else v for v in values)
        else:
            text = _SEP.join(cast(Sequence[str], values))
        if (text.count(_SEP) != len(values) - 1 if values else text) or _NULL in values or (
                len(values) == 1 and values[0] == ""):
            return None
        texts.append(text)
    return texts


def _parameters(columns: Sequence[Sequence[Any]], flags: Sequence[bool]
                ) -> tuple[bool, list[Any]]:
    """(packed, parameters): the columns `flags` marks joined by `_packed` and the others
    as arrays, or every column an array when `_packed` declines."""
    packed = _packed([c for c, f in zip(columns, flags, strict=True) if f])
    if packed is None:
        return False, list(columns)
    texts = iter(packed)
    return True, [next(texts) if f else c for c, f in zip(columns, flags, strict=True)]


def _array(parameter: int, sql_type: str, packed: bool) -> str:
    """The array `$parameter::sql_type[]`, from the text `_packed` joined when `packed`."""
    if packed:
        return f"string_to_array(${parameter}, E'\\x1f', E'\\x1e')::{sql_type}[]"
    return f"${parameter}::{sql_type}[]"


def _unnest(first: int, types: Sequence[str], packed: Sequence[bool]) -> str:
    """`unnest(...)` of parameters $first.. holding columns of these types, each a text
    `_packed` joined (where `packed` says so) or an array."""
    return "unnest(" + ", ".join(
        _array(first + i, t, p) for i, (t, p) in enumerate(zip(types, packed, strict=True))
    ) + ")"


def _alerts_sql(packed: Sequence[bool]) -> str:
    """record_alerts' upsert over $1..$7 (alert id, rule, case, agency, status, payload,
    envelope; each a text `_packed` joined where `packed` says so, or an array): each
    alert's row written or updated, and its envelope queued in the outbox in the alerts'
    order (only for an alert the same statement wrote)."""
    rows = ("INSERT INTO alerts AS a (alert_id, rule_id, case_id, agency, status, payload)"
            f" SELECT * FROM {_unnest(1, ('uuid',) + ('text',) * 5, packed[:6])}")
    # The outbox rows take the alerts' own parameters (issue 14): the ids, statuses and case
    # ids are encoded and sent once.
    outbox = ("INSERT INTO alert_outbox (alert_id, status, case_id, envelope)"
              " SELECT o.alert_id, o.status, o.case_id, o.envelope FROM unnest("
              + ", ".join(_array(n, t, packed[n - 1])
                          for n, t in ((1, "uuid"), (5, "text"), (3, "text"), (7, "bytea")))
              + ") WITH ORDINALITY AS o(alert_id, status, case_id, envelope, n)")
    return (f"WITH a AS ({rows} ON CONFLICT (alert_id) DO UPDATE SET status = EXCLUDED.status,"
            " payload = EXCLUDED.payload, agency = EXCLUDED.agency, updated_at = now()"
            f" RETURNING a.alert_id) {outbox}"
            " WHERE o.alert_id IN (SELECT alert_id FROM a) ORDER BY n")


_ALERT_COLUMNS = ("alert_id", "rule_id", "case_id", "agency", "status", "payload")
_OUTBOX_COLUMNS = ("alert_id", "status", "case_id", "envelope")
"""The columns record_alerts copies new alerts and their envelopes into (binary COPY)."""


ALERTS_PACKED = (False, True, False, True, False, False, False)
"""Which parameters of `_alerts_sql` are `_packed`: the rule ids and agencies, which only the
alerts' rows read. Session 8 packed all five id columns: the CLI ~3-6 µs a case less, but
PostgreSQL 13 k instructions a case more (the texts cast to uuid, and the case ids and
statuses split twice, for the outbox too). Session 12 measured the columns one by one
(bench/pg_callgrind.py alerts, PostgreSQL's instructions per case): as arrays 238.3 k; rule
ids and agencies packed 238.4 k; case ids and statuses too 241.9 k (+3.6 k, about what the
CLI's element checks of those two columns cost: no gain). The CLI, replaying 2,000 cases
under callgrind: 13.3 k instructions a case less, ~0.8 % of its work a case, for these two
columns together with direct calls of the signer and of libsodium for each alert; those
calls were not kept (a Python call or two an alert, not worth a second way of signing), so
the packing alone saves somewhat less. The alert ids stay a uuid array
(binary, no text cast), the payloads and envelopes arrays (`CREATE_PACKED` says why)."""
ALERTS_SQL = {packed: _alerts_sql(ALERTS_PACKED if packed else (False,) * 7)
              for packed in (True, False)}
"""record_alerts' upserts by packed: see `_alerts_sql`."""


def _neighbours_sql(packed: bool) -> str:
    return (
        "SELECT DISTINCT a.case_id AS case_id, b.other"
        f" FROM unnest({_array(1, 'text', packed)}) AS q(case_id),"
        " LATERAL (SELECT a.id_type, a.id_number, a.case_id FROM case_parties a"
        " WHERE a.case_id = q.case_id OFFSET 0) AS a,"
        " LATERAL (SELECT b.case_id AS other FROM case_parties b WHERE b.id_type = a.id_type"
        " AND b.id_number = a.id_number AND b.case_id <> a.case_id OFFSET 0) AS b")


NEIGHBOURS_SQL = {packed: _neighbours_sql(packed) for packed in (True, False)}
"""The cases sharing a party with each of $1 (its ids `_packed`, or an array): each case's
parties looked up in the party index by case id, then each party in its primary key. Both
look-ups are LATERAL subqueries the planner may not flatten (OFFSET 0) so that the plan does
not depend on statistics nor on the parameter's value:

* as a join, right after many cases were written and before autovacuum analysed
  case_parties (a replay, a bulk load), PostgreSQL estimated the table at half its size and
  sorted all of it for a merge join on every call (issue 14: 42 µs per case of a replay over
  stored cases, 24-35 ms a call of 500 cases, against 3 ms this way; with fresh statistics
  both take the same nested loop, 2.1 ms);
* with the cases as a filter `a.case_id = ANY($1)` (until session 11), the generic plan a
  connection keeps from its sixth call on, made while case_parties was still small (a replay
  into an empty database), scanned the whole table and compared each row's case id with
  every id of $1 in turn (a parameter's array is not hashed as a constant's is): 30 ms on
  the sixth call of 500 cases, growing with the table, 110 ms at 10,000 cases (~100 µs of
  PostgreSQL CPU per replayed case, against ~5 before the sixth call). Driven by the ids
  instead, each is one probe of case_parties_case_idx whatever the plan.

The price, where the old plan was a good one: the probes are bitmap scans, one per id, while
the table has no statistics (PostgreSQL under callgrind, 500-id calls over 4,000 stored
cases: 31.9 k -> 38.0 k instructions per case asked; bench/replay.py --pg-statements
4.1-4.9 -> 5.6-6.8 µs/case). `rules replay` no longer asks about the cases it creates
(`PostgresCaseSession._note_neighbours`), which more than pays it back there. The ids are
sent `_packed` (one text: no per-element checks in asyncpg, issue 14)."""


def _create_sql(packed: Sequence[bool]) -> str:
    return (
        "WITH c AS ("
        " INSERT INTO cases (case_id, agency, state)"
        f" SELECT * FROM {_unnest(1, ('text', 'text', 'jsonb'), packed[:3])}"
        " AS s(case_id, agency, state)"
        " ORDER BY case_id ON CONFLICT DO NOTHING RETURNING case_id, version),"
        " e AS ("
        " INSERT INTO case_state_events (case_id, event_id, field, step)"
        f" SELECT * FROM {_unnest(4, ('text',) * 4, packed[3:7])}"
        "  AS r(case_id, event_id, field, step) WHERE r.case_id IN (SELECT case_id FROM c)),"
        f" k AS (SELECT * FROM {_unnest(8, ('text',) * 3, packed[7:])} AS k(id_type,"
        "  id_number, case_id) WHERE k.case_id IN (SELECT case_id FROM c)),"
        " p AS (INSERT INTO case_parties (id_type, id_number, case_id) SELECT * FROM k),"
        " n AS (SELECT k.case_id, b.other FROM k, LATERAL (SELECT b.case_id AS other"
        "  FROM case_parties b WHERE b.id_type = k.id_type AND b.id_number = k.id_number"
        "  AND b.case_id <> k.case_id OFFSET 0) AS b)"
        " SELECT case_id, version, NULL AS other FROM c"
        " UNION ALL SELECT case_id, NULL, other FROM n")
    # `n`: the cases already stored that share a party with each case inserted, as
    # NEIGHBOURS_SQL would find them right after this statement but for the rows this
    # statement inserts (a statement does not see its own rows): `_create` adds those
    # pairs, among the cases it inserts, itself (`PostgresCaseSession._created_neighbours`).


CREATE_PACKED = (True, True, False, True, True, True, False, True, True, True)
"""Which parameters of `_create_sql` are `_packed`: every id and name; not the JSON (a
state, a step), which PostgreSQL would scan byte by byte for the separator: packing them
too saved the CLI about 1 µs a case more and cost PostgreSQL 3 % more instructions."""
CREATE_SQL = {packed: _create_sql(CREATE_PACKED if packed else (False,) * 10)
              for packed in (True, False)}
"""PostgresCaseSession._create's statement, with its columns packed or as arrays."""


def _id_array(ids: Sequence[str], sql_type: str) -> tuple[str, Any]:
    """(SQL, parameter) of the array `$1::sql_type[]` of these ids: the ids joined into one
    text (`_packed`) split by `string_to_array`, or the list itself when `_packed` declines.

    For the statements of every rules batch whose parameter is the batch's event or case
    ids, read once (issue 14, session 9: asyncpg checks every element of an array parameter
    against two ABCs in Python, ~1.9 k instructions an element; PostgreSQL splits the text
    instead of reading an array: not a gain for a statement that reads it twice)."""
    packed, (parameter,) = _parameters([ids], (True,))
    return _array(1, sql_type, packed), parameter


def _case_filter(ids: Sequence[str]) -> tuple[str, Any]:
    """(SQL, parameter) of the condition `case_id = ANY(...)` on these case ids (`_id_array`)
    whose plan is an index probe per id, whatever statistics the table has.

    Design decision (session 12, issue 14): with the array itself (`ANY($1)`), PostgreSQL
    plans each of a connection's first five calls for the ids it is given (custom plans): on
    a table never analysed (a replay into an empty store; the replay runs no ANALYZE) it
    takes every one of 500 ids on a non-unique index (alerts_case_idx) to match 0.5 % of the
    rows, all of them, and reads the whole table; on cases_pkey too while the table holds
    up to some 20 times as many rows as ids. EXPLAIN (ANALYZE) on never-analysed copies of a 20,000-case replay's
    tables, 500 ids, half present: alerts_of 0.5 / 2.8 / 28.4 ms at 1,000 / 10,000 / 30,000
    alerts (bitmap probes of alerts_case_idx: 0.6-1.0 ms), `_lock` 0.7 / 1.9 ms at 1,000 /
    10,000 cases (probes: 0.7-1.1). Behind a scalar subquery (an InitPlan, computed once) the
    array is no constant to the planner, which then plans for 10 ids, as in the generic plan
    of later calls: the index probes, custom or generic, from ~1,000 rows up (a table of a
    few pages is scanned, 0.1-0.3 ms). Not `unnest` + LATERAL (NEIGHBOURS_SQL's form): on
    alerts, without statistics, that plan's estimate (500 probes of 0.5 % of the table each)
    passes jit_above_cost, and the custom plan was compiled on every such call (16 ms at
    30,000 compact rows, 180-500 ms on the replayed table of 5,000 pages, against 0.8 ms)."""
    array, parameter = _id_array(ids, "text")
    return f"case_id = ANY((SELECT {array})::text[])", parameter


def _save_sql(packed: Sequence[bool]) -> str:
    return (
        "WITH up AS ("
        " UPDATE cases c SET state = CASE WHEN s.patch IS NULL THEN c.state"
        "  ELSE c.state || s.patch END,"
        "  agency = s.agency, updated_at = now(), version = c.version + 1"
        f" FROM {_unnest(1, ('text', 'bigint', 'jsonb', 'text'), packed[:4])}"
        "  AS s(case_id, base, patch, agency)"
        " WHERE c.case_id = s.case_id AND c.version = s.base"
        " RETURNING c.case_id, c.version),"
        " added AS ("
        " INSERT INTO case_state_events (case_id, event_id, field, step)"
        " SELECT r.case_id, r.event_id, r.field, r.step"
        f" FROM {_unnest(5, ('text',) * 4, packed[4:])}"
        "  AS r(case_id, event_id, field, step)"
        " WHERE r.case_id IN (SELECT case_id FROM up)),"
        f" {_QUEUE_STATS} SELECT case_id, version FROM up")


SAVE_PACKED = (True, False, False, True, True, True, True, False)
"""Which parameters of `_save_sql` are `_packed`: the ids, agencies and step lists (issue 14,
session 9: asyncpg checked each of their ~10 elements a saved event against two ABCs in
Python, ~1.9 k instructions a check, ~19 k of the rules worker's ~415 k an event in
bench/rules_decide.py); not the base versions (no string) nor the JSON (a patch, a step),
for the reason `CREATE_PACKED` gives."""
SAVE_SQL = {packed: _save_sql(SAVE_PACKED if packed else (False,) * 8)
            for packed in (True, False)}
"""PostgresCaseSession.save_cases' patch statement, with its columns packed or as arrays."""


def _rows_of(state: CaseState) -> list[_Row] | None:
    """Every case_state_events row of `state` (one per event, with the step it left), or
    None when its steps do not each belong to one event of its own (the trigger of
    hub/sql/case_state_events.sql refuses such a state). The rows `_added_rows` finds
    against an empty state, without building one (8 µs) nor diffing against it (issue 14:
    ~33 µs a new case, now ~15, nearly all of it dumping the steps)."""
    steps: dict[str, tuple[str, str]] = {}
    fields = state.__dict__
    for field in _STEP_LISTS:
        for record in fields[field]:
            if record.event_id in steps:
                return None
            steps[record.event_id] = (field, json_text(record))
    ids = state.event_ids
    if len(set(ids)) != len(ids):
        return None
    rows: list[_Row] = []
    for event_id in ids:
        step = steps.pop(event_id, None)
        rows.append((state.case_id, event_id, None, None) if step is None else
                    (state.case_id, event_id, step[0], step[1]))
    return None if steps else rows


def _inserted(old: tuple[str, ...], new: tuple[str, ...]) -> str | None:
    """The one id the sorted `new` inserts into the sorted `old` (the usual event), found
    by bisection and checked with two tuple comparisons in C; None if it is not that."""
    if len(new) != len(old) + 1:
        return None
    lo, hi = 0, len(old)
    while lo < hi:  # the first index where they differ
        mid = (lo + hi) // 2
        if new[mid] == old[mid]:
            lo = mid + 1
        else:
            hi = mid
    if new[lo + 1:] != old[lo:] or new[:lo] != old[:lo]:
        return None
    return new[lo]


def _added_rows(old: CaseState, new: CaseState, changed: AbstractSet[str]) -> list[_Row] | None:
    """The rows `new` adds to `old` when all it does to their lists is add events, each with
    at most one new step (what `apply` does); None for any other change (a step replaced or
    gone, an event gone), which is then written whole. `changed`: the fields of `new` that
    are not the very object of `old` (`apply` shares every unchanged one)."""
    # The fields read from the states' dicts (issue 14, session 9: a model's attribute costs
    # ~3 times a dict's item).
    was, now = old.__dict__, new.__dict__
    added: set[str] = set()
    if "event_ids" in changed:
        old_ids, new_ids = was["event_ids"], now["event_ids"]
        one = _inserted(old_ids, new_ids)
        added = {one} if one is not None else set(new_ids).difference(old_ids)
        if len(new_ids) != len(old_ids) + len(added):
            return None
    steps: dict[str, tuple[str, Record]] = {}
    for field in changed & _ROW_FIELDS:
        before, after = was[field], now[field]
        gained: tuple[Record, ...]
        if len(after) == len(before) + 1 and after[:-1] == before:  # the usual: sorts last
            gained = after[-1:]
        else:
            kept = {id(r) for r in before}
            gained = tuple(r for r in after if id(r) not in kept)
            if len(after) - len(gained) != len(before):
                return None
        for record in gained:
            event_id = record.__dict__["event_id"]
            if event_id not in added or event_id in steps:
                return None
            steps[event_id] = (field, record)
    case_id = now["case_id"]
    rows: list[_Row] = []
    for event_id in sorted(added):
        step = steps.get(event_id)
        rows.append((case_id, event_id, None, None) if step is None else
                    (case_id, event_id, step[0], json_text(step[1])))
    return rows


class PostgresCaseSession:
    """The statements of one case-store transaction, on its connection."""

    def __init__(self, conn: asyncpg.Connection, cache: StateCache | None = None,
                 alerts: ParsedAlerts | None = None) -> None:
        self._conn = conn
        self._cache = StateCache(0) if cache is None else cache
        self._alert = ParsedAlerts(0) if alerts is None else alerts
        self.seen: dict[str, tuple[int, CaseState]] = {}
        """(version, state) of every case row this session read or wrote, for the cache."""
        self._due: dict[str, datetime | None] = {}
        """The next deadline of every case row this session locked, as the row holds it."""
        self._no_alerts: set[str] = set()
        """The cases this session found holding no alert row (`alerts_of`) and gave none."""
        self._created_neighbours: dict[str, set[str]] = {}
        """The neighbours of the cases `_create` last inserted (`_note_neighbours`)."""

    def _version_known(self, case_id: str) -> int | None:
        mine = self.seen.get(case_id)
        return mine[0] if mine is not None else self._cache.version_of(case_id)

    async def _states(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, CaseState]:
        """States of rows carrying (case_id, version[, state-or-NULL]): without a state, the
        one this session or the cache holds at that version is reused instead of parsed; a
        state neither holds (never read, changed, or evicted meanwhile) is read, all such in
        one more statement."""
        found: dict[str, CaseState] = {}
        missing: list[str] = []
        for r in rows:
            case_id, version = r["case_id"], r["version"]
            mine = self.seen.get(case_id)
            text = r.get("state")
            if text is not None:
                state: CaseState | None = stored_state(text)
            elif mine is not None and mine[0] == version:
                state = mine[1]
            else:
                state = self._cache.get(case_id, version)
            if state is None:
                missing.append(case_id)
                continue
            self.seen[case_id] = (version, state)
            found[case_id] = state
        if missing:
            for r in await self._conn.fetch(
                    f"SELECT c.case_id, c.version, {STATE_SQL} AS state FROM cases c"
                    " WHERE c.case_id = ANY($1::text[])", missing):
                state = stored_state(r["state"])
                self.seen[r["case_id"]] = (r["version"], state)
                found[r["case_id"]] = state
            found = {r["case_id"]: found[r["case_id"]] for r in rows if r["case_id"] in found}
        return found

    def _known(self, case_ids: Sequence[str]) -> list[int | None]:
        return [self._version_known(c) for c in case_ids]

    # -- events ---------------------------------------------------------------------------

    async def processed(self, event_ids: Collection[str]) -> set[str]:
        """The ids among `event_ids` already folded into their case."""
        ids, parameter = _id_array(list(event_ids), "uuid")
        rows = await self._conn.fetch(
            f"SELECT event_id FROM processed_events WHERE event_id = ANY({ids})", parameter)
        return {str(r["event_id"]) for r in rows}

    _unparked: frozenset[str] = frozenset()
    """Ids whose parked rows mark_processed already deleted in this transaction."""

    async def mark_processed(self, event_ids: Collection[str]) -> None:
        """Mark these events folded; any of them still parked is unparked in the same statement.

        Design decision (session 6, issue 14): the rules runner marks the applied events and
        then unparks the same ids; a processed event has no business staying parked, so this
        statement deletes their parked rows too (a data-modifying CTE) and `unpark` skips the
        ids already done here. Measured: the separate DELETE cost about 0.5 µs of PostgreSQL
        CPU per event plus a round trip per batch (bench/ingress.py --pg-statements)."""
        if event_ids:
            ids = list(event_ids)
            # Not packed (`_id_array`): the statement reads its array twice, and PostgreSQL
            # split and cast the text twice (bench/ingress.py --pg-statements, issue 14,
            # session 9: 4.2 -> 6.4 µs/event, more than asyncpg's checks it saved).
            await self._conn.execute(
                "WITH unparked AS (DELETE FROM rules_parked_events WHERE event_id = ANY($1::uuid[]))"
                " INSERT INTO processed_events (event_id) SELECT unnest($1::uuid[])"
                " ON CONFLICT DO NOTHING",
                ids,
            )
            self._unparked = self._unparked | frozenset(ids)

    async def park(self, events: Sequence[ParkedEvent]) -> None:
        """Keep these events for a later try; one already parked counts one more attempt."""
        if events:
            await self._conn.execute(
                "INSERT INTO rules_parked_events AS p"
                " (event_id, case_id, record, error, retry_at, attempts)"
                " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[],"
                " $5::timestamptz[], $6::int[])"
                " ON CONFLICT (event_id) DO UPDATE SET error = EXCLUDED.error,"
                " retry_at = EXCLUDED.retry_at, attempts = p.attempts + 1, parked_at = now()",
                [e.event_id for e in events], [e.case_id for e in events],
                [e.record for e in events], [e.error for e in events],
                [e.retry_at for e in events], [e.attempts for e in events],
            )

    async def lock_parked(self, now: datetime, limit: int) -> list[ParkedEvent]:
        """Row-lock up to `limit` parked events due for a retry, skipping locked ones."""
        rows = await self._conn.fetch(
            "SELECT * FROM rules_parked_events WHERE retry_at <= $1"
            " ORDER BY retry_at, event_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, limit,
        )
        return [_parked(r) for r in rows]

    async def unpark(self, event_ids: Collection[str]) -> None:
        left = [e for e in event_ids if e not in self._unparked]
        if left:
            await self._conn.execute(
                "DELETE FROM rules_parked_events WHERE event_id = ANY($1::uuid[])", left)

    # -- cases ----------------------------------------------------------------------------

    async def lock_cases(
        self, case_ids: Collection[str], initial: Mapping[str, CaseState] | None = None
    ) -> dict[str, CaseState]:
        """Row-lock these cases (creating absent ones), in case-id order to limit deadlocks.

        The cases that exist (nearly all, once a case has had its first event) are locked
        by one statement; only those it does not find are inserted, and any of those that
        another writer created meanwhile is locked by a third (issue 14: inserting every
        case of every batch first cost a statement and an index probe per case). A case
        created holds its state in `initial` if there is one (see `_create`), else none."""
        ids = sorted(set(case_ids))
        if not ids:
            return {}
        rows = list(await self._lock(ids))
        missing = sorted(set(ids).difference(r["case_id"] for r in rows))
        if missing:
            if initial:
                made = await self._create([initial.get(c) or CaseState(case_id=c)
                                           for c in missing])
            else:
                made = {r["case_id"]: (r["version"], CaseState(case_id=r["case_id"]))
                        for r in await self._conn.fetch(
                            "INSERT INTO cases (case_id, state) SELECT id,"
                            " jsonb_build_object('case_id', id) FROM unnest($1::text[]) AS id"
                            " ORDER BY id ON CONFLICT DO NOTHING RETURNING case_id, version",
                            missing)}
            for case_id, (version, state) in made.items():  # known without reading them back
                self.seen[case_id] = (version, state)
                self._due[case_id] = None
                rows.append({"case_id": case_id, "version": version})
            raced = sorted(set(missing).difference(made))
            if raced:  # committed by another writer after the first statement's snapshot
                rows += await self._lock(raced)
        return await self._states(rows)

    async def _create(self, states: Sequence[CaseState]) -> dict[str, tuple[int, CaseState]]:
        """Insert these cases (sorted by id), each with its whole state, its case_state_events
        rows and its party index in one statement; (version, state) of those inserted (one
        another writer inserted first is left out, as the empty insert leaves it out).

        Issue 14: `rules replay` created an empty row for each case new to the store, then
        patched it with the folded state (a second row version, its index entries and a
        statistics trigger again) and wrote its party index in two more statements: three
        writes of a row written once here, as a save of the state into its empty row would
        (the same rows, `_rows_of`). A state whose steps do not each belong to one
        event of its own is sent whole instead, and the trigger of
        hub/sql/case_state_events.sql refuses it as it refuses such a save."""
        values: list[str] = []
        rows: list[_Row] = []
        keys: list[tuple[str, str, str]] = []
        for state in states:
            added = _rows_of(state)
            if added is None:
                values.append(state.model_dump_json())
            else:  # `include` dumps every bounded field at once faster than `_patch`
                values.append(json_text(state, _BOUNDED_SET))
                rows += added
            keys += [(kind, number, state.case_id) for kind, number in state.party_keys]
        columns: list[Sequence[str | None]] = [
            [s.case_id for s in states], [s.agency for s in states], values,
            *(zip(*rows, strict=True) if rows else ((), (), (), ())),
            *(zip(*keys, strict=True) if keys else ((), (), ()))]
        packed, parameters = _parameters(columns, CREATE_PACKED)
        found = await self._conn.fetch(CREATE_SQL[packed], *parameters)
        by_id = {s.case_id: s for s in states}
        made = {r["case_id"]: (r["version"], by_id[r["case_id"]]) for r in found
                if r["version"] is not None}
        self._note_neighbours(made, keys, [(r["case_id"], r["other"]) for r in found
                                           if r["version"] is None])
        return made

    def _note_neighbours(self, made: Mapping[str, object],
                         keys: Sequence[tuple[str, str, str]],
                         stored: Sequence[tuple[str, str]]) -> None:
        """Keep, for `neighbours`, the cases sharing a party with each case `_create` just
        inserted: `stored` (the statement's pairs with cases stored before it) and the pairs
        among the cases it inserted, from their party keys.

        Design decision (session 11, issue 14): `rules replay` asked NEIGHBOURS_SQL about
        every case it had just created, in the same transaction, right after the statement
        that wrote their party rows. The statement now finds the stored ones itself (one
        primary-key probe per party, which its insert of the party rows just made anyway).
        The answer is what the query would give at the statement, not a little later: equal
        unless another transaction commits a sharing case in between, which a replay's
        concurrent chunks already may do either side of the query. The parties of cases
        created earlier in this transaction changed the stored set: what was kept before
        is dropped, as `_replace_parties` drops it all.
        Measured (PostgreSQL under callgrind, one backend running lock_cases(initial=) +
        neighbours + load_cases over 2,500 cases in chunks of 500, custom plans): 313.0 k ->
        303.4 k instructions per case; bench/replay.py --cases 20000 --db --pg-statements,
        three interleaved pairs: the create statement +0 to 1 µs/case, the neighbours
        statement (4.8-5.7 µs/case) gone."""
        found: dict[str, set[str]] = {c: set() for c in made}
        by_key: dict[tuple[str, str], list[str]] = {}
        for kind, number, case_id in keys:
            if case_id in found:
                by_key.setdefault((kind, number), []).append(case_id)
        for sharing in by_key.values():
            if len(sharing) > 1:
                for case_id in sharing:
                    found[case_id].update(o for o in sharing if o != case_id)
        for case_id, other in stored:
            found[case_id].add(other)
        self._created_neighbours = found

    async def _lock(self, ids: Sequence[str]) -> list[asyncpg.Record]:
        """Row-lock these existing cases, in case-id order; their versions and deadlines.

        The lock first, the states after (in _states): a state read in the locking statement
        would come from its snapshot, taken before the lock was granted, so a writer
        committing meanwhile would show its row's new version but not its new
        case_state_events rows. A version this process holds needs no second statement."""
        condition, parameter = _case_filter(ids)
        rows: list[asyncpg.Record] = await self._conn.fetch(
            f"SELECT case_id, version, next_due_at FROM cases WHERE {condition}"
            " ORDER BY case_id FOR UPDATE", parameter)
        self._due.update((r["case_id"], r["next_due_at"]) for r in rows)
        return rows

    async def lock_due(
        self, now: datetime, limit: int
    ) -> dict[str, CaseState]:
        """Row-lock up to `limit` cases whose next deadline has passed, skipping locked ones."""
        rows = await self._conn.fetch(
            "SELECT case_id, next_due_at FROM cases WHERE next_due_at <= $1"
            " ORDER BY next_due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, limit,
        )
        self._due.update((r["case_id"], r["next_due_at"]) for r in rows)
        due = [r["case_id"] for r in rows]
        states = await self.load_cases(due)  # locked above, so read as locked
        return {c: states[c] for c in due}

    async def load_cases(
        self, case_ids: Collection[str]
    ) -> dict[str, CaseState]:
        """Case states without a lock (the related cases an evaluation reads)."""
        if not case_ids:
            return {}
        ids = list(case_ids)
        rows = await self._conn.fetch(
            f"SELECT {_VERSIONED} FROM cases c JOIN unnest($1::text[], $2::bigint[])"
            " AS k(case_id, known) USING (case_id)",
            ids, self._known(ids),
        )
        return await self._states(rows)

    async def save_cases(self, states: Sequence[CaseState]) -> None:
        """Store these (locked) cases' states and replace their party index entries.

        A case this session read at version v, whose lists only gained events (each with at
        most one step: what `apply` does), is saved as a patch: the new events' rows are
        inserted into case_state_events, and of the bounded value only the top-level fields
        that are not the very object it read (`apply` shares every unchanged one) are
        serialised and merged into the row (`||`); the row and its JSONB stay the same size
        however many events the case has. Its party index is left alone when its parties
        are. The row must still be at v (it is, under the lock); else, like a case never read
        or one whose steps changed otherwise, the whole state is written and the trigger of
        hub/sql/case_state_events.sql replaces its rows."""
        if not states:
            return
        patched: list[tuple[CaseState, int, str | None]] = []
        rows: list[_Row] = []
        whole: list[CaseState] = []
        moved: list[CaseState] = []  # parties changed (or unknown): rewrite the party index
        for state in states:
            before = self.seen.get(state.case_id)
            changed = added = None
            if before is not None:
                now, held = state.__dict__, before[1].__dict__  # the fields' values
                # A comprehension: `compress` over `map(is_not, ...)` in C measured more
                # instructions (26.6 k against 19.4 k a case, issue 14, session 9).
                changed = {f for f in _FIELDS if now[f] is not held[f]}
                added = _added_rows(before[1], state, changed)
            if before is None or changed is None or added is None:
                whole.append(state)
                moved.append(state)
                continue
            bounded = changed & _BOUNDED
            patched.append((state, before[0], _patch(state, bounded) if bounded else None))
            rows += added
            if state.parties != before[1].parties:
                moved.append(state)
        saved: dict[str, int] = {}
        if patched:
            # A new step is a change the statistics must re-derive, whether or not the bounded
            # value changed: the statement queues every case it updated (`_QUEUE_STATS`; the
            # row trigger leaves version-incrementing updates to it, hub/sql/case_saves.sql).
            packed, parameters = _parameters([
                [p[0].case_id for p in patched], [p[1] for p in patched],
                [p[2] for p in patched], [p[0].agency for p in patched],
                [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [r[3] for r in rows]], SAVE_PACKED)
            found = await self._conn.fetch(SAVE_SQL[packed], *parameters)
            saved.update((r["case_id"], r["version"]) for r in found)
            whole += [p[0] for p in patched if p[0].case_id not in saved]
            moved += [p[0] for p in patched if p[0].case_id not in saved]
        if whole:
            found = await self._conn.fetch(
                "WITH up AS ("
                " UPDATE cases c SET state = s.state::jsonb, agency = s.agency,"
                "  updated_at = now(), version = c.version + 1"
                " FROM unnest($1::text[], $2::text[], $3::text[]) AS s(case_id, state, agency)"
                " WHERE c.case_id = s.case_id RETURNING c.case_id, c.version),"
                f" {_QUEUE_STATS} SELECT case_id, version FROM up",
                [s.case_id for s in whole], [s.model_dump_json() for s in whole],
                [s.agency for s in whole],
            )
            saved.update((r["case_id"], r["version"]) for r in found)
        for state in states:
            if state.case_id in saved:
                self.seen[state.case_id] = (saved[state.case_id], state)
        if moved:
            await self._replace_parties(moved)

    async def _replace_parties(self, states: Sequence[CaseState]) -> None:
        self._created_neighbours = {}  # any case's parties may be theirs: ask the index again
        ids = [s.case_id for s in states]
        await self._conn.execute("DELETE FROM case_parties WHERE case_id = ANY($1::text[])", ids)
        keys = [(kind, number, s.case_id) for s in states for kind, number in s.party_keys]
        if keys:
            await self._conn.execute(
                "INSERT INTO case_parties (id_type, id_number, case_id)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
                [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            )

    async def neighbours(
        self, case_ids: Collection[str]
    ) -> dict[str, set[str]]:
        """For each case, the other cases that share a party (id_type, id_number) with it;
        those of cases this session just created are known without a statement
        (`_note_neighbours`)."""
        known = self._created_neighbours
        found: dict[str, set[str]] = {}
        asked = []
        for case_id in case_ids:
            others = known.get(case_id)
            if others is None:
                asked.append(case_id)
            elif others:
                found[case_id] = set(others)
        if not asked:
            return found
        packed, (parameter,) = _parameters([asked], (True,))
        rows = await self._conn.fetch(NEIGHBOURS_SQL[packed], parameter)
        for r in rows:
            found.setdefault(r["case_id"], set()).add(r["other"])
        return found

    async def set_next_due(
        self, due: Mapping[str, datetime | None]
    ) -> None:
        """Set each case's next deadline; a row already holding it is not written (most
        events move no deadline, and an UPDATE writes a new row version even when nothing
        changes: a second row version of every case of every batch, issue 14). A case this
        session locked is known to hold it without asking (under the lock, only this
        session changes it), so a batch that moves no deadline sends no statement."""
        due = {c: at for c, at in due.items() if c not in self._due or self._due[c] != at}
        if due:
            self._due.update(due)
            await self._conn.execute(
                "UPDATE cases c SET next_due_at = d.due FROM"
                " unnest($1::text[], $2::timestamptz[]) AS d(case_id, due)"
                " WHERE c.case_id = d.case_id AND c.next_due_at IS DISTINCT FROM d.due",
                list(due), list(due.values()),
            )

    async def ledger_records(self, case_id: str) -> list[bytes]:
        """Every ledgered record of one case, in ledger order."""
        rows = await self._conn.fetch(
            "SELECT record FROM ledger WHERE case_id = $1 ORDER BY ledger_index", case_id
        )
        return [bytes(r["record"]) for r in rows]

    # -- the ledger cursor (catch-up; hub/sql/rules_cursor.sql) ----------------------------

    async def lock_cursor(self) -> int | None:
        value = await self._conn.fetchval(
            "SELECT next_index FROM rules_cursor FOR UPDATE SKIP LOCKED")
        return None if value is None else int(value)

    async def unprocessed_since(self, start: int, settled_before: datetime,
                                limit: int) -> tuple[list[bytes], int]:
        """Design decision (session 8, issue 14): this read every entry from `start` to the
        end of the ledger, dropped the fresh ones (`received_at` not before the cut-off) and
        moved the cursor past the last settled one. The worker's timer runs it every second,
        so each entry was visited about ten times within its ten seconds of settling (5 µs
        of PostgreSQL CPU per event, bench/ingress.py --pg-statements), and a fresh entry
        between settled ones (two ingress workers stamp `received_at` before taking the
        append lock, so the ledger's order is not quite theirs) was passed by the cursor
        without being looked at. Now the scan takes at most `limit` entries and stops at the
        first fresh one, as the in-memory store always did (streams/memory.py); a record is
        sent only for an entry not processed (the rest cost an index probe, not their bytes)."""
        # A join, not `EXISTS` in the CASE: PostgreSQL made that a hashed subplan reading all
        # of processed_events on every call (5.8-7.9 ms a call of 1,000 entries on a copy of
        # the bench's 26,000, against 2.2-2.6 ms this way and 3.0-3.5 ms for the old query).
        rows = await self._conn.fetch(
            "SELECT l.ledger_index, l.received_at < $2 AS settled,"
            " CASE WHEN l.received_at < $2 AND p.event_id IS NULL THEN l.record END AS record"
            " FROM ledger l LEFT JOIN processed_events p ON p.event_id = l.event_id"
            " WHERE l.ledger_index >= $1 ORDER BY l.ledger_index LIMIT $3",
            start, settled_before, limit)
        records: list[bytes] = []
        next_index = start
        for r in rows:
            if not r["settled"]:
                break
            next_index = r["ledger_index"] + 1
            if r["record"] is not None:
                records.append(bytes(r["record"]))
        return records, next_index

    async def set_cursor(self, next_index: int) -> None:
        await self._conn.execute("UPDATE rules_cursor SET next_index = $1", next_index)

    # -- alerts ---------------------------------------------------------------------------

    async def alerts_of(
        self, case_ids: Collection[str]
    ) -> dict[str, Alert]:
        """The current alert of every alert id raised on these cases."""
        if not case_ids:
            return {}
        condition, parameter = _case_filter(list(case_ids))
        rows = await self._conn.fetch(
            f"SELECT case_id, payload FROM alerts WHERE {condition}", parameter)
        self._no_alerts.update(case_ids)
        self._no_alerts.difference_update(r[0] for r in rows)
        alerts = [self._alert(r[1]) for r in rows]
        return {a.alert_id: a for a in alerts}

    async def record_alerts(
        self, alerts: Sequence[Alert], envelopes: Sequence[bytes],
        payloads: Sequence[str] | None = None,
    ) -> None:
        """Set each alert's current status and queue its signed envelope for publication;
        the row's payload is the JSON the envelope signs when the caller passes it.

        Design decision (session 11, issue 14): when every alert is of a case this session
        found holding no alert (`alerts_of`, under the case's row lock: no other writer adds
        one), as every alert of a replay into an empty store is, the rows are written by a
        plain INSERT; otherwise by INSERT ... ON CONFLICT DO UPDATE, as before. An alert id is
        uuid5 over its rule, case and trigger (streams.rules.engine.alert_id), so an alert's
        row is always one of its own case's. The upsert's speculative insertion (a probe of
        the primary key before each insert, a second WAL record to confirm it) cost ~25 k
        of PostgreSQL's ~264 k instructions a replayed case in the alerts + outbox work
        (bench/pg_callgrind.py alerts: 264.1, 264.0 -> 239.3, 239.4 k). One statement taking
        the plain INSERT for some rows and the upsert for the others (a flag array) saved
        only ~9 k: each part read all the arrays into its own function scan.
        Should a row exist after all, the INSERT fails on the primary key and the whole
        transaction is rolled back: nothing is written twice or lost.

        Session 13 (issue 14): that plain INSERT is now a binary COPY into alerts, then one
        into alert_outbox (in the alerts' order, so their seq follow it as ORDER BY n made
        them; neither table has a trigger; a duplicate id still fails the COPY on the primary
        key). `bench/replay.py --cases 20000 --db --db-cases 20000 --pg-statements`, three
        interleaved pairs: PostgreSQL backends' CPU 136, 141, 138 -> 117, 129, 122 µs a case,
        the alerts' write 57.0, 60.4, 54.2 -> 45.2, 48.2, 44.4 (COPY alerts + COPY outbox);
        the CLI's CPU 425, 427, 477 -> 413, 511, 430 (noise). bench/pg_callgrind.py alerts:
        238.8 -> 235.9 k instructions a case (the rest is presumably outside callgrind's
        user-space count: kernel time of the WAL; not measured further)."""
        if not alerts:
            return
        if payloads is None:
            payloads = [a.model_dump_json() for a in alerts]
        no_alerts = self._no_alerts
        fresh = all(a.case_id in no_alerts for a in alerts)
        cases = [a.case_id for a in alerts]
        if fresh:
            await self._conn.copy_records_to_table(
                "alerts", columns=_ALERT_COLUMNS, records=[
                    (a.alert_id, a.rule_id, a.case_id, a.agency, a.status, p)
                    for a, p in zip(alerts, payloads, strict=True)])
            await self._conn.copy_records_to_table(
                "alert_outbox", columns=_OUTBOX_COLUMNS, records=[
                    (a.alert_id, a.status, a.case_id, e)
                    for a, e in zip(alerts, envelopes, strict=True)])
            no_alerts.difference_update(cases)
            return
        packed, parameters = _parameters([
            [a.alert_id for a in alerts], [a.rule_id for a in alerts], cases,
            [a.agency for a in alerts], [a.status for a in alerts], payloads, envelopes],
            ALERTS_PACKED)
        await self._conn.execute(ALERTS_SQL[packed], *parameters)
        no_alerts.difference_update(cases)

    async def lock_unpublished(self, limit: int) -> list[OutboxRow]:
        """Row-lock the oldest unpublished envelopes (other publishers skip them)."""
        rows = await self._conn.fetch(
            "SELECT o.seq, o.alert_id, a.rule_id, o.status, o.case_id, o.envelope"
            " FROM alert_outbox o JOIN alerts a USING (alert_id)"
            " WHERE o.published_at IS NULL ORDER BY o.seq LIMIT $1 FOR UPDATE OF o SKIP LOCKED",
            limit,
        )
        return [OutboxRow(r["seq"], str(r["alert_id"]), r["rule_id"], r["status"], r["case_id"],
                          bytes(r["envelope"])) for r in rows]

    async def mark_published(self, seqs: Sequence[int]) -> None:
        await self._conn.execute(
            "UPDATE alert_outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
            list(seqs),
        )
