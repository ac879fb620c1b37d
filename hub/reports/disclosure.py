"""双公示 disclosure of the month's penalty decisions, and the red/black-list feed.

The disclosure uses the national format's headers in its order (connectors/penalty/columns.py
`FIELDS`, the same table the project's importer reads), amounts in 万元 computed exactly
(Decimal yuan / 10000, never a float), organisations by 统一社会信用代码, and natural
persons' identity numbers masked: the eight birth-date digits (7th to 14th) are replaced by
`*`, keeping the region code and the last four (`440102********1234`). The 2021 standard
asks for de-identified personal identity numbers; which digits to hide is this project's
choice (the birth date is what makes a number identifying), noted here for the lead to
confirm with the city's credit office. One row per decision, for the case's first party
(an organisation before a person), since the decision number is the row's key.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.penalty.columns import FIELDS
from hub.reports.bulletin import workbook_bytes
from hub.reports.labels import offence_zh
from hub.reports.periods import SHANGHAI
from schemas.identity import PRC_ID_TYPE_NAMES, USCC_TYPE_NAMES, is_valid_uscc

HEADERS: tuple[str, ...] = tuple(spec.header for spec in FIELDS)
WAN = Decimal(10000)


def mask_person_id(number: str) -> str:
    """Hide the birth date of an 18-digit (or 15-digit) resident id; any other number keeps
    only its first and last two characters."""
    if len(number) == 18:
        return number[:6] + "*" * 8 + number[14:]
    if len(number) == 15:
        return number[:6] + "*" * 6 + number[12:]
    if len(number) <= 4:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


def wan(yuan: Decimal) -> str:
    """Yuan to 万元, exact: 12345.67 -> '1.234567'."""
    value = (Decimal(yuan) / WAN).quantize(Decimal("0.000001"))
    text = format(value, "f").rstrip("0").rstrip(".")
    return text or "0"


def _party(parties: Any) -> dict[str, Any]:
    items = json.loads(parties) if isinstance(parties, str) else (parties or [])
    orgs = [p for p in items if p.get("kind") == "organization"]
    first: dict[str, Any] = (orgs or items or [{}])[0]
    return first


def _is_uscc(id_type: str | None) -> bool:
    return id_type is not None and (id_type in USCC_TYPE_NAMES or id_type == "USCC")


def disclosure_rows(records: Sequence[Mapping[str, Any]],
                    agency_name: Callable[[str], str]) -> list[dict[str, str]]:
    """The rows of the export, each a mapping header -> cell text."""
    out = []
    for r in records:
        party = _party(r["parties"])
        person = party.get("kind") == "person"
        id_type, number = party.get("id_type"), party.get("id_number") or ""
        row = dict.fromkeys(HEADERS, "")
        values = {
            "party_name": party.get("name") or "",
            "party_category": "自然人" if person else "法人及非法人组织",
            "uscc": number if not person and _is_uscc(id_type) and is_valid_uscc(number)
            else "",
            "person_id_type": ("身份证" if id_type in PRC_ID_TYPE_NAMES else id_type or "")
            if person else "",
            "person_id_number": mask_person_id(number) if person and number else "",
            "decision_no": r["decision_no"],
            "violation_type": offence_zh(r["offence"]),
            "penalty_categories": "罚款" if r["fine"] else "其他",
            "fine_yuan": wan(r["fine"]),
            "confiscated_yuan": wan(r["confiscated"]),
            "decision_date": r["decided_at"].astimezone(SHANGHAI).date().isoformat(),
            "agency_name": agency_name(r["agency"]),
            "data_source": agency_name(r["agency"]),
            "remarks": f"案件 {r['case_id']}" + (
                "；统一社会信用代码未通过校验，未公示" if not person and number and not (
                    _is_uscc(id_type) and is_valid_uscc(number)) else ""),
        }
        for spec in FIELDS:
            if spec.name in values:
                row[spec.header] = values[spec.name]
        out.append(row)
    return out


def table_csv(headers: Sequence[str], rows: list[dict[str, str]]) -> bytes:
    """UTF-8 with BOM (Excel opens it as UTF-8), CRLF, every field quoted as needed."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=headers, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def disclosure_csv(rows: list[dict[str, str]]) -> bytes:
    return table_csv(HEADERS, rows)


def disclosure_xlsx(rows: list[dict[str, str]], when: datetime) -> bytes:
    """Every cell as text (so identity numbers and codes stay exact in Excel)."""
    return workbook_bytes([("行政处罚", list(HEADERS),
                            [[row[h] for h in HEADERS] for row in rows])], when)


CREDIT_HEADERS = ("list", "kind", "party_name", "party_kind", "party_code", "decision_no",
                  "case_id", "agency", "offence", "date")


def credit_rows(entries: Sequence[Mapping[str, Any]],
                agency_name: Callable[[str], str]) -> list[dict[str, str]]:
    """One row per party of each IP penalty decision or criminal filing (黑名单 entries)."""
    out = []
    for e in entries:
        items = e["parties"]
        parties = json.loads(items) if isinstance(items, str) else (items or [])
        for party in parties:
            person = party.get("kind") == "person"
            number = party.get("id_number") or ""
            out.append({
                "list": "black",
                "kind": e["kind"],
                "party_name": party.get("name") or "",
                "party_kind": "自然人" if person else "法人及非法人组织",
                "party_code": mask_person_id(number) if person else number,
                "decision_no": e["decision_no"] or "",
                "case_id": e["case_id"],
                "agency": agency_name(e["agency"]),
                "offence": offence_zh(e["offence"]),
                "date": e["at"].astimezone(SHANGHAI).date().isoformat(),
            })
    return out


def credit_csv(rows: list[dict[str, str]]) -> bytes:
    return table_csv(CREDIT_HEADERS, rows)
