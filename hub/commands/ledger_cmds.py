"""`linkage-hub ledger ...`: list entries, checkpoints, proofs, verification, export."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from audit.checkpointer import LedgerProofs
from audit.errors import LedgerError, VerificationError
from audit.export import ExportWriter, verify_export_dir
from audit.ledger import LedgerEntry
from audit.merkle import CompactRange, leaf_hash
from audit.recheck import (
    ParallelSignatureCheck,
    SignatureCheck,
    key_from_json,
    key_to_json,
    verify_ledger,
)
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import translated_errors
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.common import (
    LOCAL_ZONE_LABEL,
    CliError,
    database,
    local_time,
    print_json,
    print_table,
)
from hub.settings import Settings
from hub.wiring import hub_signer, open_ledger
from schemas.signing import public_pem

BATCH = 2000


async def ledger_list(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool:
        entries = await PostgresLedger(pool).entries(
            case_id=args.case, agency_id=args.agency, start=args.start, limit=args.limit
        )
    if args.json:
        print_json([e.summary() for e in entries])
        return
    print_table(
        ["序号 index", "机关 agency", "案件 case", "类型 type",
         f"事件时间 event time {LOCAL_ZONE_LABEL}", f"接收时间 received {LOCAL_ZONE_LABEL}",
         "事件 event id"],
        [[e.ledger_index, e.agency_id, e.case_id, e.event_type,
          local_time(e.event_time, seconds=True), local_time(e.received_at, seconds=True),
          e.event_id] for e in entries],
    )


@dataclass(frozen=True)
class _Session:
    ledger: LedgerProofs
    registry: PostgresRegistry


@asynccontextmanager
async def _signed_ledger(settings: Settings) -> AsyncIterator[_Session]:
    """The ledger with the hub's checkpointer; ledger and store errors become CLI errors."""
    async with database(settings) as pool, translated_errors():
        try:
            yield _Session(open_ledger(pool, settings), PostgresRegistry(pool))
        except LedgerError as exc:
            raise CliError(exc.diagnostics()) from exc
        except ValidationError:
            raise  # the CLI's one error mapping gives it one line
        except ValueError as exc:
            raise CliError(str(exc)) from exc


async def ledger_checkpoint(settings: Settings, args: argparse.Namespace) -> None:
    async with _signed_ledger(settings) as session:
        stored = await session.ledger.checkpointer.issue()
    sys.stdout.write(stored.note)


async def ledger_prove(settings: Settings, args: argparse.Namespace) -> None:
    async with _signed_ledger(settings) as session:
        proof = await session.ledger.inclusion(event_id=args.event_id)
    print_json(proof.model_dump(mode="json"))


async def ledger_consistency(settings: Settings, args: argparse.Namespace) -> None:
    async with _signed_ledger(settings) as session:
        proof = await session.ledger.consistency(args.first, args.second)
    print_json(proof.model_dump(mode="json"))


def _failure(exc: VerificationError, what_zh: str, what_en: str) -> CliError:
    at_zh = f"，第一个错误序号 {exc.index}" if exc.index is not None else ""
    at_en = f", first bad index {exc.index}" if exc.index is not None else ""
    return CliError(f"{what_zh}校验失败{at_zh}：{exc.message_zh}\n"
                    f"{what_en} verification FAILED{at_en}: {exc.message_en} [{exc.reason}]")


@contextmanager
def _progress(total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    with tqdm(total=total, unit="entry", file=sys.stderr, desc="verify",
              disable=None, mininterval=0.5) as bar:
        def advance(done: int, of: int) -> None:
            bar.total = of
            bar.update(done)

        yield advance


async def ledger_verify(settings: Settings, args: argparse.Namespace) -> None:
    tolerance = timedelta(seconds=args.key_time_tolerance)
    if args.export:
        _verify_export(Path(args.export), args.hub_vkey, tolerance)
        return
    async with _signed_ledger(settings) as session:
        ledger = session.ledger
        keys = (await session.registry.snapshot()).keys
        # Signature checks on every core (ParallelSignatureCheck); errors keep ledger order.
        with _progress() as progress, ParallelSignatureCheck(
                keys, tolerance=tolerance) as check_many:
            try:
                report = await verify_ledger(
                    ledger.ledger, ledger.store, SignatureCheck(keys, tolerance),
                    ledger.checkpointer.verifier, origin=settings.origin, batch=args.batch,
                    progress=progress, check_many=check_many)
            except VerificationError as exc:
                raise _failure(exc, "账本", "ledger") from exc
    print(report.summary())


def _verify_export(directory: Path, hub_vkey: str | None, tolerance: timedelta) -> None:
    if not (directory / "manifest.json").is_file():
        raise CliError(f"不是账本导出目录（缺少 manifest.json）/ not a ledger export directory "
                       f"(no manifest.json): {directory}")
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    keys_doc = json.loads((directory / "agency_keys.json").read_text(encoding="utf-8"))
    try:
        records = [key_from_json(k) for k in keys_doc]
    except VerificationError as exc:
        raise _failure(exc, "导出", "export") from exc
    check = SignatureCheck({r.keyid: r for r in records}, tolerance)
    with _progress(int(manifest["tree_size"])) as progress:
        def check_entry(entry: LedgerEntry) -> None:
            check(entry)
            progress(1, int(manifest["tree_size"]))

        try:
            report = verify_export_dir(directory, hub_verifier=hub_vkey, check_entry=check_entry)
        except VerificationError as exc:
            raise _failure(exc, "导出", "export") from exc
    print(report.summary())
    if check.undated:
        # An export written before agency_keys.json carried added_at: say what was not checked.
        print(f"注意：{check.undated} 个条目的密钥在导出中没有登记时间（added_at，旧版导出），"
              f"未核对密钥是否在接收前已登记\n"
              f"note: {check.undated} entries' keys have no added_at in this export (an older "
              f"export): whether each key was registered before the entry was received was "
              f"not checked")


async def ledger_export(settings: Settings, args: argparse.Namespace) -> None:
    out = Path(args.out)
    # Before the database session, whose error translation would report a file system
    # error here as "database unavailable".
    out.mkdir(parents=True, exist_ok=True)
    async with _signed_ledger(settings) as session:
        ledger = session.ledger
        stored = await ledger.checkpointer.issue()
        size = stored.tree_size
        keys = (await session.registry.snapshot()).keys
        tree, start = CompactRange(), 0
        with ExportWriter(out) as writer, tqdm(total=size, unit="entry", file=sys.stderr,
                                               desc="export", disable=None) as bar:
            while start < size:
                entries = [e for e in await ledger.ledger.entries(start=start, limit=BATCH)
                           if e.ledger_index < size]
                if not entries:
                    break
                start = entries[-1].ledger_index + 1
                created = tree.extend(leaf_hash(e.record) for e in entries)
                writer.entries(entries)
                writer.nodes(await ledger.ledger.nodes([(lv, ix) for lv, ix, _ in created]))
                bar.update(len(entries))
            checkpoints = [c for c in await ledger.store.since(0) if c.tree_size <= size]
            cosignatures = await ledger.store.cosignatures_through(size)
            signer = hub_signer(settings)
            writer.finish(
                checkpoint_note=stored.note, checkpoint=stored.checkpoint,
                checkpoints=[(c.tree_size, c.root_hash, c.note) for c in checkpoints],
                cosignatures=[c.summary() for c in cosignatures],
                hub_public_pem=public_pem(settings.hub_key().public_key), hub_vkey=signer.vkey(),
                agency_keys=[key_to_json(k) for k in keys.values()],
            )
    print(f"已导出 {size} 个条目到 {out} / exported {size} entries to {out}")
