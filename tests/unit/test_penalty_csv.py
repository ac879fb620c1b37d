"""Bulk import of 双公示 penalty CSV exports: messy files, exact errors, exact money, hub events."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.penalty.cells import (
    date_to_excel_serial,
    decision_key,
    excel_serial_to_date,
    parse_amount,
    parse_date,
)
from connectors.penalty.columns import normalise_header
from connectors.penalty.mapping import (
    EVENT_NAMESPACE,
    HubEvent,
    OffenceClassifier,
    case_id_for,
    event_id_for,
    map_penalty_record,
)
from connectors.penalty.reader import read_penalty_csv
from connectors.penalty.records import (
    AmountUnit,
    CellValueError,
    DisclosedPenalty,
    PartyCategory,
    PenaltyFileError,
    ReasonCode,
    RowError,
)
from connectors.penalty.report import ImportReport, import_penalty_csv
from schemas.cloudevent import CloudEvent
from schemas.events import Offence
from schemas.identity import is_valid_uscc, uscc_check_char

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "penalty"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
AGENCY_CODE = "11442000MB2C12345B"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def records_of(report: ImportReport) -> dict[int, DisclosedPenalty]:
    return {record.row_number: record for record in report.records}


def errors_of(report: ImportReport) -> list[tuple[int, str | None, str | None, ReasonCode]]:
    return [(e.row_number, e.column, e.value, e.reason_code) for e in report.errors]


def events(
    record: DisclosedPenalty, classifier: OffenceClassifier | None = None
) -> tuple[HubEvent, HubEvent]:
    mapped = map_penalty_record(record, agency_id="zs-aic", now=NOW, classifier=classifier)
    assert not isinstance(mapped, RowError), mapped
    return mapped


MINIMAL_HEADER = ["行政相对人名称", "行政相对人类别", "行政相对人代码_1(统一社会信用代码)",
                  "行政处罚决定书文号", "违法事实", "罚款金额(万元)", "处罚决定日期"]


def minimal_row(decision_no: str = "中市监罚〔2024〕1号", fine: str = "1",
                when: str = "2024-06-01") -> list[str]:
    return ["中山市好运商行", "法人及非法人组织", "91442000MA55JK90LC", decision_no, "虚假宣传",
            fine, when]


# --- the clean file ------------------------------------------------------------------------------


def test_clean_utf8_bom_file_imports_every_row_with_exact_values() -> None:
    report = import_penalty_csv(fixture("clean_utf8_bom.csv"))

    assert (report.encoding, report.delimiter, report.header_rows) == ("utf-8-sig", ",", (1,))
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (3, 3, 0)
    assert report.errors == () and report.warnings == ()
    rows = records_of(report)
    # row 3 has a facts cell over two lines: row 4 is still row 4, as Excel shows it
    assert sorted(rows) == [2, 3, 4]
    company = rows[2]
    assert company.party_name == "中山市甲乙贸易有限公司"
    assert company.party_category is PartyCategory.ORGANIZATION
    assert company.uscc == "91442000MA51AB12XT"
    assert (company.legal_rep, company.legal_rep_id_type) == ("张三", "身份证")
    assert company.decision_no == "中市监罚〔2024〕12号"
    assert company.penalty_categories == ("罚款", "没收违法所得、没收非法财物")
    assert company.fine_yuan == Decimal("50000.00")
    assert company.confiscated_yuan == Decimal("3600.00")
    assert company.decision_date == date(2024, 3, 15)
    assert company.validity == date(2025, 3, 15)
    assert company.publication_end == date(2027, 3, 15)
    assert (company.agency_name, company.agency_code) == ("中山市市场监督管理局", AGENCY_CODE)
    assert company.licence is None and company.remarks is None
    person = rows[3]
    assert person.party_category is PartyCategory.PERSON
    assert person.person_id_number == "44200019900202002X"  # upper-cased check character
    assert person.facts == "当事人在食用油中以次充好，\n销售不合格产品，货值金额0.7万元。"
    assert (person.fine_yuan, person.confiscated_yuan) == (Decimal("3500.00"), Decimal("0.00"))
    assert person.decision_date == date(2024, 4, 1)
    trader = rows[4]
    assert trader.party_category is PartyCategory.SELF_EMPLOYED
    assert trader.fine_yuan == Decimal("123456.78")
    assert trader.decision_date == date(2024, 5, 6)


def test_personal_id_numbers_are_kept_out_of_reprs() -> None:
    report = import_penalty_csv(fixture("clean_utf8_bom.csv"))
    text = repr(report.records)
    assert "442000198001010011" not in text and "44200019900202002X" not in text


# --- GBK, title row, full-width digits, Excel serial ---------------------------------------------


def test_gbk_file_with_title_row_full_width_amounts_and_excel_serial_date() -> None:
    data = fixture("gbk_title_row.csv")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is GBK
    report = import_penalty_csv(data)

    assert report.encoding == "gbk"
    assert report.header_rows == (2,)  # the title row above is skipped
    assert report.errors == ()
    assert [(w.row_number, w.column, w.reason_code) for w in report.warnings] == [
        (2, "序号", ReasonCode.UNKNOWN_COLUMN)
    ]
    rows = records_of(report)
    assert sorted(rows) == [3, 4, 5]
    first = rows[3]
    assert first.uscc == "91442000MA53EF56GE"  # written in full-width characters
    assert first.fine_yuan == Decimal("12345000.00")  # "１，２３４．５" 万元
    assert first.confiscated_yuan == Decimal("800.00")  # "０．０８" 万元
    assert first.decision_date == date(2024, 1, 1)  # Excel serial 45292
    second = rows[4]
    assert second.fine_yuan == Decimal("10000000.00")  # "1,000" 万元, quoted in the file
    assert second.confiscated_yuan == Decimal("5000.00")  # " 0.5 "
    assert second.decision_date == date(2023, 12, 15)  # 20231215
    assert second.penalty_categories == ("警告", "罚款")
    third = rows[5]
    assert third.decision_date == date(2023, 11, 3)  # 2023年11月3日
    assert (third.person_id_type, third.person_id_number) == ("居民身份证", "44200019851111003X")
    assert third.remarks is None  # "无"


# --- bad rows ------------------------------------------------------------------------------------


def test_bad_rows_are_reported_at_their_row_and_column_and_good_rows_imported() -> None:
    report = import_penalty_csv(fixture("bad_rows.csv"))

    assert errors_of(report) == [
        (3, "行政处罚决定书文号", None, ReasonCode.MISSING_VALUE),
        (4, "行政相对人代码_1(统一社会信用代码)", "91442000MA56LM12N0", ReasonCode.BAD_USCC),
        (5, "罚款金额(万元)", "五万", ReasonCode.BAD_AMOUNT),
        (6, "行政处罚决定书文号", "中市监罚（2024）201 号", ReasonCode.DUPLICATE_DECISION_NO),
        (7, "罚款金额(万元)", "0.0000001", ReasonCode.AMOUNT_TOO_PRECISE),
        (8, "处罚决定日期", "2024-02-30", ReasonCode.BAD_DATE),
        (10, "行政相对人类别", "公司", ReasonCode.BAD_PARTY_CATEGORY),  # both problems of
        (10, "处罚决定日期", "2024/13/01", ReasonCode.BAD_DATE),  # row 10 at once
        (12, "罚款金额(万元)", "=1+1", ReasonCode.BAD_AMOUNT),
    ]
    # row 11 is blank: neither read nor an error; row 13 keeps its Excel number
    assert sorted(records_of(report)) == [2, 9, 13]
    assert records_of(report)[13].fine_yuan == Decimal("0.01")
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (11, 3, 8)
    assert report.summary_en == (
        "11 rows read: 3 imported, 8 rejected (9 errors), 1 header warnings"
    )
    assert report.summary_zh.startswith("共读取 11 行：导入 3 行，8 行有错误未导入")
    assert [(w.row_number, w.column, w.reason_code) for w in report.warnings] == [
        (1, "内部案件编号", ReasonCode.UNKNOWN_COLUMN)
    ]


def test_error_messages_say_what_is_wrong_in_both_languages() -> None:
    report = import_penalty_csv(fixture("bad_rows.csv"))
    by_row = {error.row_number: error for error in report.errors}
    assert "第 18 位应为 P" in by_row[4].message_zh and "should be P" in by_row[4].message_en
    assert "第 2 行" in by_row[6].message_zh and "row 2" in by_row[6].message_en
    assert "6 位小数" in by_row[7].message_zh and "one fen" in by_row[7].message_en


def test_a_decision_number_is_never_imported_twice() -> None:
    rows = [MINIMAL_HEADER, minimal_row("A〔2024〕1号"), minimal_row("A(2024)1号"),
            minimal_row(" A【2024】1 号 "), minimal_row("A〔2024〕2号")]
    report = import_penalty_csv(csv_text(rows).encode())
    assert [r.decision_no for r in report.records] == ["A〔2024〕1号", "A〔2024〕2号"]
    assert [(e.row_number, e.reason_code) for e in report.errors] == [
        (3, ReasonCode.DUPLICATE_DECISION_NO), (4, ReasonCode.DUPLICATE_DECISION_NO)
    ]


def test_the_error_report_is_a_bilingual_excel_ready_csv() -> None:
    report = import_penalty_csv(fixture("bad_rows.csv"))
    data = report.to_error_csv()

    assert data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert lines[0] == ["级别 Level", "行号 Row", "列 Column", "原值 Value", "原因代码 Reason",
                        "说明", "Message"]
    assert lines[1][:5] == ["提示 warning", "1", "内部案件编号", "", "UNKNOWN_COLUMN"]
    assert len(lines) == 1 + len(report.warnings) + len(report.errors)
    assert lines[2][:5] == ["错误 error", "3", "行政处罚决定书文号", "", "MISSING_VALUE"]
    # a value that Excel would run as a formula is defused
    assert ["错误 error", "12", "罚款金额(万元)", "'=1+1", "BAD_AMOUNT"] == lines[-1][:5]


def test_iterating_a_file_twice_gives_the_same_results() -> None:
    source = read_penalty_csv(fixture("bad_rows.csv"))
    assert list(source) == list(source)


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["罚款金额（万元）", "罚款金额 (万元)", " *罚款金额【万元】", "罚款金额(万元)", "罚款金额（单位：万元）"],
)
def test_header_variants_name_the_same_column(header: str) -> None:
    rows = [[*MINIMAL_HEADER[:5], header, MINIMAL_HEADER[6]], minimal_row(fine="２")]
    source = read_penalty_csv(csv_text(rows).encode())
    assert source.column_labels["fine_yuan"] == header.strip()
    assert source.warnings == ()
    assert [r.fine_yuan for r in source if isinstance(r, DisclosedPenalty)] == [Decimal("20000.00")]


def test_normalise_header_folds_width_spaces_and_brackets() -> None:
    assert normalise_header("行政相对人代码_1 （统一社会信用代码）") == normalise_header(
        "行政相对人代码1(统一社会信用代码)"
    )
    assert normalise_header("　罚款金额【万元】") == "罚款金额(万元)"


@pytest.mark.parametrize("alias", ["统一社会信用代码", "代码_1", "行政相对人代码_1", "代码１"])
def test_uscc_column_aliases(alias: str) -> None:
    rows = [[*MINIMAL_HEADER[:2], alias, *MINIMAL_HEADER[3:]], minimal_row()]
    source = read_penalty_csv(csv_text(rows).encode())
    assert source.column_labels["uscc"] == alias
    assert [r.uscc for r in source if isinstance(r, DisclosedPenalty)] == ["91442000MA55JK90LC"]


def test_two_row_header_whose_top_row_groups_columns() -> None:
    top = ["行政相对人名称", "行政相对人代码", "", "法定代表人信息", "", "", "行政处罚决定书文号",
           "罚款金额(万元)", "处罚决定日期", "处罚机关", ""]
    sub = ["", "统一社会信用代码", "工商注册号", "姓名", "证件类型", "证件号码", "", "", "",
           "名称", "统一社会信用代码"]
    data = ["中山市好运商行", "91442000MA55JK90LC", "442000000012345", "孙九", "身份证",
            "442000197001010015", "中市监罚〔2024〕9号", "3", "2024-07-01",
            "中山市市场监督管理局", AGENCY_CODE]
    source = read_penalty_csv(csv_text([["2024年行政处罚"], top, sub, data], "\t").encode())

    assert (source.delimiter, source.header_rows) == ("\t", (2, 3))
    assert source.warnings == ()
    assert source.column_labels["agency_code"] == "处罚机关/统一社会信用代码"
    (record,) = list(source)
    assert isinstance(record, DisclosedPenalty)
    assert record.row_number == 4
    assert (record.uscc, record.business_reg_no) == ("91442000MA55JK90LC", "442000000012345")
    assert (record.legal_rep, record.legal_rep_id_type) == ("孙九", "身份证")
    assert record.legal_rep_id_number == "442000197001010015"
    assert record.person_id_number is None  # the legal representative's is not the party's
    assert (record.agency_name, record.agency_code) == ("中山市市场监督管理局", AGENCY_CODE)


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiter_is_detected(delimiter: str) -> None:
    source = read_penalty_csv(csv_text([MINIMAL_HEADER, minimal_row()], delimiter).encode())
    assert source.delimiter == delimiter
    assert [r.decision_no for r in source if isinstance(r, DisclosedPenalty)] == ["中市监罚〔2024〕1号"]


def test_optional_columns_may_be_missing_and_unknown_ones_are_warnings() -> None:
    rows = [["处罚决定日期", "内部编号", "行政处罚决定书文号", "行政相对人名称"],
            ["2024-01-02", "X1", "中市监罚〔2024〕3号", "周十"]]
    report = import_penalty_csv(csv_text(rows).encode())
    (record,) = report.records
    assert record.fine_yuan == Decimal("0.00") and record.uscc is None
    assert [(w.column, w.reason_code) for w in report.warnings] == [
        ("内部编号", ReasonCode.UNKNOWN_COLUMN)
    ]


def test_amount_column_in_yuan_is_read_in_yuan_and_a_unitless_one_as_wan() -> None:
    header = [*MINIMAL_HEADER[:5], "罚款金额(元)", MINIMAL_HEADER[6], "没收金额"]
    rows = [header, [*minimal_row(fine="1,234.56"), "0.5"], [*minimal_row("B1", "1.234"), ""]]
    report = import_penalty_csv(csv_text(rows).encode())

    (record,) = report.records
    assert (record.fine_yuan, record.confiscated_yuan) == (Decimal("1234.56"), Decimal("5000.00"))
    assert errors_of(report) == [(3, "罚款金额(元)", "1.234", ReasonCode.AMOUNT_TOO_PRECISE)]
    assert [(w.column, w.reason_code) for w in report.warnings] == [
        ("没收金额", ReasonCode.AMOUNT_UNIT_ASSUMED)
    ]


def test_cells_beyond_the_header_are_a_shifted_row() -> None:
    rows = [MINIMAL_HEADER, [*minimal_row(), "多出的值"]]
    report = import_penalty_csv(csv_text(rows).encode())
    assert errors_of(report) == [(2, None, "多出的值", ReasonCode.EXTRA_CELLS)]


def test_an_id_number_excel_showed_in_scientific_notation_is_an_error() -> None:
    rows = [["行政相对人名称", "证件号码", "行政处罚决定书文号", "处罚决定日期"],
            ["周十", "4.42E+17", "中市监罚〔2024〕3号", "2024-01-02"]]
    report = import_penalty_csv(csv_text(rows).encode())
    assert errors_of(report) == [(2, "证件号码", "4.42E+17", ReasonCode.BAD_CODE)]


@pytest.mark.parametrize("cell", ['="91442000MA55JK90LC"', "'91442000MA55JK90LC",
                                  "\t9144 2000 MA55 JK90 lc", "９１４４２０００ＭＡ５５ＪＫ９０ＬＣ"])
def test_codes_are_read_through_excel_text_markers_spaces_and_full_width(cell: str) -> None:
    rows = [MINIMAL_HEADER, [*minimal_row()[:2], cell, *minimal_row()[3:]]]
    (record,) = import_penalty_csv(csv_text(rows).encode()).records
    assert record.uscc == "91442000MA55JK90LC"


# --- the file as a whole -------------------------------------------------------------------------


def test_utf16_export_with_bom_is_read() -> None:
    text = csv_text([MINIMAL_HEADER, minimal_row()], "\t")
    source = read_penalty_csv(text.encode("utf-16"))
    assert (source.encoding, source.delimiter) == ("utf-16", "\t")
    assert len([r for r in source if isinstance(r, DisclosedPenalty)]) == 1


def test_utf8_without_bom_and_gb18030_are_read() -> None:
    text = csv_text([MINIMAL_HEADER, minimal_row()])
    assert read_penalty_csv(text.encode("utf-8")).encoding == "utf-8"
    rare = text.replace("中山市好运商行", "中山市䶮记商行")  # outside GBK
    source = read_penalty_csv(rare.encode("gb18030"))
    assert source.encoding == "gb18030"
    assert [r.party_name for r in source if isinstance(r, DisclosedPenalty)] == ["中山市䶮记商行"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\x00\x80\xff", ReasonCode.UNKNOWN_ENCODING),
        ("标题\n甲,乙,丙\n1,2,3\n".encode(), ReasonCode.NO_HEADER),
        ("行政相对人名称,处罚决定日期\n某,2024-01-01\n".encode(),
         ReasonCode.MISSING_REQUIRED_COLUMN),
        ("行政相对人名称,行政处罚决定书文号,处罚决定日期,决定日期\n".encode(),
         ReasonCode.DUPLICATE_COLUMN),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_is_refused(data: bytes, code: ReasonCode) -> None:
    with pytest.raises(PenaltyFileError) as raised:
        read_penalty_csv(data)
    assert raised.value.reason_code is code
    assert raised.value.message_zh and raised.value.message_en


def test_a_cell_too_large_for_csv_is_a_file_error_not_a_crash() -> None:
    rows = [MINIMAL_HEADER, minimal_row(), [*minimal_row("B1")[:4], "事" * 200_000]]
    with pytest.raises(PenaltyFileError) as raised:
        list(read_penalty_csv(csv_text(rows).encode()))
    assert raised.value.reason_code is ReasonCode.MALFORMED_CSV
    assert "第 3 行" in raised.value.message_zh


def test_missing_required_column_is_named() -> None:
    with pytest.raises(PenaltyFileError) as raised:
        read_penalty_csv("行政相对人名称,处罚决定日期\n某,2024-01-01\n".encode())
    assert "行政处罚决定书文号" in raised.value.message_zh


# --- amounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "yuan"),
    [
        ("5", "50000.00"),
        ("0.000001", "0.01"),
        ("12.345678", "123456.78"),
        ("１２．３４５６７８", "123456.78"),
        ("1,234.5", "12345000.00"),
        ("１，２３４，５６７．８９", "12345678900.00"),
        ("  0.35\u3000", "3500.00"),
        ("1.2345670", "12345.67"),  # trailing zeros add no precision
        ("0", "0.00"),
        ("3万元", "30000.00"),
        ("999999999999.999999", "9999999999999999.99"),
    ],
)
def test_wan_amounts_convert_exactly_to_yuan(text: str, yuan: str) -> None:
    value = parse_amount(text)
    assert value == Decimal(yuan)
    assert str(value) == yuan  # exactly two decimals, no float on the way


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0.0000001", ReasonCode.AMOUNT_TOO_PRECISE),
        ("0.30000000000000004", ReasonCode.AMOUNT_TOO_PRECISE),  # a float's artefact
        ("1e3", ReasonCode.BAD_AMOUNT),
        ("-1", ReasonCode.BAD_AMOUNT),
        ("1,23", ReasonCode.BAD_AMOUNT),  # not thousands: refused, not guessed
        ("1 000", ReasonCode.BAD_AMOUNT),
        ("五万", ReasonCode.BAD_AMOUNT),
        ("", ReasonCode.BAD_AMOUNT),
        ("1000000000000", ReasonCode.BAD_AMOUNT),  # beyond the contract's money
    ],
)
def test_unreadable_amounts_are_refused(text: str, code: ReasonCode) -> None:
    with pytest.raises(CellValueError) as raised:
        parse_amount(text)
    assert raised.value.reason_code is code


_FULL_WIDTH = str.maketrans("0123456789,.", "０１２３４５６７８９，．")


def _as_wan_text(
    yuan: Decimal, separator: str, full_width: bool, zeros: int, left: str, right: str
) -> str:
    whole, _, fraction = f"{yuan.scaleb(-4):f}".partition(".")
    if separator:
        groups: list[str] = []
        while len(whole) > 3:
            whole, group = whole[:-3], whole[-3:]
            groups.insert(0, group)
        whole = separator.join([whole, *groups])
    text = whole + ("." + fraction + "0" * zeros if fraction or zeros else "")
    return left + (text.translate(_FULL_WIDTH) if full_width else text) + right


_SPACES = st.text(alphabet=" \u3000\t", max_size=2)


@given(
    yuan=st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2),
    separator=st.sampled_from(["", ",", "，"]),
    full_width=st.booleans(),
    zeros=st.integers(0, 3),
    left=_SPACES,
    right=_SPACES,
)
def test_any_yuan_amount_written_in_wan_reads_back_exactly(
    yuan: Decimal, separator: str, full_width: bool, zeros: int, left: str, right: str
) -> None:
    text = _as_wan_text(yuan, separator, full_width, zeros, left, right)
    assert parse_amount(text) == yuan
    assert parse_amount(text).as_tuple().exponent == -2


@given(st.integers(1, 10**12).filter(lambda n: n % 10 != 0))
def test_any_wan_amount_finer_than_a_fen_is_refused(ten_millionths: int) -> None:
    text = f"{Decimal(ten_millionths).scaleb(-7):f}"
    with pytest.raises(CellValueError) as raised:
        parse_amount(text)
    assert raised.value.reason_code is ReasonCode.AMOUNT_TOO_PRECISE


@given(st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2))
def test_any_yuan_amount_reads_back_in_a_yuan_column(yuan: Decimal) -> None:
    assert parse_amount(f"{yuan:,f}", AmountUnit.YUAN) == yuan


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "day"),
    [(1, date(1900, 1, 1)), (59, date(1900, 2, 28)), (61, date(1900, 3, 1)),
     (45292, date(2024, 1, 1)), (2958465, date(9999, 12, 31))],
)
def test_excel_serials_of_the_1900_date_system(serial: int, day: date) -> None:
    assert excel_serial_to_date(serial) == day
    assert date_to_excel_serial(day) == serial


@pytest.mark.parametrize("serial", [0, 60, 2958466])
def test_excel_serials_that_are_no_date(serial: int) -> None:
    with pytest.raises(CellValueError):
        excel_serial_to_date(serial)


@given(st.dates(min_value=date(1900, 1, 1)))
def test_any_date_round_trips_through_its_excel_serial(day: date) -> None:
    assert excel_serial_to_date(date_to_excel_serial(day)) == day


@given(st.integers(1, 2958465).filter(lambda n: n != 60))
def test_any_excel_serial_round_trips_through_its_date(serial: int) -> None:
    assert date_to_excel_serial(excel_serial_to_date(serial)) == serial


@given(
    day=st.dates(min_value=date(1000, 1, 1)),
    form=st.sampled_from(["{y}-{m:02}-{d:02}", "{y}/{m:02}/{d:02}", "{y}/{m}/{d}",
                          "{y}年{m}月{d}日", "{y}{m:02}{d:02}", "{y}.{m}.{d}",
                          "{y}/{m}/{d} 0:00", "{y}-{m:02}-{d:02} 12:30:00"]),
    full_width=st.booleans(),
)
def test_any_date_written_in_a_supported_form_reads_back(
    day: date, form: str, full_width: bool
) -> None:
    text = form.format(y=day.year, m=day.month, d=day.day)
    assert parse_date(text.translate(_FULL_WIDTH) if full_width else text) == day


@given(st.integers(10000, 99999))
def test_a_five_digit_number_is_an_excel_serial(serial: int) -> None:
    assert parse_date(str(serial)) == excel_serial_to_date(serial)


@pytest.mark.parametrize("text", ["2024-02-30", "2024-1/5", "2024", "202401", "24-01-01", "昨天"])
def test_unreadable_dates_are_refused(text: str) -> None:
    with pytest.raises(CellValueError) as raised:
        parse_date(text)
    assert raised.value.reason_code is ReasonCode.BAD_DATE


# --- USCC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    # published codes (GB 32100-2015 examples and registrations), checked by an independent
    # source: they pin the weights and the character set
    ["914403001922038216", "91440300708461136T", "91330100716105852F", "91350100M000100Y43"],
)
def test_published_unified_social_credit_codes_are_valid(code: str) -> None:
    assert is_valid_uscc(code)


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@given(st.text(alphabet=_USCC_CHARS, min_size=17, max_size=17), st.sampled_from(_USCC_CHARS))
def test_exactly_one_check_character_fits_any_uscc_body(body: str, last: str) -> None:
    assert is_valid_uscc(body + last) == (last == uscc_check_char(body))


@pytest.mark.parametrize("code", ["91442000MA55JK90L", "91442000MA55JK90LCX", "91442000MO55JK90LC"])
def test_malformed_uscc_is_not_valid(code: str) -> None:
    assert not is_valid_uscc(code)


# --- mapping to hub events -----------------------------------------------------------------------


def test_a_record_maps_to_case_opened_and_penalty_decided() -> None:
    source = read_penalty_csv(fixture("clean_utf8_bom.csv"))
    company = records_of(ImportReport.from_results(source, source))[2]

    opened, decided = events(company)

    case_id = "zs-aic:中市监罚〔2024〕12号"
    at = datetime.fromisoformat("2024-03-15T00:00:00+08:00")
    assert opened == HubEvent(
        "case.opened", case_id, event_id_for("zs-aic", company.decision_no, "case.opened"), at,
        {
            "offence": "counterfeit_goods_sale",
            "opened_at": "2024-03-15T00:00:00+08:00",
            "parties": [{"kind": "organization", "id_type": "USCC",
                         "id_number": "91442000MA51AB12XT", "name": "中山市甲乙贸易有限公司"}],
            "summary": "当事人销售假冒“飞鹰”注册商标的运动鞋120双，货值金额3.6万元。",
        },
    )
    assert decided.type_name == "penalty.decided" and decided.case_id == case_id
    assert decided.data == {
        "decision_no": "中市监罚〔2024〕12号",
        "decided_at": "2024-03-15T00:00:00+08:00",
        "fine": "50000.00",
        "confiscated": "3600.00",
    }
    for event in (opened, decided):  # what the connector will build is a valid CloudEvent
        CloudEvent.model_validate(
            {"specversion": "1.0", "id": event.event_id, "source": "urn:linkage:agency:zs-aic",
             "type": f"cn.linkage.{event.type_name}.v1", "subject": event.case_id,
             "time": event.time, "datacontenttype": "application/json", "data": event.data}
        )


def test_persons_and_sole_traders_become_parties_of_their_kind() -> None:
    rows = records_of(import_penalty_csv(fixture("clean_utf8_bom.csv")))
    (person_opened, _) = events(rows[3])
    (trader_opened, _) = events(rows[4])
    assert person_opened.data["parties"] == [
        {"kind": "person", "id_type": "身份证", "id_number": "44200019900202002X", "name": "李四"}
    ]
    assert person_opened.data["offence"] == "shoddy_products"
    assert trader_opened.data["parties"][0]["kind"] == "organization"
    assert trader_opened.data["offence"] == "patent_counterfeiting"


def test_re_importing_a_file_yields_the_same_event_ids() -> None:
    def ids(data: bytes) -> list[str]:
        return [e.event_id for record in import_penalty_csv(data).records for e in events(record)]

    first = ids(fixture("clean_utf8_bom.csv"))
    assert first == ids(fixture("clean_utf8_bom.csv"))
    assert len(set(first)) == len(first) == 6
    assert first[0] == str(uuid.uuid5(EVENT_NAMESPACE, "zs-aic\n中市监罚〔2024〕12号\ncase.opened"))


def test_ids_depend_on_the_decision_not_on_how_its_number_is_spelled() -> None:
    assert case_id_for("zs-aic", "中市监罚（2024）12 号") == case_id_for("zs-aic", "中市监罚〔2024〕12号")
    assert event_id_for("zs-aic", "A[2024]1号", "case.opened") == event_id_for(
        "zs-aic", "A〔2024〕1号", "case.opened"
    )
    assert event_id_for("zs-aic", "A〔2024〕1号", "case.opened") != event_id_for(
        "zs-qts", "A〔2024〕1号", "case.opened"
    )


def test_case_ids_are_bounded_and_free_of_control_characters() -> None:
    long_a, long_b = "中" * 200 + "1号", "中" * 200 + "2号"
    assert len(case_id_for("zs-aic", long_a)) == 128
    assert case_id_for("zs-aic", long_a) != case_id_for("zs-aic", long_b)
    assert case_id_for("zs-aic", "A\x00\x1f\x7f\u200b1号") == "zs-aic:A1号"
    with pytest.raises(ValueError):
        case_id_for("ZS AIC", "A1号")


def test_offence_keyword_table_and_agency_overrides() -> None:
    default = OffenceClassifier()
    assert default.classify("销售假冒注册商标的商品", None) is Offence.COUNTERFEIT_GOODS_SALE
    assert default.classify("假冒注册商标", None) is Offence.TRADEMARK_COUNTERFEITING
    assert default.classify("擅自制造他人注册商标标识", None) is Offence.ILLEGAL_MARKS
    assert default.classify(None, "当事人销售盗版图书") is Offence.COPYRIGHT_INFRINGEMENT
    assert default.classify("其他", "当事人销售假 农药") is Offence.FAKE_AGRICULTURAL_INPUTS
    assert default.classify("虚假宣传", "发布虚假广告") is Offence.OTHER

    agency = OffenceClassifier({"AIC-07 类": "trade_secret", "商标侵权": Offence.OTHER})
    assert agency.classify("AIC-07类", None) is Offence.TRADE_SECRET
    assert agency.classify("商标侵权", None) is Offence.OTHER  # the agency's word wins
    assert agency.classify("假冒专利", None) is Offence.PATENT_COUNTERFEITING  # defaults remain
    with pytest.raises(ValueError):
        OffenceClassifier({"某类": "robbery"})


def test_an_agency_mapping_is_used_when_mapping_a_record() -> None:
    record = records_of(import_penalty_csv(fixture("bad_rows.csv")))[2]
    classifier = OffenceClassifier({"销售假冒注册商标的商品": Offence.TRADEMARK_COUNTERFEITING})
    (opened, _) = events(record, classifier=classifier)
    assert opened.data["offence"] == "trademark_counterfeiting"


def test_a_person_without_id_number_is_a_row_error_naming_the_column() -> None:
    source = read_penalty_csv(fixture("bad_rows.csv"))
    person = records_of(ImportReport.from_results(source, source))[9]
    error = map_penalty_record(person, agency_id="zs-aic", column_labels=source.column_labels,
                               now=NOW)
    assert isinstance(error, RowError)
    assert (error.row_number, error.column, error.reason_code) == (
        9, "证件号码", ReasonCode.MISSING_PARTY_ID
    )


def test_an_event_the_hub_would_reject_is_a_row_error_instead() -> None:
    record = records_of(import_penalty_csv(fixture("clean_utf8_bom.csv")))[2]
    too_big = record.model_copy(update={"fine_yuan": Decimal("100000000000000000.00")})
    error = map_penalty_record(too_big, agency_id="zs-aic", now=NOW,
                               column_labels={"fine_yuan": "罚款（万元）"})
    assert isinstance(error, RowError)
    assert (error.row_number, error.column, error.reason_code) == (
        2, "罚款（万元）", ReasonCode.EVENT_INVALID
    )
    assert "fine" in error.message_en


def test_a_decision_dated_in_the_future_is_a_row_error() -> None:
    record = records_of(import_penalty_csv(fixture("clean_utf8_bom.csv")))[2]
    error = map_penalty_record(record, agency_id="zs-aic", now=datetime(2024, 3, 14, tzinfo=UTC))
    assert isinstance(error, RowError)
    assert (error.column, error.reason_code) == ("处罚决定日期", ReasonCode.DATE_IN_FUTURE)


def test_mapping_errors_join_the_clerks_report() -> None:
    source = read_penalty_csv(fixture("bad_rows.csv"))

    def mapped() -> list[DisclosedPenalty | RowError]:
        out: list[DisclosedPenalty | RowError] = []
        for result in source:
            if isinstance(result, DisclosedPenalty):
                result_or_error = map_penalty_record(result, agency_id="zs-aic", now=NOW)
                if isinstance(result_or_error, RowError):
                    out.append(result_or_error)
                    continue
            out.append(result)
        return out

    report = ImportReport.from_results(source, mapped())
    assert sorted(records_of(report)) == [2, 13]
    assert (report.rows_read, report.rows_rejected) == (11, 9)


def test_decision_key_folds_spelling_only() -> None:
    assert decision_key(" 中市监罚（２０２４）１２ 号") == "中市监罚〔2024〕12号"
    assert decision_key("A〔2024〕1号") != decision_key("A〔2024〕11号")
