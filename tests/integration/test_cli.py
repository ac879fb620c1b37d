"""The command line against a real database: registry, keys, schemas, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.connector import Connector
from schemas.signing import SigningKey, load_public_pem
from tests.integration.conftest import Hub
from tests.records import sample_data
from tests.support import embedded_root

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


async def test_json_commands_print_one_json_document(hub: Hub, aic: Connector) -> None:
    event_id = await aic.publish("case.opened", "JSON-CASE-1", sample_data("case.opened"))
    assert (await aic.wait_for_receipt(event_id, timeout=60)).status == "accepted"
    entries = json.loads(hub.process.cli("ledger", "list", "--case", "JSON-CASE-1",
                                         "--json").stdout)
    index = entries[0]["ledger_index"]
    proof = json.loads(hub.process.cli("ledger", "prove", event_id, "--json").stdout)
    assert proof["leaf_index"] == index
    size = proof["tree_size"]
    consistency = json.loads(hub.process.cli("ledger", "consistency", "1", str(size),
                                             "--json").stdout)
    assert (consistency["first"], consistency["second"]) == (1, size)
    for argv in (["agency", "list"], ["alerts", "list"], ["ledger", "list"]):
        assert isinstance(json.loads(hub.process.cli(*argv, "--json").stdout), list)


async def test_tables_show_shanghai_time_json_keeps_the_offset(hub: Hub, aic: Connector) -> None:
    event_id = await aic.publish("case.opened", "TZ-CASE-1", sample_data("case.opened"))
    assert (await aic.wait_for_receipt(event_id, timeout=60)).status == "accepted"
    [entry] = json.loads(hub.process.cli("ledger", "list", "--case", "TZ-CASE-1",
                                         "--json").stdout)
    received = datetime.fromisoformat(entry["received_at"])
    assert received.utcoffset() is not None  # RFC 3339 with its offset
    table = hub.process.cli("ledger", "list", "--case", "TZ-CASE-1").stdout
    assert "(+08)" in table.splitlines()[0]
    shanghai = received.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert shanghai in table
    assert received.astimezone(UTC).isoformat(timespec="seconds") not in table
    agencies = {a["id"]: a for a in json.loads(hub.process.cli("agency", "list",
                                                                "--json").stdout)}
    added = agencies["zs-aic"]["keys"][0]["added_at"]
    assert datetime.fromisoformat(added).utcoffset() is not None and "T" in added


def test_bad_input_against_a_running_hub_is_one_line(hub: Hub) -> None:
    for argv in (["ledger", "list", "--limit", "-5"],
                 ["agency", "add", "Bad ID!", "--role", "police", "--name", "x"],
                 ["agency", "revoke-key", "00" * 32]):
        result = hub.process.cli(*argv, check=False)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("错误 / error: ")


def test_init_makes_a_hub_home_that_other_commands_then_use() -> None:
    with embedded_root("init-home") as root:  # the home's embedded database lives under it
        _init_makes_a_hub_home_that_other_commands_then_use(root)


def _init_makes_a_hub_home_that_other_commands_then_use(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LINKAGE_KAFKA", "LINKAGE_DATABASE_URL")}
    env["LINKAGE_HOME"] = str(tmp_path / "home")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub.cli", *argv], env=env,
                              capture_output=True, text=True, timeout=120)

    refused = cli("ledger", "list")
    assert refused.returncode == 2 and "linkage-hub init" in refused.stderr
    assert not (tmp_path / "home").exists()
    made = cli("init")
    assert made.returncode == 0, made.stderr
    assert "已初始化 / initialised" in made.stdout
    pem = cli("keys", "hub")
    assert pem.returncode == 0, pem.stderr
    assert load_public_pem(pem.stdout) == load_public_pem(
        (tmp_path / "home" / "keys" / "hub.pub.pem").read_bytes())
    listed = cli("ledger", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
    again = cli("init")
    assert again.returncode == 0 and "已是枢纽目录 / already a hub home" in again.stdout
    assert cli("keys", "hub").stdout == pem.stdout  # init never replaces the hub key
