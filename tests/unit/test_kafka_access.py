"""The registry's Kafka ACL plan and diff, and the client security settings (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.kafka_security import KafkaSecurity
from hub.adapters.kafka_acls import salted_password
from hub.kafka_access import (
    AclBinding,
    AgencyAccess,
    Operation,
    PatternType,
    ResourceType,
    diff,
    plan,
)
from schemas.events import Role
from schemas.topics import ALERTS, EVENTS, ingress_topic, receipts_topic

AGENCIES = [AgencyAccess("zs-aic", Role.ADMINISTRATIVE, 1),
            AgencyAccess("zs-psb", Role.POLICE, 2),
            AgencyAccess("zs-procuratorate", Role.PROCURATORATE, 1),
            AgencyAccess("zs-qts", Role.ADMINISTRATIVE, 0)]


def grants(acls: set[AclBinding], who: str) -> set[tuple[str, str]]:
    return {(a.operation.name, a.resource_name) for a in acls if a.principal == f"User:{who}"}


def test_each_agency_writes_its_ingress_and_reads_its_receipts_only() -> None:
    acls = plan(AGENCIES, "hub", "linkage-hub")
    assert grants(acls, "zs-aic") == {("WRITE", ingress_topic("zs-aic")),
                                      ("DESCRIBE", ingress_topic("zs-aic")),
                                      ("READ", receipts_topic("zs-aic")),
                                      ("DESCRIBE", receipts_topic("zs-aic"))}
    assert ("READ", ALERTS) in grants(acls, "zs-procuratorate")
    assert ("READ", ALERTS) not in grants(acls, "zs-psb")
    # No active key: no write, receipts still readable.
    assert grants(acls, "zs-qts") == {("READ", receipts_topic("zs-qts")),
                                      ("DESCRIBE", receipts_topic("zs-qts"))}
    # Only the hub's principal covers linkage.events (through its prefix).
    covering_events = {a.principal for a in acls if a.resource_type == ResourceType.TOPIC and (
        a.resource_name == EVENTS or (a.pattern_type == PatternType.PREFIXED
                                      and EVENTS.startswith(a.resource_name)))}
    assert covering_events == {"User:hub"}


def test_diff_is_idempotent_and_leaves_other_principals_alone() -> None:
    wanted = plan(AGENCIES, "hub", "linkage-hub")
    managed = {"User:hub"} | {f"User:{a.agency_id}" for a in AGENCIES}
    foreign = AclBinding("User:ops", ResourceType.TOPIC, EVENTS, PatternType.LITERAL,
                         Operation.READ)
    stale = AclBinding("User:zs-aic", ResourceType.TOPIC, EVENTS, PatternType.LITERAL,
                       Operation.READ)
    changes = diff(wanted, [*wanted, foreign, stale], managed)
    assert changes.create == () and changes.delete == (stale,)
    fresh = diff(wanted, [], managed)
    assert set(fresh.create) == wanted and fresh.delete == ()


def test_salted_password_is_rfc5802_hi() -> None:
    # RFC 7677's SCRAM-SHA-256 example: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
    import base64

    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    hi = salted_password("pencil", salt, 4096, "SCRAM-SHA-256")
    assert hi.hex() == "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"


_token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
                 min_size=1, max_size=40)


@given(user=_token, password=_token)
def test_properties_round_trip(tmp_path_factory: pytest.TempPathFactory, user: str,
                               password: str) -> None:
    security = KafkaSecurity.model_validate({"protocol": "SASL_PLAINTEXT", "username": user,
                                             "password": password})
    path: Path = tmp_path_factory.mktemp("props") / "x.properties"
    path.write_text(security.java_properties())
    assert KafkaSecurity.from_properties(path) == security


def test_from_env() -> None:
    assert KafkaSecurity.from_env({}).aiokafka() == {"security_protocol": "PLAINTEXT"}
    sasl = KafkaSecurity.from_env({"LINKAGE_KAFKA_SASL_USERNAME": "hub",
                                   "LINKAGE_KAFKA_SASL_PASSWORD": "pw"})
    assert sasl.aiokafka() == {"security_protocol": "SASL_PLAINTEXT",
                               "sasl_mechanism": "SCRAM-SHA-512",
                               "sasl_plain_username": "hub", "sasl_plain_password": "pw"}
    with pytest.raises(ValueError):
        KafkaSecurity.from_env({"LINKAGE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})


def test_from_env_reads_an_issued_properties_file(tmp_path: Path) -> None:
    issued = KafkaSecurity.model_validate({"protocol": "SASL_PLAINTEXT", "username": "hub",
                                           "password": "s3cret"})
    path = tmp_path / "hub.kafka.properties"
    path.write_text(issued.java_properties())
    assert KafkaSecurity.from_env({"LINKAGE_KAFKA_CLIENT_PROPERTIES": str(path)}) == issued
