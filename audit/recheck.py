"""Full re-check of a ledger (any LedgerReader): indexes, leaves, stored nodes, agency signatures, checkpoints.

Every check runs entry by entry in ledger order, so the first failure raised is the
first bad index. Per entry ``i``: the index is ``i`` (no gap, no duplicate), the record
re-hashes to the stored leaf hash, its DSSE envelope carries a valid signature by the
agency key it was accepted under (registered to that agency, within its key window at
``received_at``: added before it, not yet revoked; see :mod:`audit.key_window`) and its event names the stored id, agency and case, and every Merkle
node its append completes equals the stored one. Signed checkpoints are verified with
the hub key and their roots compared when the recomputed tree reaches their size.
The same :class:`SignatureCheck` serves the offline check of an export.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import ValidationError

from audit.checkpoint import open_checkpoint
from audit.checkpoint_store import CheckpointStore, StoredCheckpoint
from audit.errors import VerificationError
from audit.key_window import KEY_ADDED_TOLERANCE, KeyWindowViolation, key_window_violation
from audit.ledger import LedgerEntry, LedgerReader
from audit.merkle import CompactRange, NodeId, leaf_hash
from audit.note_keys import NoteVerifier
from schemas.cloudevent import CloudEvent
from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope
from schemas.events import Role
from schemas.signing import KeyRecord, load_public_pem, public_pem, verify_envelope_signature

__all__ = ["LedgerReport", "ParallelSignatureCheck", "SignatureCheck", "key_from_json", "key_to_json", "verify_ledger"]

Progress = Callable[[int, int], None]
"""Called as ``progress(entries_just_checked, total)``."""


def key_to_json(key: KeyRecord) -> dict[str, Any]:
    """An agency key as exported: id, agency, role, SPKI PEM, registration and revocation time."""
    return {"keyid": key.keyid, "agency_id": key.agency_id, "role": key.role.value,
            "public_pem": public_pem(key.public_key),
            "added_at": key.added_at.isoformat() if key.added_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


def key_from_json(doc: Mapping[str, Any]) -> KeyRecord:
    """The inverse of key_to_json; an older export's key without ``added_at`` reads as None."""
    try:
        added, revoked = doc.get("added_at"), doc.get("revoked_at")
        return KeyRecord(doc["keyid"], doc["agency_id"], Role(doc["role"]),
                         load_public_pem(doc["public_pem"]),
                         datetime.fromisoformat(revoked) if revoked else None,
                         datetime.fromisoformat(added) if added else None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a damaged agency_keys.json
        keyid = doc.get("keyid") if isinstance(doc, Mapping) else None
        raise VerificationError(
            "bad_key", f"导出的机关密钥 {keyid!r} 无法读取: {exc}",
            f"exported agency key {keyid!r} cannot be read: {exc}") from exc


def _bad(reason: str, index: int | None, zh: str, en: str) -> VerificationError:
    return VerificationError(reason, zh, en, index=index)


class SignatureCheck:
    """Re-verifies an entry's agency signature with the key it was accepted under.

    ``undated`` counts the entries whose key has no ``added_at`` (an older export), for
    which the added-before-received rule could not be applied.
    """

    def __init__(self, keys: Mapping[str, KeyRecord],
                 tolerance: timedelta = KEY_ADDED_TOLERANCE) -> None:
        if tolerance < timedelta(0):
            raise ValueError("tolerance must not be negative")
        self._keys = keys
        self.tolerance = tolerance
        self.undated = 0

    def __call__(self, entry: LedgerEntry) -> None:
        i = entry.ledger_index
        try:
            envelope = Envelope.model_validate_json(entry.record)
            event = CloudEvent.model_validate_json(envelope.payload_bytes())
        except ValidationError as exc:
            raise _bad("malformed_record", i, f"条目 {i} 不是有效的 DSSE 信封或事件",
                       f"entry {i} is not a valid DSSE envelope / event: "
                       f"{exc.errors()[0]['msg']}") from exc
        if envelope.payload_type != EVENT_PAYLOAD_TYPE:
            raise _bad("bad_payload_type", i, f"条目 {i} 的 payloadType 不对",
                       f"entry {i} has payloadType {envelope.payload_type!r}")
        key = self._keys.get(entry.keyid)
        if key is None or key.agency_id != entry.agency_id:
            raise _bad("unknown_key", i,
                       f"条目 {i} 的密钥 {entry.keyid} 未登记给机关 {entry.agency_id}",
                       f"entry {i}: key {entry.keyid} is not registered to {entry.agency_id}")
        self._check_window(key, entry)
        if not any(s.keyid == key.keyid
                   and verify_envelope_signature(envelope, s.signature_bytes(), key.public_key)
                   for s in envelope.signatures):
            raise _bad("bad_signature", i, f"条目 {i} 的机关签名无效",
                       f"entry {i}: the agency signature does not verify")
        stored = (entry.event_id, entry.agency_id, entry.case_id)
        signed = (event.event_id, event.agency, event.subject)
        if stored != signed:
            raise _bad("metadata_mismatch", i,
                       f"条目 {i} 存储的（事件、机关、案件）{stored} 与签名事件 {signed} 不符",
                       f"entry {i}: stored (event, agency, case) {stored} differ from the "
                       f"signed event's {signed}")

    def _check_window(self, key: KeyRecord, entry: LedgerEntry) -> None:
        i, received = entry.ledger_index, entry.received_at.isoformat()
        if key.added_at is None:
            self.undated += 1
        violation = key_window_violation(key, entry.received_at, self.tolerance)
        if violation is KeyWindowViolation.NOT_YET_ADDED:
            assert key.added_at is not None
            slack = self.tolerance.total_seconds()
            raise _bad(violation.value, i,
                       f"条目 {i} 接收于 {received}，但其密钥 {key.keyid} 于 "
                       f"{key.added_at.isoformat()} 才登记（容差 {slack:g} 秒）",
                       f"entry {i} was received at {received}, but its key {key.keyid} was "
                       f"only registered at {key.added_at.isoformat()} (tolerance {slack:g} s)")
        if violation is KeyWindowViolation.REVOKED:
            raise _bad(violation.value, i,
                       f"条目 {i} 接收时（{received}）密钥已于 {key.revoked_at} 吊销",
                       f"entry {i}: key revoked at {key.revoked_at}, before it was received "
                       f"at {received}")


CheckMany = Callable[[Sequence[LedgerEntry]], Awaitable[Mapping[int, VerificationError]]]
"""Checks a batch of entries at once; the error of each entry that fails, by ledger index."""

_worker_check: SignatureCheck | None = None


def _start_worker(keys: list[dict[str, Any]], tolerance: timedelta) -> None:
    global _worker_check
    _worker_check = SignatureCheck({k["keyid"]: key_from_json(k) for k in keys}, tolerance)


def _check_chunk(entries: list[LedgerEntry]) -> list[tuple[int, str, str, str]]:
    """In a pool process: (index, reason, zh, en) of each failing entry (exceptions with
    keyword arguments do not survive pickling, so the parts travel instead)."""
    assert _worker_check is not None
    failed = []
    for entry in entries:
        try:
            _worker_check(entry)
        except VerificationError as exc:
            failed.append((entry.ledger_index, exc.reason, exc.message_zh, exc.message_en))
    return failed


class ParallelSignatureCheck:
    """SignatureCheck on every core: a batch is split over a process pool (Ed25519 verify
    is ~85 % of a full re-check). Errors come back by index and `verify_ledger` raises them
    in ledger order, so the first failure is still the first bad index. Use as a context
    manager (it owns the pool)."""

    def __init__(self, keys: Mapping[str, KeyRecord], workers: int | None = None,
                 tolerance: timedelta = KEY_ADDED_TOLERANCE) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=([key_to_json(k) for k in keys.values()], tolerance))

    def __enter__(self) -> ParallelSignatureCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)

    async def __call__(self, entries: Sequence[LedgerEntry]) -> dict[int, VerificationError]:
        loop = asyncio.get_running_loop()
        size = max(1, -(-len(entries) // (self.workers * 4)))  # a few chunks per worker
        chunks = [list(entries[i:i + size]) for i in range(0, len(entries), size)]
        results = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _check_chunk, chunk) for chunk in chunks))
        return {i: VerificationError(reason, zh, en, index=i)
                for failed in results for i, reason, zh, en in failed}


@dataclass(frozen=True)
class LedgerReport:
    """What a successful full verification covered."""

    size: int
    root_hash: bytes
    checkpoints: int
    latest_checkpoint: int | None

    def summary(self) -> str:
        root = base64.b64encode(self.root_hash).decode("ascii")
        if self.latest_checkpoint is None:
            zh_cp, en_cp = "尚无检查点", "no checkpoint yet"
        else:
            uncovered = self.size - self.latest_checkpoint
            zh_cp = (f"{self.checkpoints} 个检查点已验证，最新大小 {self.latest_checkpoint}"
                     + (f"（{uncovered} 条尚未被检查点覆盖）" if uncovered else ""))
            en_cp = (f"{self.checkpoints} checkpoints verified, latest size "
                     f"{self.latest_checkpoint}"
                     + (f" ({uncovered} entries not yet covered)" if uncovered else ""))
        return (f"账本校验通过：{self.size} 个条目，根 {root}，{zh_cp}\n"
                f"ledger OK: {self.size} entries, root {root}, {en_cp}")


def _check_checkpoints(checkpoints: Sequence[StoredCheckpoint], size: int,
                       verifier: NoteVerifier, origin: str) -> None:
    for stored in checkpoints:
        try:
            cp = open_checkpoint(stored.note, verifier, origin=origin)
        except VerificationError as exc:
            raise _bad(exc.reason, None, f"大小为 {stored.tree_size} 的检查点：{exc.message_zh}",
                       f"checkpoint of size {stored.tree_size}: {exc.message_en}") from exc
        if (cp.size, cp.root_hash) != (stored.tree_size, stored.root_hash):
            raise _bad("checkpoint_row_mismatch", None,
                       f"检查点行（大小 {stored.tree_size}）与其签名注记不符",
                       f"checkpoint row (size {stored.tree_size}) differs from its signed note")
        if stored.tree_size > size:
            raise _bad("checkpoint_beyond_ledger", size,
                       f"已签名检查点大小 {stored.tree_size}，但账本只有 {size} 个条目",
                       f"a checkpoint of size {stored.tree_size} was signed but the ledger has "
                       f"only {size} entries")


def _check_root(size: int, root: bytes, checkpoint: StoredCheckpoint, since: int) -> None:
    if root != checkpoint.root_hash:
        raise _bad("checkpoint_root_mismatch", None,
                   f"重算的大小 {size} 的根与已签名检查点不符（问题在条目 [{since}, {size}) 内）",
                   f"the recomputed root of size {size} differs from the signed checkpoint "
                   f"(the fault lies in entries [{since}, {size}))")


@dataclass
class _Pending:
    """One fetched entry with the leaf hash and nodes its append produced."""

    entry: LedgerEntry
    leaf_hash: bytes
    nodes: list[tuple[int, int, bytes]]


async def verify_ledger(
    ledger: LedgerReader,
    store: CheckpointStore,
    check: Callable[[LedgerEntry], None],
    verifier: NoteVerifier,
    *,
    origin: str,
    batch: int = 2000,
    progress: Progress | None = None,
    check_many: CheckMany | None = None,
) -> LedgerReport:
    """Re-check the ledger up to its head as read at the start; raise at the first bad index.

    `check_many`, when given, checks each fetched batch at once (ParallelSignatureCheck)
    before the in-order pass, which raises its errors in place of calling `check`.
    """
    checkpoints = await store.since(0)  # before the head: no checkpoint is newer than it
    head = await ledger.tree_head()
    _check_checkpoints(checkpoints, head.size, verifier, origin)
    by_size = {c.tree_size: c for c in checkpoints}
    tree = CompactRange()
    last_signed = 0
    if 0 in by_size:
        _check_root(0, tree.root(), by_size[0], 0)
    start = 0
    while tree.size < head.size:
        entries = [e for e in await ledger.entries(start=start, limit=batch)
                   if e.ledger_index < head.size]
        if not entries:
            break
        start = entries[-1].ledger_index + 1
        pending: list[_Pending] = []
        roots: dict[int, bytes] = {}
        base = tree.size
        for e in entries:
            h = leaf_hash(e.record)
            pending.append(_Pending(e, h, tree.append(h)))
            if tree.size in by_size:
                roots[tree.size] = tree.root()
        stored = await ledger.nodes([(lv, ix) for p in pending for lv, ix, _ in p.nodes])
        entry_check = check
        if check_many is not None:
            failures = await check_many(entries)
            entry_check = partial(_raise_failure, failures)
        for expected, p in enumerate(pending, start=base):
            _check_entry(p, expected, stored, entry_check)
            if expected + 1 in by_size:
                _check_root(expected + 1, roots[expected + 1], by_size[expected + 1], last_signed)
                last_signed = expected + 1
        if progress is not None:
            progress(len(pending), head.size)
    if tree.size < head.size:
        raise _bad("entry_missing", tree.size,
                   f"缺少条目 {tree.size}（账本头大小为 {head.size}）",
                   f"entry {tree.size} is missing (the ledger head says {head.size} entries)")
    if tree.root() != head.root_hash:
        raise _bad("head_root_mismatch", None, "重算的根与账本头记录的根不符",
                   "the recomputed root differs from the root stored in ledger_head")
    return LedgerReport(head.size, tree.root(), len(checkpoints),
                        checkpoints[-1].tree_size if checkpoints else None)


def _raise_failure(failures: Mapping[int, VerificationError], entry: LedgerEntry) -> None:
    if entry.ledger_index in failures:
        raise failures[entry.ledger_index]


def _check_entry(p: _Pending, expected: int, stored: Mapping[NodeId, bytes],
                 check: Callable[[LedgerEntry], None]) -> None:
    e = p.entry
    if e.ledger_index != expected:
        zh, en = ((f"缺少条目 {expected}（下一个是 {e.ledger_index}）",
                   f"entry {expected} is missing (next is {e.ledger_index})")
                  if e.ledger_index > expected else
                  (f"条目 {e.ledger_index} 出现在位置 {expected}",
                   f"entry {e.ledger_index} found at position {expected}"))
        raise _bad("index_not_contiguous", expected, zh, en)
    if p.leaf_hash != e.leaf_hash:
        raise _bad("leaf_hash_mismatch", expected,
                   f"条目 {expected} 的记录字节与存储的叶子哈希不符",
                   f"entry {expected}: the record bytes do not match the stored leaf hash")
    check(e)
    for level, index, h in p.nodes:
        if stored.get((level, index)) == h:
            continue
        first, end = index << level, (index + 1) << level
        state_zh, state_en = ("缺失", "missing") if (level, index) not in stored else ("不符",
                                                                                     "differs")
        if level == 0:
            raise _bad("node_mismatch", expected, f"条目 {expected} 的叶子节点{state_zh}",
                       f"entry {expected}: stored leaf node {state_en}")
        raise _bad("node_mismatch", None,
                   f"存储的节点 ({level}, {index})（覆盖条目 [{first}, {end})）{state_zh}",
                   f"stored node ({level}, {index}) covering entries [{first}, {end}) "
                   f"{state_en}")
