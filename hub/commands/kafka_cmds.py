"""`linkage-hub kafka acls apply|list` and `kafka credentials issue`: Kafka access from the registry.

Credentials (design, deploy/README.md "Access control"): an agency's SCRAM password is
generated here at random, sent to the brokers only as SCRAM salt + salted password
(AlterUserScramCredentials), and written once to a 0600 client properties file for the
operator to hand over with the agency's onboarding papers. The hub's database never holds
it, in clear or otherwise; issuing again replaces it at once (rotation, or a lost file).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from connectors.kafka_security import KafkaSecurity
from hub.adapters.kafka_acls import KafkaAccessAdmin, KafkaAdminError
from hub.adapters.registry_store import Agency, PostgresRegistry
from hub.commands.common import CliError, database, print_json
from hub.kafka_access import AclChanges, AgencyAccess, diff, plan, principal
from hub.runtime import resolve
from hub.settings import Settings

GROUP_ID = "linkage-hub"
"""The hub workers' consumer group (the faust app id, hub/worker.py)."""


def _hub_user(settings: Settings) -> str:
    user = settings.kafka_security.username
    if not settings.kafka_security.sasl or not user:
        raise CliError("枢纽未配置 SASL 用户 (LINKAGE_KAFKA_SASL_USERNAME) / the hub has no SASL "
                       "user (LINKAGE_KAFKA_SASL_USERNAME): ACLs need principals")
    return user


def _access(agencies: Sequence[Agency]) -> list[AgencyAccess]:
    return [AgencyAccess(a.agency_id, a.role, sum(k.status == "active" for k in a.keys))
            for a in agencies]


async def _registry(settings: Settings) -> list[Agency]:
    async with database(settings) as pool:
        return await PostgresRegistry(pool).agencies()


async def sync_acls(settings: Settings, *, dry_run: bool = False) -> AclChanges:
    """Make the registered agencies' and the hub's ACLs exactly what the registry calls for."""
    bootstrap = resolve(settings, need_kafka=True, need_database=False).require_kafka()
    hub_user = _hub_user(settings)
    agencies = await _registry(settings)
    wanted = plan(_access(agencies), hub_user, GROUP_ID)
    managed = {principal(hub_user)} | {principal(a.agency_id) for a in agencies}
    try:
        async with KafkaAccessAdmin(bootstrap, settings.admin_security) as admin:
            changes = diff(wanted, await admin.list_acls(), managed)
            if not dry_run:
                await admin.delete_acls(changes.delete)
                await admin.create_acls(changes.create)
    except KafkaAdminError as exc:
        raise CliError(f"Kafka 拒绝修改权限 / Kafka refused the ACL change: {exc}") from exc
    return changes


async def sync_acls_if_secured(settings: Settings) -> None:
    """After a registry change: re-apply the ACLs where the hub's Kafka uses SASL."""
    if not settings.kafka_security.sasl:
        return
    changes = await sync_acls(settings)
    # On stderr: stdout stays what the command promises (e.g. `agency add-key` prints the keyid).
    print(f"Kafka 权限已同步 / Kafka ACLs in step: +{len(changes.create)} -{len(changes.delete)}",
          file=sys.stderr)


async def acls_apply(settings: Settings, args: argparse.Namespace) -> None:
    changes = await sync_acls(settings, dry_run=args.dry_run)
    verb = ("将" if args.dry_run else "已", "would " if args.dry_run else "")
    for acl in changes.delete:
        print(f"- {acl}")
    for acl in changes.create:
        print(f"+ {acl}")
    print(f"{verb[0]}新增 {len(changes.create)} 条、删除 {len(changes.delete)} 条 / "
          f"{verb[1]}create {len(changes.create)}, delete {len(changes.delete)}")


async def acls_list(settings: Settings, args: argparse.Namespace) -> None:
    bootstrap = resolve(settings, need_kafka=True, need_database=False).require_kafka()
    async with KafkaAccessAdmin(bootstrap, settings.admin_security) as admin:
        acls = sorted(await admin.list_acls())
    if args.json:
        print_json([{"principal": a.principal, "resource_type": a.resource_type.name,
                     "resource_name": a.resource_name, "pattern_type": a.pattern_type.name,
                     "operation": a.operation.name, "permission": a.permission.name}
                    for a in acls])
        return
    for acl in acls:
        print(acl)


async def credentials_issue(settings: Settings, args: argparse.Namespace) -> None:
    """A new random SCRAM password for an agency (or the hub's user), into a 0600 file."""
    name: str = args.name
    if not args.service and name not in {a.agency_id for a in await _registry(settings)}:
        raise CliError(f"未登记的机关 / unknown agency: {name} (a service principal such as the "
                       f"hub's own user: --service)")
    bootstrap = resolve(settings, need_kafka=True, need_database=False).require_kafka()
    password = secrets.token_urlsafe(32)
    protocol = settings.kafka_security.protocol if settings.kafka_security.sasl else "SASL_PLAINTEXT"
    issued = KafkaSecurity.model_validate({"protocol": protocol, "mechanism": "SCRAM-SHA-512",
                                           "username": name, "password": password,
                                           "ssl_cafile": settings.kafka_security.ssl_cafile})
    try:
        async with KafkaAccessAdmin(bootstrap, settings.admin_security) as admin:
            await admin.upsert_scram_user(name, password)
    except KafkaAdminError as exc:
        raise CliError(f"Kafka 拒绝设置凭据 / Kafka refused the credential: {exc}") from exc
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.kafka.properties"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"# linkage-hub Kafka client credentials for {name}; bootstrap {bootstrap}\n")
        handle.write(issued.java_properties())
    print(f"{path}\n已设置 SCRAM-SHA-512 凭据,旧密码立即失效 / SCRAM-SHA-512 credential set; "
          f"any previous password stops working now")
