"""Per-agency SCRAM credentials and ACLs on the real cluster, written from the registry.

An agency writes only its ingress topic and reads only its receipts; the procuratorate reads
the alerts; nobody but the hub reads linkage.events; the connector's refusal is clear and final.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError

from connectors.connector import AccessDenied, Connector
from connectors.kafka_security import KafkaSecurity
from hub.commands.up import prepare
from hub.settings import Settings
from schemas.signing import SigningKey
from schemas.topics import ALERTS, EVENTS, ingress_topic, receipts_topic
from tests.engines import ClusterHubProcess, cluster_hub_process, wipe
from tests.kafka_cluster import KafkaCluster
from tests.records import sample_data
from tests.support import agency_keys, tcp_database

pytestmark = [pytest.mark.integration, pytest.mark.kafka_cluster]

AGENCIES = ["zs-aic", "zs-psb", "zs-procuratorate"]


@dataclass
class SecuredHub:
    process: ClusterHubProcess
    keys: dict[str, SigningKey]
    credentials: dict[str, KafkaSecurity]
    root: Path

    def connector(self, agency: str, outbox: Path, *, as_agency: str | None = None) -> Connector:
        """agency's connector, authenticating as as_agency (default: itself)."""
        return Connector(agency, self.keys[agency], bootstrap=self.process.bootstrap,
                         outbox_path=outbox, hub_public_key=self.process.hub_key().public_key,
                         security=self.credentials[as_agency or agency])


@pytest.fixture(scope="module")
def secured(kafka_cluster: KafkaCluster,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredHub]:
    root = tmp_path_factory.mktemp("secured")
    asyncio.run(wipe(kafka_cluster))
    process = cluster_hub_process(kafka_cluster, root / "home", tcp_database())
    process.cli("kafka", "acls", "apply")  # the hub's own ACLs, so it can create its topics
    settings = Settings.from_env(process.env())
    asyncio.run(prepare(settings))
    settings.hub_key()
    keys = agency_keys(root / "keys", AGENCIES)
    credentials = {}
    for agency in AGENCIES:
        added = process.cli("agency", "add-key", agency, str(root / "keys" / f"{agency}.pub.pem"))
        assert "Kafka ACLs in step" in added.stderr
        issued = process.cli("kafka", "credentials", "issue", agency, "--out", str(root / "creds"))
        path = Path(issued.stdout.splitlines()[0])
        assert path.stat().st_mode & 0o777 == 0o600
        credentials[agency] = KafkaSecurity.from_properties(path)
    process.start()
    try:
        yield SecuredHub(process, keys, credentials, root)
    finally:
        process.stop()
        asyncio.run(wipe(kafka_cluster))


def acl_lines(hub: SecuredHub) -> list[dict[str, str]]:
    listed: list[dict[str, str]] = json.loads(hub.process.cli("kafka", "acls", "list", "--json").stdout)
    return listed


def test_acls_apply_is_idempotent_and_matches_the_registry(secured: SecuredHub) -> None:
    again = secured.process.cli("kafka", "acls", "apply").stdout
    assert "create 0, delete 0" in again
    acls = acl_lines(secured)
    readers_of_events = {a["principal"] for a in acls
                         if a["resource_name"] == EVENTS or (
                             a["pattern_type"] == "PREFIXED" and EVENTS.startswith(a["resource_name"])
                             and a["resource_type"] == "TOPIC")}
    assert readers_of_events == {"User:linkage-hub-svc"}
    aic = {(a["operation"], a["resource_name"]) for a in acls if a["principal"] == "User:zs-aic"}
    assert aic == {("WRITE", ingress_topic("zs-aic")), ("DESCRIBE", ingress_topic("zs-aic")),
                   ("READ", receipts_topic("zs-aic")), ("DESCRIBE", receipts_topic("zs-aic"))}
    procuratorate = {(a["operation"], a["resource_name"]) for a in acls
                     if a["principal"] == "User:zs-procuratorate"}
    assert ("READ", ALERTS) in procuratorate


async def test_agency_publishes_and_gets_its_receipt(secured: SecuredHub, tmp_path: Path) -> None:
    connector = secured.connector("zs-aic", tmp_path / "aic.sqlite")
    await connector.start()
    try:
        event_id = await connector.publish("case.opened", "ACL-1", sample_data("case.opened"))
        entry = await connector.wait_for_receipt(event_id, timeout=120)
    finally:
        await connector.stop()
    assert entry.status == "accepted"


async def test_writing_another_agencys_topic_is_refused(secured: SecuredHub) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=secured.process.bootstrap, acks="all",
                                **secured.credentials["zs-aic"].aiokafka())
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(ingress_topic("zs-psb"), b"{}", key=b"PSB-1")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(EVENTS, b"{}", key=b"PSB-1")
    finally:
        await producer.stop()


async def _fetch(security: KafkaSecurity, bootstrap: str, topic: str) -> None:
    """Read one record as this principal; TopicAuthorizationFailedError when refused.

    Without DESCRIBE the broker hides the topic's metadata (error 29), and a consumer would
    only log that forever, so that refusal is read from the metadata answer itself.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.aiokafka())
    await admin.start()
    try:
        (found,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if found["error_code"] == TopicAuthorizationFailedError.errno:
        raise TopicAuthorizationFailedError(topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", **security.aiokafka())
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()


@pytest.mark.parametrize("topic", [receipts_topic("zs-psb"), EVENTS, ALERTS])
async def test_reading_what_is_not_yours_is_refused(secured: SecuredHub, topic: str) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _fetch(secured.credentials["zs-aic"], secured.process.bootstrap, topic)


async def test_procuratorate_reads_alerts_but_not_events(secured: SecuredHub) -> None:
    bootstrap = secured.process.bootstrap
    creds = secured.credentials["zs-procuratorate"]
    # Allowed: the fetch waits for a record (none may exist yet) instead of being refused.
    with pytest.raises(TimeoutError):
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="latest", **creds.aiokafka())
        await consumer.start()
        try:
            consumer.assign([TopicPartition(ALERTS, 0)])
            await asyncio.wait_for(consumer.getone(), 3)
        finally:
            await consumer.stop()
    with pytest.raises(TopicAuthorizationFailedError):
        await _fetch(creds, bootstrap, EVENTS)


async def test_connector_with_the_wrong_principal_fails_clearly(
        secured: SecuredHub, tmp_path: Path) -> None:
    """zs-psb's connector given zs-aic's credentials: refused, once, with a clear message."""
    connector = secured.connector("zs-psb", tmp_path / "psb.sqlite", as_agency="zs-aic")
    await connector.start()
    try:
        event_id = await connector.publish("case.opened", "PSB-9", sample_data("case.opened"))
        with pytest.raises(AccessDenied) as refused:
            await connector.wait_for_receipt(event_id, timeout=120)
    finally:
        await connector.stop()
    denied = refused.value
    assert (denied.topic, denied.operation) in {(ingress_topic("zs-psb"), "WRITE"),
                                                (receipts_topic("zs-psb"), "READ")}
    message = str(denied)
    assert denied.topic in message and denied.operation in message
    assert message.startswith("无权") and "not authorised" in message


async def test_revoking_the_last_key_withdraws_write(secured: SecuredHub) -> None:
    keyid = SigningKey.generate()
    (secured.root / "extra").mkdir(exist_ok=True)
    keyid.write_pair(secured.root / "extra", "zs-customs")
    added = secured.process.cli("agency", "add-key", "zs-customs",
                                str(secured.root / "extra" / "zs-customs.pub.pem"))
    customs = {(a["operation"], a["resource_name"]) for a in acl_lines(secured)
               if a["principal"] == "User:zs-customs"}
    assert ("WRITE", ingress_topic("zs-customs")) in customs
    secured.process.cli("agency", "revoke-key", added.stdout.split()[0])
    customs = {(a["operation"], a["resource_name"]) for a in acl_lines(secured)
               if a["principal"] == "User:zs-customs"}
    assert ("WRITE", ingress_topic("zs-customs")) not in customs
    assert ("READ", receipts_topic("zs-customs")) in customs


