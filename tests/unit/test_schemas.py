"""Wire models: money codec, strictness, exported schemas, the catalogue page in step."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.cloudevent import canonical_event_id
from schemas.events import EVENT_TYPES
from schemas.export import catalogue_table, event_json_schemas
from schemas.identity import (
    is_valid_prc_id,
    is_wellformed_uscc,
    prc_id_check_char,
    uscc_check_char,
    validated_identity,
)
from schemas.money import format_money, parse_money
from tests.records import V11_SENDER_ROLES, sample_data

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


# -- contract v1.1 (reverse transfer and public complaints) ---------------------------------

def test_v11_types_are_in_the_catalogue_with_the_contracts_roles() -> None:
    schemas = event_json_schemas()
    for name, roles in V11_SENDER_ROLES.items():
        spec = EVENT_TYPES[name]
        assert {role.value for role in spec.roles} == roles, name
        assert f"{spec.ce_type}.json" in schemas
        spec.model.model_validate_json(json.dumps(sample_data(name)))


@pytest.mark.parametrize(
    ("name", "field", "bad"),
    [
        ("opinion.issued", "proposal", "fine"),
        ("opinion.issued", "to_agency", "ZS AIC"),
        ("opinion.replied", "outcome", "ignored"),
        ("clue.received", "channel", "fax"),
        ("clue.received", "reporter_named", "yes"),
        ("clue.answered", "outcome", "unknown"),
        ("prosecution.decided", "prosecuted", "false"),
        ("case.opened", "clue_id", ""),
        ("case.opened", "committed_at", "2025-01-01T00:00:00"),
    ],
)
def test_v11_fields_are_strict(name: str, field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        EVENT_TYPES[name].model.model_validate_json(json.dumps({**sample_data(name), field: bad}))


def test_a_v10_case_opened_without_clue_id_stays_valid() -> None:
    data = sample_data("case.opened")
    assert "clue_id" not in data
    EVENT_TYPES["case.opened"].model.model_validate_json(json.dumps(data))


# -- party identifiers (GB 32100 / GB 11643) -------------------------------------------------

def test_identity_check_characters() -> None:
    assert is_valid_prc_id("11010519491231002X")  # GB 11643-1999's own example
    assert not is_valid_prc_id("110105194912310021")  # wrong check character
    assert not is_valid_prc_id("11010519491331002X")  # month 13
    assert is_wellformed_uscc("91350100M000100Y43")  # a published example
    assert not is_wellformed_uscc("91350100M000100Y44")
    for authority in "ANY":  # GB 32100: registration authorities A, N and Y besides 1-9
        code = authority + "1350100M000100Y4"
        assert is_wellformed_uscc(code + uscc_check_char(code))
    code = "B1350100M000100Y4"
    assert not is_wellformed_uscc(code + uscc_check_char(code))  # B is no authority
    assert validated_identity("统一社会信用代码", "91350100m000100y43") == ("USCC", "91350100M000100Y43")
    assert validated_identity("身份证", "11010519491231002x") == ("PRC_ID", "11010519491231002X")
    assert validated_identity("USCC", "91350100M000100Y44") is None
    assert validated_identity("护照", "E12345678") is None


@given(st.text(alphabet="0123456789", min_size=17, max_size=17), st.sampled_from("0123456789X"))
def test_prc_id_check_is_exactly_one_character(body: str, last: str) -> None:
    dated = body[:6] + "19900101" + body[14:]
    assert is_valid_prc_id(dated + last) == (last == prc_id_check_char(dated))


def test_the_sdk_builds_v11_events_and_refuses_bad_data() -> None:
    from connectors.events import build_event

    for name in V11_SENDER_ROLES:
        data = sample_data(name)
        _, raw = build_event("zs-procuratorate", name, "C-1", data)
        event = json.loads(raw)
        assert event["type"] == f"cn.linkage.{name}.v1" and event["data"] == data
    with pytest.raises(ValidationError):
        build_event("zs-procuratorate", "opinion.issued", "C-1",
                    {**sample_data("opinion.issued"), "proposal": "fine"})


def _slow_canonical(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _fast_canonical(value: str) -> str | None:
    try:
        return canonical_event_id(value)
    except ValueError:
        return None


@given(st.uuids().flatmap(lambda u: st.sampled_from([
    str(u), str(u).upper(), u.hex, "{" + str(u) + "}", "urn:uuid:" + str(u), str(u) + "\n",
    str(u)[:-1], str(u) + "0", " " + str(u)])) | st.text(max_size=40))
def test_canonical_event_id_fast_path_agrees_with_uuid_parsing(value: str) -> None:
    assert _fast_canonical(value) == _slow_canonical(value)
