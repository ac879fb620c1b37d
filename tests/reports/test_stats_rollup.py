"""The monthly roll-up of case_steps (hub/sql/statistics_months.sql) on real PostgreSQL: for
random steps written and re-derived as the refresh does, a supervisor's counts of any period
(whole months, quarters, years, and arbitrary instants mid-month) equal the counts computed
here from the rows themselves, months taken in Asia/Shanghai; and the roll-up equals a
GROUP BY of case_steps after every change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.access import Scope
from hub.adapters.postgres import Pool, create_pool
from hub.adapters.stats_store import Filter, PostgresStatistics
from hub.reports.periods import SHANGHAI, parse_period
from streams.rules_runner import startup_rules
from tests.support import migrated_database, release_database

pytestmark = pytest.mark.integration

ALL = Scope(everything=True, agency_id=None)
AGENCIES = ["zs-aic", "zs-ipo", "zs-psb"]
OFFENCES = ["trade_secret", "illegal_marks", None]
STEPS = ["opened", "over_threshold", "transferred", "accepted"]
# Shanghai month starts around a year end; a Shanghai month starts at 16:00 UTC the day before,
# so the first 8 hours of each month are still the previous month in UTC
BOUNDARIES = [datetime(y, m, 1, tzinfo=SHANGHAI)
              for y, m in ((2025, 11), (2025, 12), (2026, 1), (2026, 2), (2026, 3), (2026, 4))]
TRICKY = [timedelta(0), timedelta(microseconds=1), timedelta(microseconds=-1),
          timedelta(hours=4), timedelta(hours=8), timedelta(hours=8, microseconds=-1),
          timedelta(hours=-8), timedelta(days=15, hours=13)]
LABELS = ["2025-12", "2026-01", "2026-02", "2025-Q4", "2026-Q1", "2025", "2026"]

ROLLUP_MATCHES_STEPS = """
SELECT count(*) FROM (
    (SELECT month, agency, offence, step, n FROM case_step_months WHERE n <> 0
     EXCEPT ALL
     SELECT (date_trunc('month', at AT TIME ZONE 'Asia/Shanghai'))::date, agency, offence,
            step, count(*) FROM case_steps GROUP BY 1, 2, 3, 4)
    UNION ALL
    (SELECT (date_trunc('month', at AT TIME ZONE 'Asia/Shanghai'))::date, agency, offence,
            step, count(*) FROM case_steps GROUP BY 1, 2, 3, 4
     EXCEPT ALL
     SELECT month, agency, offence, step, n FROM case_step_months WHERE n <> 0)) d
"""

Row = tuple[str, str, datetime, str, str | None]  # case_id, step, at, agency, offence


@pytest.fixture(scope="module")
async def db() -> AsyncIterator[tuple[Pool, PostgresStatistics, str]]:
    dsn = await migrated_database()
    pool = await create_pool(dsn, max_size=2)
    try:
        yield pool, PostgresStatistics(pool, startup_rules()), dsn
    finally:
        await pool.close()
        await release_database(dsn)


instants = st.builds(lambda b, d: b + d, st.sampled_from(BOUNDARIES), st.one_of(
    st.sampled_from(TRICKY),
    st.integers(-40 * 86400, 40 * 86400).map(lambda s: timedelta(seconds=s))))


def steps_of(cases: range) -> st.SearchStrategy[list[Row]]:
    row = st.tuples(st.sampled_from([f"C{n}" for n in cases]), st.sampled_from(STEPS),
                    instants, st.sampled_from(AGENCIES), st.sampled_from(OFFENCES))
    return st.lists(row, max_size=40, unique_by=lambda r: (r[0], r[1]))


periods = st.one_of(
    st.sampled_from(LABELS).map(lambda p: (parse_period(p).start, parse_period(p).end)),
    st.tuples(instants, st.integers(0, 130 * 86400)).map(
        lambda t: (t[0], t[0] + timedelta(seconds=t[1]))))


async def write(conn: asyncpg.Connection, rows: list[Row]) -> None:
    """Replace the steps of the rows' cases, as PostgresStatistics._replace does."""
    async with conn.transaction():
        await conn.execute("DELETE FROM case_steps WHERE case_id = ANY($1::text[])",
                           sorted({r[0] for r in rows}))
        await conn.execute(
            "INSERT INTO case_steps (case_id, step, at, agency, offence, elapsed_days)"
            " SELECT c, s, a, g, o, NULL FROM unnest($1::text[], $2::text[],"
            " $3::timestamptz[], $4::text[], $5::text[]) AS u(c, s, a, g, o)",
            *(list(col) for col in zip(*rows, strict=True)))


def expected(rows: list[Row], f: Filter) -> tuple[dict[str, dict[str, int]], ...]:
    by: tuple[dict[str, dict[str, int]], ...] = ({}, {}, {})
    for _, step, at, agency, offence in rows:
        if not f.start <= at < f.end or f.agency not in (None, agency) \
                or f.offence not in (None, offence):
            continue
        keys = (agency, offence or "unknown", at.astimezone(SHANGHAI).strftime("%Y-%m"))
        for which, key in enumerate(keys):
            counts = by[which].setdefault(key, {})
            counts[step] = counts.get(step, 0) + 1
    return by


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=steps_of(range(12)), again=steps_of(range(6)), period=periods,
       agency=st.sampled_from([None, *AGENCIES]), offence=st.sampled_from([None, *OFFENCES]))
async def test_rolled_up_counts_equal_the_counts_of_the_steps(
        db: tuple[Pool, PostgresStatistics, str], first: list[Row], again: list[Row],
        period: tuple[datetime, datetime], agency: str | None, offence: str | None) -> None:
    pool, stats, _ = db
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM case_steps")
        try:
            if first:
                await write(conn, first)
            # cases C0..C5 re-derived: their steps replaced (moved, dropped or added)
            redone = {f"C{n}" for n in range(6)}
            if again or any(r[0] in redone for r in first):
                await conn.execute("DELETE FROM case_steps WHERE case_id = ANY($1::text[])",
                                   sorted(redone))
                if again:
                    await write(conn, again)
            rows = [r for r in first if r[0] not in redone] + again
            assert await conn.fetchval(ROLLUP_MATCHES_STEPS) == 0
            assert await conn.fetchval("SELECT count(*) FROM case_step_months WHERE n < 0") == 0
            f = Filter(period[0], period[1], agency, offence)
            assert await stats.counts(ALL, f) == expected(rows, f)
        finally:
            await conn.execute("DELETE FROM case_steps")


async def test_rebuild_and_truncate_keep_the_roll_up_equal_to_the_steps(
        db: tuple[Pool, PostgresStatistics, str]) -> None:
    _, stats, dsn = db
    at = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    rows: list[Row] = [("R1", "opened", at - timedelta(microseconds=1), "zs-aic", None),
                       ("R2", "opened", at, "zs-aic", None),
                       ("R3", "opened", at + timedelta(hours=7), "zs-aic", "trade_secret")]
    conn = await asyncpg.connect(dsn)  # the owner: replica mode, rebuild and TRUNCATE
    try:
        try:
            await write(conn, rows)
            # the roll-up wiped behind the triggers' back (as a load in replica mode leaves it)
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("DELETE FROM case_step_months")
            year = parse_period("2026")
            assert (await stats.counts(ALL, Filter(year.start, year.end)))[0] == {}
            await conn.execute("SELECT linkage_stats_rebuild_months()")
            assert await conn.fetchval(ROLLUP_MATCHES_STEPS) == 0
            got: Any = await stats.counts(ALL, Filter(year.start, year.end))
            assert got == ({"zs-aic": {"opened": 2}}, {"unknown": {"opened": 1},
                           "trade_secret": {"opened": 1}}, {"2026-01": {"opened": 2}})
            await conn.execute("TRUNCATE case_steps")
            assert await conn.fetchval("SELECT count(*) FROM case_step_months") == 0
        finally:
            await conn.execute("DELETE FROM case_steps")
    finally:
        await conn.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=steps_of(range(8)), moved=st.lists(st.tuples(
    st.sampled_from([f"C{n}" for n in range(8)]), instants, st.sampled_from(AGENCIES),
    st.sampled_from(OFFENCES)), max_size=8))
async def test_updated_steps_move_between_roll_up_keys(
        db: tuple[Pool, PostgresStatistics, str], rows: list[Row],
        moved: list[tuple[str, datetime, str, str | None]]) -> None:
    """An UPDATE of case_steps (a step's time, agency or offence changed in place: the hub's
    role may not, its owner may, e.g. a data correction) moves its count out of the old
    month/key and into the new one."""
    _, _, dsn = db
    conn = await asyncpg.connect(dsn)
    try:
        try:
            if rows:
                await write(conn, rows)
            for case_id, at, agency, offence in moved:
                await conn.execute(
                    "UPDATE case_steps SET at = $2, agency = $3, offence = $4 WHERE case_id = $1",
                    case_id, at, agency, offence)
            assert await conn.fetchval(ROLLUP_MATCHES_STEPS) == 0
            assert await conn.fetchval("SELECT count(*) FROM case_step_months WHERE n < 0") == 0
        finally:
            await conn.execute("DELETE FROM case_steps")
    finally:
        await conn.close()


async def test_concurrent_refreshes_of_overlapping_keys_neither_deadlock_nor_drift(
        db: tuple[Pool, PostgresStatistics, str]) -> None:
    """Many transactions re-deriving cases at once, each a DELETE then an INSERT touching the
    same month/agency/step keys of the roll-up, as concurrent refreshes do: all commit, and
    the roll-up still equals the steps. Each writer has cases of its own, as in the hub:
    refreshes claim their cases from stats_dirty with SKIP LOCKED (two writers deleting the
    same case's rows could deadlock with the advisory lock, which nothing in the hub does)."""
    pool, _, dsn = db
    at = datetime(2026, 3, 2, tzinfo=SHANGHAI)

    async def rederive(conn: asyncpg.Connection, writer: int) -> None:
        cases = [f"K{writer}-{k}" for k in range(3)]  # its own cases, the others' keys
        for round_ in range(25):
            # odd writers move their steps from March to April while even ones move theirs
            # back: one transaction's DELETE takes the keys the other's INSERT wants
            month = timedelta(days=31 * ((writer + round_) % 2))
            rows: list[Row] = [(c, step, at + month, AGENCIES[k % 3], None)
                               for k, c in enumerate(cases) for step in STEPS[:2]]
            await write(conn, rows)

    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:
        await asyncio.wait_for(asyncio.gather(
            *(rederive(conn, w) for w, conn in enumerate(conns))), timeout=60)
    finally:
        for conn in conns:
            await conn.close()
    async with pool.acquire() as conn:
        try:
            assert await conn.fetchval("SELECT count(*) FROM case_steps") == 4 * 3 * 2
            assert await conn.fetchval(ROLLUP_MATCHES_STEPS) == 0
        finally:
            await conn.execute("DELETE FROM case_steps")
