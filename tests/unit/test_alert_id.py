"""`alert_id` spells out uuid5 (streams/rules/engine.py): it must equal `uuid.uuid5` over
"rule|case|trigger" in the alert namespace for any text, or every stored alert id changes."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from streams.rules.engine import ALERT_NAMESPACE, alert_id


@given(st.text(), st.text(), st.text())
def test_alert_id_is_uuid5_of_rule_case_and_trigger(rule: str, case: str, trigger: str) -> None:
    assert alert_id(rule, case, trigger) == str(
        uuid.uuid5(ALERT_NAMESPACE, f"{rule}|{case}|{trigger}"))


def test_a_known_alert_id_is_unchanged() -> None:
    """Pinned: alert ids are stored and published, so their derivation must never move."""
    assert alert_id("SHOULD_TRANSFER", "B-0000001", "grounds:e1") == str(
        uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:linkage:alert"),
                   "SHOULD_TRANSFER|B-0000001|grounds:e1"))
