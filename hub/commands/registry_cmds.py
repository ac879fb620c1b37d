"""`linkage-hub keys ...` and `linkage-hub agency ...`."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.adapters.accounts_store import PostgresAccounts
from hub.adapters.kafka_admin import ensure_topics
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.common import CliError, database, local_time, print_json, print_table
from hub.commands.user_cmds import cli_user
from hub.runtime import resolve, signal_up
from hub.settings import Settings
from schemas.events import Role
from schemas.signing import SigningKey, public_pem
from schemas.topics import ingress_topic, receipts_topic


def keys_generate(settings: Settings, args: argparse.Namespace) -> None:
    key = SigningKey.generate()
    key_path, pub_path = key.write_pair(Path(args.out), args.agency)
    print(f"{key_path}\n{pub_path}\nkeyid {key.keyid}")


def keys_hub(settings: Settings, args: argparse.Namespace) -> None:
    print(public_pem(settings.hub_key().public_key), end="")


async def agency_list(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool:
        agencies = await PostgresRegistry(pool).agencies()
    if args.json:
        print_json([
            {"id": a.agency_id, "role": a.role.value, "name": a.name, "name_en": a.name_en,
             "keys": [{"keyid": k.keyid, "status": k.status, "added_at": k.added_at,
                       "revoked_at": k.revoked_at} for k in a.keys]}
            for a in agencies
        ])
        return
    print_table(
        ["机关 agency", "角色 role", "名称 name", "有效密钥 active keys", "已吊销 revoked"],
        [[a.agency_id, a.role.value, a.name, sum(k.status == "active" for k in a.keys),
          sum(k.status == "revoked" for k in a.keys)] for a in agencies],
    )


async def agency_add(settings: Settings, args: argparse.Namespace) -> None:
    try:
        role = Role(args.role)
    except ValueError as exc:
        raise CliError(f"角色无效 / invalid role: {args.role}") from exc
    async with database(settings, restricted=False) as pool:
        await PostgresRegistry(pool).add_agency(args.id, role, args.name, args.name_en or "")
        await PostgresAccounts(pool).log(None, "agency.add", target=args.id, client="cli",
                                         username=cli_user(),
                                         detail={"role": role.value, "name": args.name})
    print(f"已添加机关 / agency added: {args.id}")
    resolved = resolve(settings, need_database=False)
    if resolved.kafka:
        await ensure_topics(resolved.kafka, [ingress_topic(args.id), receipts_topic(args.id)])
        print(f"已创建主题 / topics created: {ingress_topic(args.id)}, {receipts_topic(args.id)}")
    if signal_up(settings):
        print("已通知 `linkage-hub up` 重启工作进程 / asked `linkage-hub up` to restart its worker")
    else:
        print("外部部署的工作进程需重启后订阅新机关 / restart externally run workers to "
              "subscribe the new agency")


async def agency_add_key(settings: Settings, args: argparse.Namespace) -> None:
    pem = Path(args.pubkey).read_bytes()
    async with database(settings, restricted=False) as pool:
        keyid = await PostgresRegistry(pool).add_key(args.id, pem)
        await PostgresAccounts(pool).log(None, "agency.add_key", target=args.id, client="cli",
                                         username=cli_user(), detail={"keyid": keyid})
    print(keyid)


async def agency_revoke_key(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings, restricted=False) as pool:
        when = await PostgresRegistry(pool).revoke_key(args.keyid)
        await PostgresAccounts(pool).log(None, "agency.revoke_key", target=args.keyid,
                                         client="cli", username=cli_user(),
                                         detail={"revoked_at": when})
    print(f"已吊销 / revoked {args.keyid} at {local_time(when, seconds=True)} (+08)")
