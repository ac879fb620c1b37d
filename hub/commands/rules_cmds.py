"""`linkage-hub rules replay` / `rules check`: re-evaluate every case from the ledger; check a file."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.kafka_publisher import BrokerUnavailable, KafkaPublisher
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import translated_errors
from hub.commands.common import CliError, database
from hub.runtime import resolve
from hub.settings import Settings
from streams.rules import ConfigError, RuleSet, load_rules
from streams.rules_runner import CaseFold, RulesRunner, Transition, rules_from_env

LEDGER_CHUNK = 5000
CASE_CHUNK = 500


def _rules(rules_path: str | None, override_path: str | None) -> RuleSet:
    try:
        return rules_from_env(rules_path=rules_path, override_path=override_path)
    except ConfigError as exc:
        raise CliError(exc.diagnostics()) from exc


async def _publish(runner: RulesRunner, bootstrap: str | None) -> tuple[int, str]:
    """Publish the outbox if a broker is known; else leave it for the worker."""
    if not bootstrap:
        return 0, "未配置 Kafka，预警留在发件箱由工作进程发布 / no Kafka known: alerts stay in " \
                  "the outbox for the worker to publish"
    try:
        async with KafkaPublisher.connect(bootstrap) as publisher:
            published = await runner.publish_outbox(publisher)
    except BrokerUnavailable as exc:
        return 0, (f"Kafka 不可用，预警留在发件箱由工作进程发布 / Kafka unavailable ({exc}): "
                   "alerts stay in the outbox for the worker to publish")
    return published, f"已发布到 linkage.alerts / published to linkage.alerts: {published}"


def _summary(events: int, bad: int, cases: int, transitions: Sequence[Transition]) -> str:
    raised = sum(1 for t in transitions if t.alert.status == "open")
    resolved = len(transitions) - raised
    return (f"重放 {events} 个事件（跳过 {bad} 个），评估 {cases} 个案件：新预警 {raised} 条，"
            f"解除 {resolved} 条\nreplayed {events} events ({bad} skipped), evaluated {cases} "
            f"cases: {raised} alerts raised, {resolved} resolved")


async def rules_replay(settings: Settings, args: argparse.Namespace) -> None:
    rules = _rules(args.rules, args.override)
    if not (settings.keys_dir / "hub.key.pem").exists():
        raise CliError(f"找不到枢纽密钥 {settings.keys_dir}，请在枢纽的 LINKAGE_HOME 下运行 / "
                       f"no hub key in {settings.keys_dir}: run with the hub's LINKAGE_HOME")
    # Rules other than the worker's may raise alerts; only the worker's own rules retract them.
    retract = args.rules is None and args.override is None
    bootstrap = resolve(settings, need_database=False).kafka
    async with database(settings) as pool, translated_errors():
        ledger = PostgresLedger(pool)
        size = (await ledger.tree_head()).size
        fold = CaseFold()
        with tqdm(total=size, unit="event", desc="读取账本 / ledger", file=sys.stderr,
                  disable=None, mininterval=0.5) as bar:
            start = 0
            while start < size:
                entries = await ledger.entries(start=start, limit=LEDGER_CHUNK)
                if not entries:
                    break
                for entry in entries:
                    fold.add(entry.record)
                start = entries[-1].ledger_index + 1
                bar.update(len(entries))
        runner = RulesRunner(PostgresCaseStore(pool), settings.hub_key(), rules)
        case_ids = sorted(fold.states)
        transitions: list[Transition] = []
        with tqdm(total=len(case_ids), unit="case", desc="评估 / evaluate", file=sys.stderr,
                  disable=None, mininterval=0.5) as bar:
            for i in range(0, len(case_ids), CASE_CHUNK):
                chunk = {c: fold.states[c] for c in case_ids[i:i + CASE_CHUNK]}
                transitions += await runner.replay(chunk, retract=retract)
                bar.update(len(chunk))
        _, published = await _publish(runner, bootstrap)
    print(_summary(fold.events, fold.bad, len(case_ids), transitions))
    print(published)


def _unconfirmed(rules: RuleSet) -> int:
    """Enabled entries that rest on a figure the law file marks UNCONFIRMED."""
    count = 0
    for rule in rules.enabled_rules():
        count += rule.unconfirmed + sum(d.unconfirmed for d in rule.deadlines.values())
        count += sum(p.unconfirmed for p in rule.params.values())
    for offence in rules.offences.values():
        count += sum(t.unconfirmed for t in offence.thresholds.values() if t.enabled)
    return count


def rules_check(settings: Settings, args: argparse.Namespace) -> None:
    path = Path(args.file)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        full = {"version", "rules", "offences"} <= document.keys()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        full = True  # load_rules reports the reading error with the file name
    try:
        rules = load_rules(path) if full else rules_from_env(override_path=str(path))
    except ConfigError as exc:
        raise CliError(exc.diagnostics()) from exc
    kind = "完整规则文件 / full rule file" if full else "覆盖文件 / override file"
    enabled = len(rules.enabled_rules())
    print(f"有效 / valid: {path} ({kind}); version {rules.version}; "
          f"启用规则 {enabled}/{len(rules.rules)} rules enabled")
    unconfirmed = _unconfirmed(rules)
    if unconfirmed:
        print(f"其中 {unconfirmed} 项依据未确认的数值（unconfirmed = true）/ "
              f"{unconfirmed} enabled entries rest on UNCONFIRMED figures")
