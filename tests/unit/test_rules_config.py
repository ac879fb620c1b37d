"""Rule file loading: the shipped file, clear errors with TOML paths, overrides, empty sets."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas.events import Offence
from streams.rules import RULE_CATALOGUE, CaseState, ConfigError, evaluate, load_rules, parse_rules
from streams.rules._policy_table import POLICIES
from streams.rules.rules_config import default_rules_path, merge

BASE: dict[str, Any] = tomllib.loads(default_rules_path().read_text(encoding="utf-8"))


SINCE = {"effective_from": date(2004, 12, 22)}


def paths(error: ConfigError) -> list[str]:
    return [problem.path for problem in error.problems]


def test_the_shipped_file_loads_with_every_rule_and_offence() -> None:
    rules = load_rules()
    assert rules.version == "2026.2"
    assert set(rules.rules) == set(RULE_CATALOGUE)
    assert set(rules.offences) == set(Offence)
    assert all(rule.enabled for rule in rules.rules.values())


def test_every_rule_has_a_policy_and_every_policy_a_catalogue_entry() -> None:
    assert set(POLICIES) == set(RULE_CATALOGUE)


def test_every_rule_and_threshold_cites_a_source() -> None:
    rules = load_rules()
    for rule in rules.rules.values():
        assert "/" in rule.legal_basis, rule.id  # "中文出处 / English cite"
        assert rule.title_zh and rule.title_en
    for offence in rules.offences.values():
        for trigger in offence.thresholds.values():
            assert trigger.legal_basis.strip()


def test_unconfirmed_figures_are_flagged_with_a_note() -> None:
    rules = load_rules()
    assert rules.rules["NOT_ACCEPTED"].deadline("acceptance").unconfirmed
    flagged = {
        (offence, trigger_id)
        for offence, table in rules.offences.items()
        for trigger_id, trigger in table.thresholds.items()
        if trigger.unconfirmed
    }
    assert (Offence.COUNTERFEIT_GOODS_SALE, "illegal_gains_amxi") in flagged
    assert (Offence.INFRINGING_COPIES_SALE, "illegal_gains_2025") in flagged
    # 215 / 216: the 2004 figures are the law until the 2025 interpretation, then stand in
    # for its lowered (unknown) figures, flagged.
    for offence in (Offence.ILLEGAL_MARKS, Offence.PATENT_COUNTERFEITING):
        for trigger_id, trigger in rules.offences[offence].thresholds.items():
            assert trigger.unconfirmed == trigger_id.endswith("_2025"), trigger_id
            assert trigger.unconfirmed == (trigger.effective_from == date(2025, 4, 26))
    for offence, trigger_id in flagged:
        assert "UNCONFIRMED" in rules.offences[offence].thresholds[trigger_id].note


def test_the_law_files_thresholds_are_all_there() -> None:
    rules = load_rules()

    def minimum(offence: Offence, trigger: str, figure: str) -> Decimal:
        return rules.offences[offence].thresholds[trigger].min[figure]

    assert (
        minimum(Offence.TRADEMARK_COUNTERFEITING, "illegal_gains_two_marks", "illegal_gains")
        == 20000
    )
    assert (
        minimum(
            Offence.COUNTERFEIT_GOODS_SALE,
            "sold_plus_unsold_attempt",
            "sales_amount+unsold_goods_value",
        )
        == 150000
    )
    assert (
        minimum(Offence.ILLEGAL_MARKS, "unsold_labels_two_marks_attempt", "unsold_labels_count")
        == 30000
    )
    assert minimum(Offence.PATENT_COUNTERFEITING, "rightholder_loss", "rightholder_loss") == 500000
    assert minimum(Offence.COPYRIGHT_INFRINGEMENT, "online_members", "member_count") == 1000
    assert minimum(Offence.TRADE_SECRET, "illegal_gains", "illegal_gains") == 300000
    tiers = {
        t.tier: t.min["production_loss"]
        for t in rules.offences[Offence.FAKE_AGRICULTURAL_INPUTS].thresholds.values()
        if t.tier
    }
    assert sorted(tiers.values()) == [20000, 100000, 500000]
    assert (
        rules.offences[Offence.FAKE_AGRICULTURAL_INPUTS]
        .thresholds["sales_amount_art140"]
        .criminal_law_article
        == 140
    )


def test_a_bad_field_names_file_and_toml_path_in_both_languages(tmp_path: Path) -> None:
    text = (
        default_rules_path()
        .read_text(encoding="utf-8")
        .replace(
            "[rules.FILING_OVERDUE.deadlines.general]\namount = 3",
            '[rules.FILING_OVERDUE.deadlines.general]\namount = "three"',
        )
    )
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    (problem,) = caught.value.problems
    assert problem.path == "rules.FILING_OVERDUE.deadlines.general.amount"
    assert problem.file == str(path)
    assert problem.message_zh == "必须为整数"
    assert "integer" in problem.message_en
    assert "rules.FILING_OVERDUE.deadlines.general.amount" in str(caught.value)


def test_a_typo_in_a_key_is_caught() -> None:
    bad = merge(BASE, {"rules": {"HANDOVER_LATE": {"deadlines": {"handover": {"amout": 12}}}}})
    with pytest.raises(ConfigError) as caught:
        parse_rules(bad)
    assert "rules.HANDOVER_LATE.deadlines.handover.amout" in paths(caught.value)


def test_toml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("version = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert caught.value.problems[0].file == str(path)
    assert "TOML" in caught.value.problems[0].message_zh


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_rules(tmp_path / "absent.toml")


def test_override_changes_a_figure_without_code(tmp_path: Path) -> None:
    override = tmp_path / "local.toml"
    override.write_text(
        'version = "2026.1-zs.1"\n'
        "[offences.trademark_counterfeiting.thresholds.illegal_business_amount.min]\n"
        'illegal_business_amount = "40000"\n'
        "[rules.NOT_ACCEPTED.deadlines.acceptance]\n"
        "amount = 10\n",
        encoding="utf-8",
    )
    rules = load_rules(override=override)
    assert rules.version == "2026.1-zs.1"
    table = rules.offences[Offence.TRADEMARK_COUNTERFEITING].thresholds
    assert table["illegal_business_amount"].min == {"illegal_business_amount": Decimal(40000)}
    assert table["illegal_gains"].min == {"illegal_gains": Decimal(30000)}  # untouched
    deadline = rules.rules["NOT_ACCEPTED"].deadline("acceptance")
    assert (deadline.amount, deadline.unit, deadline.unconfirmed) == (10, "days", True)


def test_override_can_add_a_threshold_entry_and_calendar_year() -> None:
    rules = parse_rules(
        BASE,
        {
            "offences": {
                "illegal_marks": {
                    "thresholds": {
                        "labels_2025": {
                            "min": {"labels_count": 10000},
                            "legal_basis": "2025 年司法解释 / 2025 interpretation",
                        }
                    }
                }
            },
            "calendar": {"2027": {"holidays": [datetime(2027, 1, 1).date()]}},
        },
    )
    assert "labels_2025" in rules.offences[Offence.ILLEGAL_MARKS].thresholds
    assert rules.work_calendar.knows(2027)


def test_errors_in_the_override_are_attributed_to_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(
            BASE,
            {"rules": {"HANDOVER_LATE": {"deadlines": {"handover": {"unit": "weeks"}}}}},
            base_file="rules.toml",
            override_file="local.toml",
        )
    (problem,) = caught.value.problems
    assert problem.path == "rules.HANDOVER_LATE.deadlines.handover.unit"
    assert problem.file == "local.toml"


def test_empty_rule_set_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules({**BASE, "rules": {}})
    assert paths(caught.value) == ["rules"]
    assert "空" in caught.value.problems[0].message_zh


def test_a_rule_set_with_every_rule_disabled_is_refused() -> None:
    off = {"rules": {rule_id: {"enabled": False} for rule_id in RULE_CATALOGUE}}
    with pytest.raises(ConfigError, match="disabled"):
        parse_rules(BASE, off)


def test_the_engine_refuses_an_empty_rule_set_too() -> None:
    rules = load_rules()
    empty = rules.model_copy(update={"rules": {}})
    with pytest.raises(ConfigError):
        evaluate(
            CaseState(case_id="C1"), empty, datetime.fromisoformat("2025-03-03T00:00:00+08:00")
        )


def test_unknown_rule_id_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(merge(BASE, {"rules": {"SHOULD_TRANSFERR": BASE["rules"]["SHOULD_TRANSFER"]}}))
    assert "rules.SHOULD_TRANSFERR" in paths(caught.value)


def test_a_deadline_cannot_change_its_clock_or_go_missing() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(
            BASE, {"rules": {"FILING_OVERDUE": {"deadlines": {"general": {"starts": "report"}}}}}
        )
    assert paths(caught.value) == ["rules.FILING_OVERDUE.deadlines.general.starts"]
    document = merge(BASE, {})
    del document["rules"]["FILING_OVERDUE"]["deadlines"]["economic"]
    with pytest.raises(ConfigError) as caught:
        parse_rules(document)
    assert paths(caught.value) == ["rules.FILING_OVERDUE.deadlines.economic"]


def test_threshold_figures_are_checked() -> None:
    bad = {
        "offences": {
            "trademark_counterfeiting": {
                "thresholds": {
                    "illegal_business_amount": {"min": {"illegal_busines_amount": "50000"}},
                    "mixed": {"min": {"copies+sales_amount": 3}, "legal_basis": "x", **SINCE},
                    "copies": {"min": {"copies": "500.50"}, "legal_basis": "x", **SINCE},
                    "zero": {"min": {"copies": 0}, "legal_basis": "x", **SINCE},
                    "flagged": {"flags": ["bankrupt"], "legal_basis": "x", **SINCE},
                    "empty": {"legal_basis": "x", **SINCE},
                    "unsure": {
                        "min": {"copies": 1}, "legal_basis": "x", "unconfirmed": True, **SINCE
                    },
                    "ends_first": {
                        "min": {"copies": 1},
                        "legal_basis": "x",
                        "effective_from": date(2025, 1, 1),
                        "effective_until": date(2024, 1, 1),
                    },
                }
            }
        }
    }
    with pytest.raises(ConfigError) as caught:
        parse_rules(BASE, bad)
    prefix = "offences.trademark_counterfeiting.thresholds"
    found = set(paths(caught.value))
    assert {
        f"{prefix}.illegal_business_amount.min.illegal_busines_amount",
        f'{prefix}.mixed.min."copies+sales_amount"',
        f"{prefix}.copies.min.copies",
        f"{prefix}.zero.min.copies",
        f"{prefix}.flagged.flags[0]",
        f"{prefix}.empty",
        f"{prefix}.unsure.note",
        f"{prefix}.ends_first.effective_until",
    } <= found


def test_type_errors_are_reported_before_semantic_ones() -> None:
    # A field of the wrong type stops validation there: the operator fixes it and reloads.
    bad = {
        "offences": {
            "trademark_counterfeiting": {
                "thresholds": {
                    "illegal_gains": {"min": {"illegal_gains": 30000.5}},
                    "empty": {"legal_basis": "x", **SINCE},
                }
            }
        }
    }
    with pytest.raises(ConfigError) as caught:
        parse_rules(BASE, bad)
    assert paths(caught.value) == [
        "offences.trademark_counterfeiting.thresholds.illegal_gains.min.illegal_gains"
    ]
    assert "50000" in caught.value.problems[0].message_en


def test_merge_shares_nothing_with_its_inputs() -> None:
    merged = merge(BASE, {"rules": {"HANDOVER_LATE": {"enabled": False}}})
    merged["rules"]["SHOULD_TRANSFER"]["deadlines"]["transfer"]["amount"] = 99
    assert BASE["rules"]["SHOULD_TRANSFER"]["deadlines"]["transfer"]["amount"] == 3
    assert BASE["rules"]["HANDOVER_LATE"].get("enabled", True) is True


def test_a_missing_offence_table_is_refused() -> None:
    document = merge(BASE, {})
    del document["offences"]["trade_secret"]
    with pytest.raises(ConfigError) as caught:
        parse_rules(document)
    assert paths(caught.value) == ["offences.trade_secret"]


def test_documents_list_is_validated() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(BASE, {"rules": {"DOCUMENTS_MISSING": {"required_documents": ["letter"]}}})
    assert paths(caught.value) == ["rules.DOCUMENTS_MISSING.required_documents[0]"]
    with pytest.raises(ConfigError) as caught:
        parse_rules(BASE, {"rules": {"DOCUMENTS_MISSING": {"required_documents": []}}})
    assert paths(caught.value) == ["rules.DOCUMENTS_MISSING.required_documents"]


def test_a_separate_calendar_file_is_merged(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text("[calendar.2028]\nholidays = [2028-01-03]\n", encoding="utf-8")
    rules = load_rules(calendar_override=path)
    assert rules.work_calendar.knows(2028)
    assert not rules.work_calendar.is_workday(datetime(2028, 1, 3).date())


def test_docs_rule_table_is_current() -> None:
    from streams.rules.rules_config import rules_table

    page = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    assert rules_table(load_rules()) in page, "regenerate the table of docs/rules.md"


def test_every_rule_says_law_or_practice_and_who_acts() -> None:
    rules = load_rules()
    screening = {"NEAR_THRESHOLD_PENALTY", "REPEAT_PARTY", "MULTI_AGENCY_PENALTIES"}
    for rule in rules.rules.values():
        assert rule.actor, rule.id
        assert (rule.kind == "practice") == (rule.id in screening), rule.id


def test_rule_parameters_are_checked() -> None:
    bad = {
        "rules": {
            "NEAR_THRESHOLD_PENALTY": {"params": {"ratio": {"value": "1.5"}}},
            "REPEAT_PARTY": {"params": {"window_days": {"value": "two years"}, "extra": {"value": 1}}},
            "COMPLAINT_NOT_DECIDED": {"params": {"agencies": {"value": 3}}},
            "MULTI_AGENCY_PENALTIES": {
                "params": {"min_agencies": {"value": 2, "unconfirmed": True, "note": ""}}
            },
            "SHOULD_TRANSFER": {"actor": []},
        }
    }
    with pytest.raises(ConfigError) as caught:
        parse_rules(BASE, bad)
    assert {
        "rules.NEAR_THRESHOLD_PENALTY.params.ratio.value",
        "rules.REPEAT_PARTY.params.window_days.value",
        "rules.REPEAT_PARTY.params.extra",
        "rules.COMPLAINT_NOT_DECIDED.params.agencies.value",
        "rules.MULTI_AGENCY_PENALTIES.params.min_agencies.note",
        "rules.SHOULD_TRANSFER.actor",
    } <= set(paths(caught.value))


def test_needs_related_follows_the_enabled_rules() -> None:
    off = {rule: {"enabled": False} for rule in ("SPLIT_CASES", "REPEAT_PARTY", "MULTI_AGENCY_PENALTIES")}
    assert load_rules().needs_related()
    assert not parse_rules(BASE, {"rules": off}).needs_related()
