"""Pure parts of the workbench's security: masking, CSRF tokens, password hashes, scope SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.access import CAPABILITIES, Capability, Principal, Role, Scope
from hub.web.security import (
    csrf_for,
    hash_password,
    mask_identities,
    mask_number,
    token_digest,
    verify_password,
)
from hub.web.supervision import KeyVault


def test_identity_numbers_keep_only_their_ends() -> None:
    assert mask_number("442000199001011234") == "4420**********1234"
    assert mask_number("44200019900101123X") == "4420**********123X"


def test_masking_reaches_every_place_a_number_can_hide() -> None:
    document = {
        "parties": [{"kind": "person", "id_type": "RIC", "id_number": "442000199001011234",
                     "name": "张三"}],
        "facts": {"shared_parties": ["USCC:91442000MA4W1AB23X"]},
        "summary": "负责人身份证 442000199001011234，另见 91442000MA4W1AB23X。",
        "event_id": "0b1c2d3e-0000-4000-8000-000000000000",
        "leaf_hash": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTIzNDU2Nzg5MDE=",
    }
    masked = mask_identities(document)
    text = str(masked)
    assert "442000199001011234" not in text and "91442000MA4W1AB23X" not in text
    assert masked["parties"][0]["id_number"] == "4420**********1234"
    assert masked["facts"]["shared_parties"] == ["USCC:9144**********B23X"]
    assert masked["event_id"] == document["event_id"]
    assert masked["leaf_hash"] == document["leaf_hash"]


@given(st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True), st.text(max_size=20))
def test_any_resident_id_in_free_text_is_masked(number: str, around: str) -> None:
    masked = mask_identities({"summary": f"{around} {number} {around}"})["summary"]
    assert number not in masked


def test_csrf_tokens_belong_to_their_session() -> None:
    assert csrf_for("session-a") == csrf_for("session-a")
    assert csrf_for("session-a") != csrf_for("session-b")


def test_passwords_are_argon2id_hashes() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "anything"), "an unknown user never matches"
    assert len(token_digest("t")) == 32


def test_the_scope_of_each_role() -> None:
    officer = Principal("a", Role.OFFICER, "zs-aic")
    params: list[object] = []
    assert "case_scope" in officer.scope.sql("c.case_id", params) and params == ["zs-aic"]
    assert Principal("s", Role.SUPERVISOR, "zs-procuratorate").scope.sql("x", []) == "TRUE"
    assert Principal("d", Role.ADMIN, "zs-procuratorate").scope.sql("x", []) == "FALSE"
    assert Scope.of(Principal("u", Role.AUDITOR, "zs-procuratorate")).everything
    assert Capability.READ_CASES not in CAPABILITIES[Role.ADMIN], "三员分立: admin reads no case"
    assert Principal("u", Role.AUDITOR, "x").masks_identities
    assert not Principal("u", Role.SUPERVISOR, "x").masks_identities


def test_the_procuratorate_key_is_encrypted_at_rest(tmp_path: Path) -> None:
    vault = KeyVault(tmp_path, b"master secret")
    key, created = vault.key("zs-procuratorate")
    again, created_again = vault.key("zs-procuratorate")
    assert created and not created_again and again.keyid == key.keyid
    stored = vault.path("zs-procuratorate").read_bytes()
    assert stored.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert vault.path("zs-procuratorate").stat().st_mode & 0o077 == 0, "owner-only file"
    with pytest.raises(ValueError):
        KeyVault(tmp_path, b"another secret").key("zs-procuratorate")
