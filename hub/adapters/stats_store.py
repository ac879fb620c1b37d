"""PostgresStatistics: the statistics tables (hub/sql/statistics.sql), kept and queried.

`refresh` drains `stats_dirty` (queued by a trigger whenever a case's state is written):
for each of those cases it re-derives the steps (hub/reports/steps.py) and penalty
decisions and replaces its rows, in one transaction per batch. Every figure is then a
GROUP BY over an index range of `case_steps.at` (or `penalty_decisions.decided_at`,
`alerts.first_raised_at`) in PostgreSQL; no query loads cases into Python, except the
month's penalty decisions and credit-list parties, which need the parties' names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from hub.access import Scope
from hub.adapters.case_store import STATE_SQL, stored_state
from hub.adapters.postgres import translated_errors
from hub.reports.steps import BY_CODE, STEP_CODES, case_penalties, case_steps, statutory_days
from streams.rules import CaseState
from streams.rules.rules_config import RuleSet

REFRESH_BATCH = 1000
PERCENTILE_WORK_MEM = "64MB"
IP_OFFENCES = ("trademark_counterfeiting", "counterfeit_goods_sale", "illegal_marks",
               "patent_counterfeiting", "copyright_infringement", "infringing_copies_sale",
               "trade_secret")


@dataclass(frozen=True)
class Filter:
    """Which steps count: a period [start, end) and optionally one agency and one offence."""

    start: datetime
    end: datetime
    agency: str | None = None
    offence: str | None = None


def _visible(scope: Scope, agency_column: str, case_column: str | None,
             params: list[object]) -> str:
    """Statistics visibility: everything, nothing, or (an officer) the figures its own agency
    produced on cases in its scope (the one Scope rule, hub/access.py)."""
    if scope.everything:
        return "TRUE"
    if scope.agency_id is None:
        return "FALSE"
    params.append(scope.agency_id)
    own = f"{agency_column} = ${len(params)}"
    if case_column is None:
        return own
    return f"{own} AND {scope.sql(case_column, params)}"


def _where(scope: Scope, f: Filter, params: list[object], *, at: str, agency: str,
           case: str | None, offence: str | None) -> str:
    params.extend([f.start, f.end])
    clauses = [f"{at} >= ${len(params) - 1}", f"{at} < ${len(params)}",
               _visible(scope, agency, case, params)]
    return " AND ".join(clauses + _chosen(f, params, agency=agency, offence=offence))


def _chosen(f: Filter, params: list[object], *, agency: str, offence: str | None) -> list[str]:
    """The filter's agency and offence as predicates on the given columns."""
    clauses = []
    if f.agency is not None:
        params.append(f.agency)
        clauses.append(f"{agency} = ${len(params)}")
    if f.offence is not None and offence is not None:
        params.append(f.offence)
        clauses.append(f"{offence} = ${len(params)}")
    return clauses


# The whole Asia/Shanghai months inside [$1, $2): [m0, m1) as local dates (empty when
# m0 >= m1), and the two partial edges [$1, head_end) and [tail_start, $2) as instants.
# When the period holds no whole month, head_end is $2 and the tail is empty; otherwise the
# head ends at m0 and the tail starts at m1: the edges and the months never overlap.
_BOUNDS = """b AS (SELECT m0::date AS m0, m1::date AS m1,
    least(m0 AT TIME ZONE 'Asia/Shanghai', $2::timestamptz) AS head_end,
    greatest(m1 AT TIME ZONE 'Asia/Shanghai',
             least(m0 AT TIME ZONE 'Asia/Shanghai', $2::timestamptz))
        AS tail_start
  FROM (SELECT CASE WHEN date_trunc('month', l) = l THEN l
                    ELSE date_trunc('month', l) + interval '1 month' END AS m0,
               date_trunc('month', $2::timestamptz AT TIME ZONE 'Asia/Shanghai') AS m1
        FROM (SELECT $1::timestamptz AT TIME ZONE 'Asia/Shanghai' AS l) l) x)"""
_STEP_ROW = ("SELECT s.agency, s.offence, to_char(s.at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
             " AS month, s.step, 1 AS n FROM case_steps s")


class PostgresStatistics:
    """Keeps the statistics tables and answers the statistics page, bulletin and exports."""

    def __init__(self, pool: asyncpg.Pool, rules: RuleSet) -> None:
        self._pool = pool
        self._rules = rules

    # -- keeping the tables -----------------------------------------------------------------

    async def refresh(self, *, batch: int = REFRESH_BATCH) -> int:
        """Re-derive the steps of every case queued in stats_dirty; returns how many."""
        done = 0
        async with translated_errors(), self._pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    rows = await conn.fetch(
                        "DELETE FROM stats_dirty WHERE case_id IN (SELECT case_id FROM"
                        " stats_dirty ORDER BY case_id LIMIT $1 FOR UPDATE SKIP LOCKED)"
                        " RETURNING case_id", batch)
                    if not rows:
                        return done
                    ids = [r["case_id"] for r in rows]
                    states = await conn.fetch(
                        f"SELECT {STATE_SQL} AS state FROM cases c"
                        " WHERE c.case_id = ANY($1::text[])", ids)
                    await self._replace(conn, ids, [stored_state(s["state"]) for s in states])
                    done += len(ids)

    async def _replace(self, conn: asyncpg.Connection, ids: list[str],
                       states: Sequence[CaseState]) -> None:
        steps = [s for state in states for s in case_steps(state, self._rules)]
        penalties = [p for state in states for p in case_penalties(state)]
        await conn.execute("DELETE FROM case_steps WHERE case_id = ANY($1::text[])", ids)
        await conn.execute("DELETE FROM penalty_decisions WHERE case_id = ANY($1::text[])", ids)
        if steps:
            await conn.execute(
                "INSERT INTO case_steps (case_id, step, at, agency, offence, elapsed_days)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[],"
                " $5::text[], $6::numeric[])",
                [s.case_id for s in steps], [s.step for s in steps], [s.at for s in steps],
                [s.agency for s in steps], [s.offence for s in steps],
                [s.elapsed_days for s in steps])
        if penalties:
            await conn.execute(
                "INSERT INTO penalty_decisions (agency, decision_no, case_id, offence,"
                " decided_at, fine, confiscated) SELECT * FROM unnest($1::text[], $2::text[],"
                " $3::text[], $4::text[], $5::timestamptz[], $6::numeric[], $7::numeric[])"
                " ON CONFLICT (agency, decision_no) DO NOTHING",
                [p.agency for p in penalties], [p.decision_no for p in penalties],
                [p.case_id for p in penalties], [p.offence for p in penalties],
                [p.decided_at for p in penalties], [p.fine for p in penalties],
                [p.confiscated for p in penalties])

    async def pending(self) -> int:
        async with translated_errors(), self._pool.acquire() as conn:
            n: int = await conn.fetchval("SELECT count(*) FROM stats_dirty")
        return n

    # -- figures --------------------------------------------------------------------------

    async def counts(self, scope: Scope, f: Filter) -> tuple[
            dict[str, dict[str, int]], dict[str, dict[str, int]], dict[str, dict[str, int]]]:
        """(agency, offence, 'YYYY-MM' in Shanghai) -> step -> number of steps taken in the
        period, in three GROUPING SETS over one source of (agency, offence, month, step, n):
        for a supervisor the period's whole months from the roll-up case_step_months plus the
        steps of its partial edges; for an officer (whose figures depend on case_scope, per
        case) the steps of the period."""
        params: list[object] = []
        if scope.everything:
            params.extend([f.start, f.end])
            rolled = " AND ".join(["m.month >= b.m0", "m.month < b.m1", *_chosen(
                f, params, agency="m.agency", offence="m.offence")])
            edge = " AND ".join(_chosen(f, params, agency="s.agency", offence="s.offence")
                                or ["TRUE"])
            source = (
                f"WITH {_BOUNDS} SELECT m.agency, m.offence, to_char(m.month, 'YYYY-MM')"
                f" AS month, m.step, m.n FROM case_step_months m, b WHERE {rolled}"
                f" UNION ALL {_STEP_ROW} WHERE s.at >= $1 AND s.at < (SELECT head_end FROM b)"
                f" AND {edge}"
                f" UNION ALL {_STEP_ROW} WHERE s.at >= (SELECT tail_start FROM b) AND s.at < $2"
                f" AND {edge}")
        else:
            source = f"{_STEP_ROW} WHERE " + _where(
                scope, f, params, at="s.at", agency="s.agency", case="s.case_id",
                offence="s.offence")
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT r.agency, coalesce(r.offence, 'unknown') AS offence, r.month, r.step,"
                " GROUPING(r.agency) AS no_agency, GROUPING(coalesce(r.offence, 'unknown'))"
                " AS no_offence, sum(r.n)::bigint AS n"
                f" FROM ({source}) r GROUP BY GROUPING SETS ((r.agency, r.step),"
                " (coalesce(r.offence, 'unknown'), r.step), (r.month, r.step))"
                " HAVING sum(r.n) > 0", *params)
        by: tuple[dict[str, dict[str, int]], ...] = ({}, {}, {})
        for r in rows:
            which, key = ((0, r["agency"]) if not r["no_agency"] else
                          (1, r["offence"]) if not r["no_offence"] else (2, r["month"]))
            by[which].setdefault(key, {})[r["step"]] = r["n"]
        return by[0], by[1], by[2]

    async def step_counts(self, scope: Scope, f: Filter) -> dict[str, dict[str, int]]:
        """agency -> step -> number of cases that took the step in the period."""
        return (await self.counts(scope, f))[0]

    async def durations(self, scope: Scope, f: Filter) -> dict[str, dict[str, Any]]:
        """step -> {n, median, p90, deadline, over} in days, for steps with a predecessor."""
        codes = [c for c in STEP_CODES if c != "opened"]
        deadlines = [statutory_days(self._rules, BY_CODE[c]) for c in codes]
        params: list[object] = []
        where = _where(scope, f, params, at="s.at", agency="s.agency", case="s.case_id",
                       offence="s.offence")
        params.extend([codes, deadlines])
        a, b = len(params) - 1, len(params)
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            # the percentiles sort the period's raw rows (~530,000 for a year at 1M cases):
            # in memory rather than in temporary files, for this statement only
            await conn.execute(f"SET LOCAL work_mem = '{PERCENTILE_WORK_MEM}'")
            rows = await conn.fetch(
                "SELECT s.step, count(*) AS n,"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY s.elapsed_days) AS median,"
                " percentile_cont(0.9) WITHIN GROUP (ORDER BY s.elapsed_days) AS p90,"
                " min(d.days) AS deadline,"
                " count(*) FILTER (WHERE s.elapsed_days > d.days) AS over"
                f" FROM case_steps s JOIN unnest(${a}::text[], ${b}::numeric[]) AS d(step, days)"
                f" ON d.step = s.step WHERE {where} AND s.elapsed_days IS NOT NULL"
                " GROUP BY s.step", *params)
        return {r["step"]: {"n": r["n"], "median": _dec(r["median"]), "p90": _dec(r["p90"]),
                            "deadline": r["deadline"], "over": r["over"]} for r in rows}

    async def penalties(self, scope: Scope, f: Filter) -> dict[str, dict[str, Any]]:
        """agency -> {count, fine, confiscated} of the penalty decisions in the period."""
        params: list[object] = []
        where = _where(scope, f, params, at="p.decided_at", agency="p.agency",
                       case="p.case_id", offence="p.offence")
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT p.agency, count(*) AS n, sum(p.fine) AS fine,"
                f" sum(p.confiscated) AS confiscated FROM penalty_decisions p WHERE {where}"
                " GROUP BY p.agency", *params)
        return {r["agency"]: {"count": r["n"], "fine": r["fine"],
                              "confiscated": r["confiscated"]} for r in rows}

    async def alerts(self, scope: Scope, f: Filter) -> dict[str, dict[str, int]]:
        """rule -> {raised, resolved} in the period (resolved: its latest change)."""
        params: list[object] = []
        vis = _visible(scope, "a.agency", "a.case_id", params)
        params.extend([f.start, f.end])
        s, e = len(params) - 1, len(params)
        extra = ""
        if f.agency is not None:
            params.append(f.agency)
            extra += f" AND a.agency = ${len(params)}"
        off = ""
        if f.offence is not None:
            params.append(f.offence)
            off = (f" AND EXISTS (SELECT 1 FROM cases c WHERE c.case_id = a.case_id"
                   f" AND c.offence = ${len(params)})")
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT rule_id, sum(raised) AS raised, sum(resolved) AS resolved FROM ("
                " SELECT a.rule_id, 1 AS raised, 0 AS resolved FROM alerts a"
                f" WHERE a.first_raised_at >= ${s} AND a.first_raised_at < ${e}"
                f" AND {vis}{extra}{off}"
                " UNION ALL SELECT a.rule_id, 0, 1 FROM alerts a WHERE a.status = 'resolved'"
                f" AND a.updated_at >= ${s} AND a.updated_at < ${e} AND {vis}{extra}{off}"
                ") x GROUP BY rule_id ORDER BY rule_id", *params)
        return {r["rule_id"]: {"raised": int(r["raised"]), "resolved": int(r["resolved"])}
                for r in rows}

    async def overdue(self, scope: Scope, at: datetime) -> dict[str, int]:
        """agency -> alerts open at the instant `at` (raised before it, not resolved by it)."""
        params: list[object] = [at]
        vis = _visible(scope, "a.agency", "a.case_id", params)
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT a.agency, count(*) AS n FROM alerts a WHERE a.first_raised_at < $1"
                f" AND (a.status = 'open' OR a.updated_at >= $1) AND {vis} GROUP BY a.agency",
                *params)
        return {r["agency"]: r["n"] for r in rows}

    # -- drill-down -----------------------------------------------------------------------

    async def step_cases(self, scope: Scope, f: Filter, step: str, *, offset: int = 0,
                         limit: int = 200) -> tuple[list[dict[str, Any]], int]:
        """The cases behind one figure, oldest step first, and their total."""
        params: list[object] = []
        where = _where(scope, f, params, at="s.at", agency="s.agency", case="s.case_id",
                       offence="s.offence")
        params.append(step)
        where += f" AND s.step = ${len(params)}"
        async with translated_errors(), self._pool.acquire() as conn:
            total: int = await conn.fetchval(
                f"SELECT count(*) FROM case_steps s WHERE {where}", *params)
            rows = await conn.fetch(
                "SELECT s.case_id, s.agency, s.offence, s.at, s.elapsed_days FROM case_steps s"
                f" WHERE {where} ORDER BY s.at, s.case_id"
                f" LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}", *params, limit, offset)
        return [dict(r) for r in rows], total

    async def stage_as_of(self, scope: Scope, f: Filter, at: datetime) -> list[dict[str, Any]]:
        """Every case transferred in the period and the last step it reached before `at`."""
        params: list[object] = []
        where = _where(scope, f, params, at="t.at", agency="t.agency", case="t.case_id",
                       offence="t.offence")
        params.append(at)
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT t.case_id, t.agency, t.offence, t.at AS transferred_at, last.step,"
                " last.at FROM case_steps t CROSS JOIN LATERAL (SELECT s.step, s.at FROM"
                " case_steps s WHERE s.case_id = t.case_id AND s.at < "
                f"${len(params)} ORDER BY s.at DESC, s.step LIMIT 1) last"
                f" WHERE t.step = 'transferred' AND {where} ORDER BY t.agency, t.at, t.case_id",
                *params)
        return [dict(r) for r in rows]

    # -- disclosure and credit list -------------------------------------------------------

    async def penalty_records(self, scope: Scope, f: Filter) -> list[dict[str, Any]]:
        """The period's penalty decisions with the case's parties (for 双公示)."""
        params: list[object] = []
        where = _where(scope, f, params, at="p.decided_at", agency="p.agency",
                       case="p.case_id", offence="p.offence")
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT p.agency, p.decision_no, p.case_id, p.offence, p.decided_at, p.fine,"
                " p.confiscated, c.state -> 'parties' AS parties, c.offence"
                " AS case_offence FROM penalty_decisions p JOIN cases c USING (case_id)"
                f" WHERE {where} ORDER BY p.decided_at, p.agency, p.decision_no", *params)
        return [dict(r) for r in rows]

    async def credit_entries(self, scope: Scope, f: Filter) -> list[dict[str, Any]]:
        """IP-offence penalty decisions and criminal filings in the period, with parties."""
        params: list[object] = []
        pw = _where(scope, f, params, at="p.decided_at", agency="p.agency", case="p.case_id",
                    offence="p.offence")
        sw = _where(scope, f, params, at="s.at", agency="s.agency", case="s.case_id",
                    offence="s.offence")
        params.append(list(IP_OFFENCES))
        ip = len(params)
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT 'penalty' AS kind, p.agency, p.decision_no, p.case_id, p.offence,"
                " p.decided_at AS at, c.state -> 'parties' AS parties FROM penalty_decisions p"
                f" JOIN cases c USING (case_id) WHERE {pw} AND p.offence = ANY(${ip}::text[])"
                " UNION ALL SELECT 'criminal_filing', s.agency, NULL, s.case_id, s.offence, s.at,"
                " c.state -> 'parties' FROM case_steps s JOIN cases c USING (case_id)"
                f" WHERE {sw} AND s.step = 'filed' ORDER BY at, case_id", *params)
        return [dict(r) for r in rows]


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))
