"""Every figure of the statistics, the bulletin and the exports on the fixed data set of
tests/reports/dataset.py, against hand-computed values, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.penalty.report import import_penalty_csv
from hub.access import Scope
from hub.adapters.postgres import Pool, create_pool
from hub.adapters.stats_store import Filter, PostgresStatistics
from hub.reports import service
from hub.reports.document import StatsDoc, build
from hub.reports.periods import parse_period
from streams.rules_runner import startup_rules
from tests.reports import dataset
from tests.support import migrated_database, release_database

pytestmark = pytest.mark.integration

ALL = Scope(everything=True, agency_id=None)
NAMES = {"zs-aic": "市工商局", "zs-psb": "市公安局", "zs-ipo": "市知识产权局",
         "zs-customs": "中山海关", "zs-procuratorate": "市检察院"}
AGENCIES = sorted(NAMES)


def name(agency: str) -> str:
    return NAMES.get(agency, agency)


@dataclass
class Db:
    dsn: str
    pool: Pool
    stats: PostgresStatistics


@pytest.fixture(scope="module")
async def db() -> AsyncIterator[Db]:
    dsn = await migrated_database()
    await dataset.load(dsn)
    pool = await create_pool(dsn, max_size=3)
    stats = PostgresStatistics(pool, startup_rules())
    try:
        assert await stats.pending() == 4
        assert await stats.refresh() == 4
        assert await stats.pending() == 0
        yield Db(dsn, pool, stats)
    finally:
        await pool.close()
        await release_database(dsn)


async def doc(db: Db, period: str, scope: Scope = ALL, **kw: str) -> StatsDoc:
    return await build(db.stats, scope, parse_period(period), bulletin=True, **kw)  # type: ignore[arg-type]


OCTOBER = {
    "zs-aic": {"opened": 1, "over_threshold": 1, "transfer_approved": 1, "transfer_refused": 1,
               "transferred": 1, "penalised": 1},
    "zs-ipo": {"opened": 1},
    "zs-psb": {"accepted": 1, "filed": 1},
}


async def test_october_by_agency_and_totals(db: Db) -> None:
    d = await doc(db, "2026-10")
    assert d.by_agency == OCTOBER
    assert "zs-customs" not in d.by_agency  # nothing to report: no row in the data
    assert d.totals == {"opened": 2, "over_threshold": 1, "transfer_approved": 1,
                        "transfer_refused": 1, "transferred": 1, "accepted": 1, "filed": 1,
                        "not_filed": 0, "prosecuted": 0, "not_prosecuted": 0, "penalised": 1}
    assert d.by_offence == {
        "counterfeit_goods_sale": {"opened": 1, "over_threshold": 1, "penalised": 1,
                                   "transfer_refused": 1},
        "patent_counterfeiting": {"opened": 1},
        "trademark_counterfeiting": {"transfer_approved": 1, "transferred": 1, "accepted": 1,
                                     "filed": 1}}
    assert d.penalties == {"zs-aic": {"count": 1, "fine": Decimal("12345.67"),
                                      "confiscated": Decimal("500.00")}}


async def test_october_funnel_durations_alerts(db: Db) -> None:
    d = await doc(db, "2026-10")
    assert [(f["step"], f["count"], f["rate"]) for f in d.funnel] == [
        ("opened", 2, None), ("over_threshold", 1, Decimal("0.5000")),
        ("transfer_approved", 1, Decimal("1.0000")), ("transferred", 1, Decimal("1.0000")),
        ("accepted", 1, Decimal("1.0000")), ("filed", 1, Decimal("1.0000")),
        ("prosecuted", 0, Decimal("0.0000"))]
    got = {k: (v["n"], v["median"], v["p90"], v["deadline"], v["over"])
           for k, v in d.durations.items()}
    assert got == {
        "over_threshold": (1, Decimal("1.00"), Decimal("1.00"), None, 0),
        "transfer_approved": (1, Decimal("2.00"), Decimal("2.00"), Decimal("3"), 0),
        "transfer_refused": (1, Decimal("10.00"), Decimal("10.00"), Decimal("3"), 1),
        "transferred": (1, Decimal("0.25"), Decimal("0.25"), Decimal("1"), 0),
        "accepted": (1, Decimal("2.00"), Decimal("2.00"), Decimal("3"), 0),
        "filed": (1, Decimal("6.00"), Decimal("6.00"), Decimal("3"), 1),
        "penalised": (1, Decimal("15.00"), Decimal("15.00"), None, 0)}
    assert d.alerts == {"FILING_OVERDUE": {"raised": 1, "resolved": 1},
                        "SHOULD_TRANSFER": {"raised": 1, "resolved": 0}}
    # open at the end of October: A2's (resolved only on 11-03) and the September one
    assert d.overdue == {"zs-aic": 1, "zs-psb": 1}
    assert [(c["case_id"], c["step"]) for c in d.transferred_cases] == [("ST-A1", "filed")]


async def test_month_boundaries_in_shanghai_time(db: Db) -> None:
    sep, nov = await doc(db, "2026-09"), await doc(db, "2026-11")
    assert sep.by_agency == {"zs-aic": {"opened": 1, "over_threshold": 1}}
    # A4 opened at 00:00 on 11-01 in Shanghai (still October in UTC) counts in November;
    # A3 opened at 23:59:59 on 10-31 counted in October above
    assert nov.by_agency == {"zs-aic": {"opened": 1}, "zs-ipo": {"penalised": 1},
                             "zs-procuratorate": {"prosecuted": 1}}
    assert nov.penalties == {"zs-ipo": {"count": 1, "fine": Decimal("50000.00"),
                                        "confiscated": Decimal("0.00")}}
    assert nov.alerts == {"SHOULD_TRANSFER": {"raised": 0, "resolved": 1}}
    assert nov.durations["prosecuted"]["median"] == Decimal("25.79")  # 10-10 15:00 -> 11-05 10:00


async def test_empty_period_quarter_and_year(db: Db) -> None:
    dec = await doc(db, "2026-12")
    assert dec.by_agency == {} and set(dec.totals.values()) == {0}
    assert all(f["rate"] is None for f in dec.funnel) and dec.durations == {}
    assert dec.penalties == {} and dec.alerts == {} and dec.transferred_cases == []
    q4 = await doc(db, "2026-Q4")
    assert q4.totals["opened"] == 3 and q4.totals["penalised"] == 2
    assert q4.trend == {"2026-10": {"opened": 2, "over_threshold": 1, "transfer_approved": 1,
                                    "transfer_refused": 1, "transferred": 1, "accepted": 1,
                                    "filed": 1, "penalised": 1},
                        "2026-11": {"opened": 1, "penalised": 1, "prosecuted": 1}}
    year = await doc(db, "2026")
    assert year.totals["opened"] == 4 and year.totals["over_threshold"] == 2
    assert (await doc(db, "2026", offence="patent_counterfeiting")).totals["opened"] == 1
    assert (await doc(db, "2026", agency="zs-customs")).totals == dict.fromkeys(
        year.totals, 0)


async def test_officer_sees_its_own_agency_only(db: Db) -> None:
    psb = await doc(db, "2026-10", Scope(everything=False, agency_id="zs-psb"))
    assert psb.by_agency == {"zs-psb": OCTOBER["zs-psb"]}
    assert psb.penalties == {} and psb.alerts == {"FILING_OVERDUE": {"raised": 1,
                                                                     "resolved": 1}}
    customs = await doc(db, "2026", Scope(everything=False, agency_id="zs-customs"))
    assert customs.by_agency == {} and customs.alerts == {}
    nobody = await doc(db, "2026", Scope(everything=False, agency_id=None))
    assert nobody.by_agency == {}


async def test_drill_down_lists_the_cases_of_a_figure(db: Db) -> None:
    p = parse_period("2026-10")
    rows, total = await db.stats.step_cases(ALL, Filter(p.start, p.end), "opened")
    assert total == 2 and [r["case_id"] for r in rows] == ["ST-A2", "ST-A3"]
    rows, total = await db.stats.step_cases(ALL, Filter(p.start, p.end, "zs-psb"), "filed")
    assert [r["case_id"] for r in rows] == ["ST-A1"] and rows[0]["elapsed_days"] == 6
    rows, total = await db.stats.step_cases(Scope(False, "zs-ipo"), Filter(p.start, p.end),
                                            "filed")
    assert total == 0 and rows == []


async def test_a_changed_state_is_re_derived(db: Db) -> None:
    """The trigger queues a case whose state is written again; refresh replaces its rows."""
    conn = await db.pool.acquire()
    try:
        await conn.execute("UPDATE cases SET state = state WHERE case_id = 'ST-A4'")
    finally:
        await db.pool.release(conn)
    assert await db.stats.pending() == 1
    assert await db.stats.refresh() == 1
    assert (await doc(db, "2026-11")).totals["opened"] == 1


def _text(pdf: bytes, tmp: Path) -> str:
    path = tmp / "b.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="apt-get install poppler-utils")
async def test_bulletin_pdf_renders_and_holds_the_figures(db: Db, tmp_path: Path) -> None:
    pdf, _ = await service.monthly_bulletin(db.stats, ALL, parse_period("2026-10"),
                                               AGENCIES, name)
    assert pdf.body.startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(_save(pdf.body, tmp_path)),
                    str(tmp_path / "page")], check=True)
    assert (tmp_path / "page-1.png").stat().st_size > 1000
    text = _text(pdf.body, tmp_path)
    assert "两法衔接工作月度通报（2026年10月）" in text
    assert "12345.67" in text and "中山海关" in text  # customs: a row of zeros
    aic = next(line for line in text.splitlines() if line.strip().startswith("市工商局"))
    assert aic.split()[1:11] == ["1", "1", "1", "1", "1", "0", "0", "0", "1", "12345.67"]
    assert "ST-A1" in text and "刑事立案" in text
    again, _ = await service.monthly_bulletin(db.stats, ALL, parse_period("2026-10"),
                                              AGENCIES, name)
    assert again.sha256 == pdf.sha256  # reproducible


def _save(body: bytes, tmp: Path) -> Path:
    path = tmp / "bulletin.pdf"
    path.write_bytes(body)
    return path


async def test_bulletin_xlsx_holds_the_same_numbers(db: Db) -> None:
    from openpyxl import load_workbook

    d = await doc(db, "2026-10")
    _, xlsx = await service.monthly_bulletin(db.stats, ALL, parse_period("2026-10"),
                                             AGENCIES, name)
    wb = load_workbook(io.BytesIO(xlsx.body))
    rows = {r[1]: r for r in wb["各单位"].iter_rows(min_row=2, values_only=True)}
    assert set(rows) == set(AGENCIES)
    for agency, counts in d.by_agency.items():
        assert rows[agency][2:11] == tuple(counts.get(c, 0) for c in (
            "opened", "over_threshold", "transfer_approved", "transfer_refused",
            "transferred", "accepted", "filed", "prosecuted", "penalised"))
    assert rows["zs-aic"][11:15] == (1, 12345.67, 500.0, 1)
    assert rows["zs-customs"][2:] == (0,) * 13
    funnel = list(wb["漏斗"].iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in funnel] == [f["count"] for f in d.funnel]
    _, again = await service.monthly_bulletin(db.stats, ALL, parse_period("2026-10"),
                                              AGENCIES, name)
    assert again.sha256 == xlsx.sha256


async def test_disclosure_round_trips_through_the_importer(db: Db) -> None:
    out = await service.disclosure_export(db.stats, ALL, parse_period("2026-10"), name, "csv")
    report = import_penalty_csv(out.body)
    assert report.rows_read == 1 and report.rows_imported == 1, report.errors
    (record,) = report.records
    assert record.decision_no == "中工商罚〔2026〕101号"
    assert record.fine_yuan == Decimal("12345.67")  # 1.234567 万元, exactly
    assert record.confiscated_yuan == Decimal("500.00")
    assert record.person_id_number == "442000********1234"
    assert record.party_category is not None and record.party_category.value == "自然人"
    assert record.decision_date.isoformat() == "2026-10-20"
    rows = list(csv.reader(io.StringIO(out.body.decode("utf-8-sig"))))
    assert rows[0][0] == "行政相对人名称" and rows[1][rows[0].index("罚款金额(万元)")] == "1.234567"
    assert dataset.PERSON_ID not in out.body.decode("utf-8-sig")
    nov = await service.disclosure_export(db.stats, ALL, parse_period("2026-11"), name, "csv")
    (org,) = import_penalty_csv(nov.body).records
    assert org.uscc == dataset.ORG2["id_number"] and org.fine_yuan == Decimal("50000.00")


async def test_disclosure_xlsx_has_the_same_cells_as_the_csv(db: Db) -> None:
    from openpyxl import load_workbook

    period = parse_period("2026-10")
    as_csv = await service.disclosure_export(db.stats, ALL, period, name, "csv")
    as_xlsx = await service.disclosure_export(db.stats, ALL, period, name, "xlsx")
    sheet = load_workbook(io.BytesIO(as_xlsx.body))["行政处罚"]
    cells = [[c or "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells == list(csv.reader(io.StringIO(as_csv.body.decode("utf-8-sig"))))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(cells)
    assert import_penalty_csv(buffer.getvalue().encode("utf-8")).rows_imported == 1


async def test_credit_list_feed(db: Db) -> None:
    period = parse_period("2026-Q4")
    out = await service.credit_feed(db.stats, ALL, period, name, "json")
    entries = json.loads(out.body)["entries"]
    assert [(e["kind"], e["case_id"], e["decision_no"], e["party_code"]) for e in entries] == [
        ("criminal_filing", "ST-A1", "", dataset.ORG["id_number"]),
        ("penalty", "ST-A2", "中工商罚〔2026〕101号", "442000********1234"),
        ("penalty", "ST-A3", "中知罚〔2026〕7号", dataset.ORG2["id_number"])]
    as_csv = await service.credit_feed(db.stats, ALL, period, name, "csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.body.decode("utf-8-sig"))))) == 3
    empty = await service.credit_feed(db.stats, ALL, parse_period("2026-12"), name, "json")
    assert json.loads(empty.body)["entries"] == []


def test_cli_writes_the_bulletin_and_logs_its_sha256(db: Db, tmp_path: Path) -> None:
    import hashlib
    import os
    import sys

    env = dict(os.environ, LINKAGE_DATABASE_URL=db.dsn, LINKAGE_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "hub.cli", "report", "monthly", "2026-10",
                           "--out", str(tmp_path / "out"), "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert sorted(Path(w["file"]).name for w in written) == ["bulletin-2026-10.pdf",
                                                             "bulletin-2026-10.xlsx"]
    for w in written:
        assert hashlib.sha256(Path(w["file"]).read_bytes()).hexdigest() == w["sha256"]
    logged = asyncio.run(_logged(db.dsn))
    assert {w["sha256"] for w in written} <= logged
    bad = subprocess.run([sys.executable, "-m", "hub.cli", "report", "monthly", "2026-Q4",
                          "--out", str(tmp_path / "out")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and "月度通报" in bad.stderr


async def _logged(dsn: str) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT detail ->> 'sha256' AS sha FROM access_log"
                                " WHERE action = 'report.bulletin'")
    finally:
        await conn.close()
    return {r["sha"] for r in rows}
