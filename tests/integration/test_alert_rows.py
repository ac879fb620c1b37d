"""record_alerts' fast path (some columns `_packed` into one text) against its careful path
(every column an array), on real PostgreSQL: the same alert rows and outbox envelopes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.adapters import case_store
from hub.adapters.case_store import PostgresCaseSession
from hub.adapters.postgres import Pool, create_pool
from schemas.alert import Alert
from tests.support import migrated_database, release_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[Pool]:
    dsn = await migrated_database()
    pool = await create_pool(dsn, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()
        await release_database(dsn)


class RolledBack(Exception):
    """Raised to roll a tried transaction back."""


async def recorded(pool: Pool, alerts: list[Alert], envelopes: list[bytes], fresh: bool,
                   careful: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The alert and outbox rows `record_alerts` writes (outbox in its order), rolled back."""
    with monkeypatch.context() as patch:
        if careful:
            patch.setattr(case_store, "_packed", lambda columns: None)
        found: list[Any] = []
        try:
            async with pool.acquire() as conn, conn.transaction():
                tx = PostgresCaseSession(conn)
                if fresh:  # the cases hold no alert: the plain INSERT
                    assert await tx.alerts_of({a.case_id for a in alerts}) == {}
                await tx.record_alerts(alerts, envelopes)
                found += [tuple(r) for r in await conn.fetch(
                    "SELECT alert_id, rule_id, case_id, agency, status, payload FROM alerts"
                    " ORDER BY alert_id")]
                found += [tuple(r) for r in await conn.fetch(
                    "SELECT alert_id, status, case_id, envelope FROM alert_outbox"
                    " ORDER BY seq")]
                raise RolledBack
        except RolledBack:
            pass
    return found


_TEXT = st.text(st.sampled_from("a中\x1f\x1e,{}\\\"") | st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_TEXT, _TEXT, _TEXT, st.sampled_from(["open", "resolved"]),
                               st.binary(max_size=8)), min_size=1, max_size=5),
       fresh=st.booleans())
async def test_record_alerts_packed_writes_what_arrays_write(
        pool: Pool, monkeypatch: pytest.MonkeyPatch,
        rows: list[tuple[str, str, str, Literal["open", "resolved"], bytes]],
        fresh: bool) -> None:
    """Any rule ids, case ids and agencies (separators, the NULL marker, empty, non-ASCII)
    and either statement (a fresh INSERT or the upsert): the rows and envelopes are the
    careful path's, in the same order."""
    alerts = [Alert(alert_id=str(uuid.uuid4()), rule_id=rule, status=status, case_id=case,
                    agency=agency, raised_at=NOW, due_at=None, legal_basis="SC Art 5",
                    facts={"n": 1}, message_zh="逾期。", message_en="Late.")
              for rule, case, agency, status, _ in rows]
    envelopes = [r[4] for r in rows]
    fast = await recorded(pool, alerts, envelopes, fresh, False, monkeypatch)
    careful = await recorded(pool, alerts, envelopes, fresh, True, monkeypatch)
    assert fast == careful
    assert len(fast) == 2 * len(alerts)
    assert [r[3] for r in fast[len(alerts):]] == envelopes
