"""The command line against a real database: registry, keys, schemas, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.signing import SigningKey, load_public_pem
from tests.integration.conftest import Hub

pytestmark = pytest.mark.integration


def test_agency_list_json_has_the_seed_agencies(hub: Hub) -> None:
    agencies = json.loads(hub.process.cli("agency", "list", "--json").stdout)
    by_id = {a["id"]: a for a in agencies}
    assert {"zs-aic", "zs-ipo", "zs-psb", "zs-customs", "zs-culture", "zs-agri", "zs-forestry",
            "zs-qts", "zs-procuratorate"} <= set(by_id)
    assert by_id["zs-psb"]["role"] == "police"
    assert by_id["zs-aic"]["name"] == "市工商局"
    assert any(k["status"] == "active" for k in by_id["zs-aic"]["keys"])


def test_keys_generate_add_and_revoke(hub: Hub, tmp_path: Path) -> None:
    out = hub.process.cli("keys", "generate", "zs-forestry", "--out", str(tmp_path)).stdout
    key = SigningKey.from_file(tmp_path / "zs-forestry.key.pem")
    assert key.keyid in out
    keyid = hub.process.cli("agency", "add-key", "zs-forestry",
                            str(tmp_path / "zs-forestry.pub.pem")).stdout.strip()
    assert keyid == key.keyid
    again = hub.process.cli("agency", "add-key", "zs-forestry",
                            str(tmp_path / "zs-forestry.pub.pem"), check=False)
    assert again.returncode != 0 and "already registered" in again.stderr
    hub.process.cli("agency", "revoke-key", keyid)
    listed = {a["id"]: a for a in json.loads(hub.process.cli("agency", "list", "--json").stdout)}
    statuses = {k["keyid"]: k["status"] for k in listed["zs-forestry"]["keys"]}
    assert statuses[keyid] == "revoked"


def test_agency_add_and_errors(hub: Hub, tmp_path: Path) -> None:
    hub.process.cli("agency", "add", "zs-tobacco", "--role", "administrative",
                    "--name", "市烟草专卖局")
    dup = hub.process.cli("agency", "add", "zs-tobacco", "--role", "administrative",
                          "--name", "x", check=False)
    assert dup.returncode != 0 and "已存在" in dup.stderr
    bad_role = hub.process.cli("agency", "add", "zs-x1", "--role", "mayor", "--name", "x",
                               check=False)
    assert bad_role.returncode != 0 and "invalid role" in bad_role.stderr
    unknown = SigningKey.generate()
    unknown.write_pair(tmp_path, "nobody")
    missing = hub.process.cli("agency", "add-key", "no-such-agency",
                              str(tmp_path / "nobody.pub.pem"), check=False)
    assert missing.returncode != 0 and "unknown agency" in missing.stderr
    (tmp_path / "junk.pem").write_text("not a key")
    junk = hub.process.cli("agency", "add-key", "zs-aic", str(tmp_path / "junk.pem"), check=False)
    assert junk.returncode != 0 and "PEM" in junk.stderr


def test_keys_hub_prints_the_receipt_signing_key(hub: Hub) -> None:
    pem = hub.process.cli("keys", "hub").stdout
    assert load_public_pem(pem).public_bytes_raw() == hub.process.hub_key().public_key.public_bytes_raw()


def test_schemas_export_writes_one_schema_per_type(hub: Hub, tmp_path: Path) -> None:
    from schemas.events import EVENT_TYPES

    hub.process.cli("schemas", "export", str(tmp_path))
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert files == sorted(f"{s.ce_type}.json" for s in EVENT_TYPES.values())
    schema = json.loads((tmp_path / "cn.linkage.penalty.decided.v1.json").read_text())
    assert schema["properties"]["data"]["properties"]["fine"]["type"] == "string"


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "penalty"


def test_bulk_import_sends_good_rows_reports_bad_ones_and_never_twice(hub: Hub,
                                                                      tmp_path: Path) -> None:
    key = str(hub.keys_dir / "zs-aic.key.pem")
    outbox = str(tmp_path / "import.sqlite")
    report = tmp_path / "errors.csv"
    first = hub.process.cli("import", str(FIXTURES / "bad_rows.csv"), "--agency", "zs-aic",
                            "--key", key, "--outbox", outbox, "--report", str(report),
                            check=False)
    assert first.returncode == 3, first.stderr  # some rows were not imported
    assert "accepted=4" in first.stdout
    errors = report.read_bytes().decode("utf-8-sig")
    assert "DUPLICATE_DECISION_NO" in errors and ",3," in errors  # row 3: no decision number
    listed = json.loads(hub.process.cli("ledger", "list", "--agency", "zs-aic", "--json").stdout)
    imported = [e for e in listed if e["case_id"].startswith("zs-aic:")]
    assert len(imported) == 4
    # Same file again, from a fresh outbox: same event ids, so no new ledger entry; the
    # connector reports them as accepted (it reads the earlier acceptance receipts too).
    again = hub.process.cli("import", str(FIXTURES / "bad_rows.csv"), "--agency", "zs-aic",
                            "--key", key, "--outbox", str(tmp_path / "second.sqlite"),
                            check=False)
    assert "accepted=4" in again.stdout, again.stderr
    relisted = json.loads(hub.process.cli("ledger", "list", "--agency", "zs-aic", "--json").stdout)
    assert len([e for e in relisted if e["case_id"].startswith("zs-aic:")]) == 4


def test_bulk_import_refuses_an_unreadable_file(hub: Hub, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"a,b,c\n1,2,3\n")
    result = hub.process.cli("import", str(junk), "--agency", "zs-aic", "--key",
                             str(hub.keys_dir / "zs-aic.key.pem"), check=False)
    assert result.returncode != 0
    assert "错误 / error" in result.stderr
