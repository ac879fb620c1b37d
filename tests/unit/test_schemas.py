"""Wire models: money codec, strictness, exported schemas, the catalogue page in step."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import EVENT_TYPES
from schemas.export import catalogue_table, event_json_schemas
from schemas.money import format_money, parse_money

ROOT = Path(__file__).resolve().parents[2]


@given(st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2,
                   allow_nan=False, allow_infinity=False))
def test_money_round_trips_exactly(value: Decimal) -> None:
    assert parse_money(format_money(value)) == value


@pytest.mark.parametrize("bad", [50000, 50000.0, "50000.001", "-1.00", "1e5", " 1", "01.00", ""])
def test_money_refuses_non_contract_forms(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_money(bad)


def test_event_data_is_strict() -> None:
    model = EVENT_TYPES["filing.decided"].model
    ok = {"decided_at": "2026-01-05T10:00:00+08:00", "filed": True, "reasons": "", "complex": False}
    model.model_validate_json(json.dumps(ok))
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(dict(ok, filed="true")))
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(dict(ok, decided_at="2026-01-05T10:00:00")))
    with pytest.raises(ValidationError):  # not filed needs reasons
        model.model_validate_json(json.dumps(dict(ok, filed=False)))


def test_every_type_has_a_schema_with_bilingual_title() -> None:
    schemas = event_json_schemas()
    assert len(schemas) == len(EVENT_TYPES)
    for document in schemas.values():
        zh, _, en = document["title"].partition(" / ")
        assert zh and en and any("\u4e00" <= c <= "\u9fff" for c in zh)


def test_docs_event_catalogue_is_current() -> None:
    page = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert catalogue_table() in page, "regenerate docs/events.md with schemas.export.catalogue_table()"
