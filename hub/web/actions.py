"""What the API and the pages both do: read a case (and log it), check an event's inclusion,
issue a supervision. One implementation, so a page never shows what the API would refuse."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from audit.errors import LedgerError
from audit.proofs import verify_inclusion_json
from connectors.outbox import OutboxEntry
from hub.access import Capability, Principal, Role
from hub.adapters.accounts_store import AccountError
from hub.adapters.workbench_store import AlertFilter
from hub.web.auth import ApiProblem, forbidden, not_found
from hub.web.models import CaseOut, InclusionCheck
from hub.web.security import hash_password, password_problem
from hub.web.state import Workbench
from hub.web.supervision import SupervisionKind
from hub.web.views import board_alert, case_out, for_principal


def aware(moment: datetime | None) -> datetime | None:
    """Query times without an offset are read as Asia/Shanghai (the workbench's zone)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    from streams.rules.calendar import SHANGHAI

    return moment.replace(tzinfo=SHANGHAI).astimezone(UTC)


EXPORT_LIMIT = 100_000
EXPORT_COLUMNS = ("alert_id", "rule_id", "status", "case_id", "agency", "agency_name",
                  "raised_at", "due_at", "light", "legal_basis", "message_zh", "message_en")


async def export_alerts(wb: Workbench, principal: Principal, f: AlertFilter,
                        client: str | None, channel: str) -> str:
    """The alerts of a filter as CSV (UTF-8 with a BOM, for spreadsheet programs), in the
    caller's scope and masking; the export itself goes to the access log."""
    await wb.store.refresh_scope()
    page = await wb.store.board(principal.scope, f, limit=EXPORT_LIMIT)
    names, now = await wb.names(), wb.now()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in page.rows:
        alert = for_principal(board_alert(row, names, now, wb.config.yellow_days), principal)
        document = alert.model_dump(mode="json")
        writer.writerow([document[c] if document[c] is not None else "" for c in EXPORT_COLUMNS])
    await wb.log(principal, "export", client, target="alerts",
                 detail={"channel": channel, "rows": len(page.rows),
                         "filter": {k: v for k, v in vars(f).items() if v is not None}})
    return out.getvalue()


async def read_case(wb: Workbench, principal: Principal, case_id: str, client: str | None,
                    channel: str) -> CaseOut | None:
    """The case as the principal may see it, or None (unknown or out of scope: the same).
    Every read, found or not, is written to the access log."""
    await wb.store.refresh_scope()
    record = await wb.store.case(principal.scope, case_id)
    await wb.log(principal, "case.read", client, target=case_id,
                 outcome="ok" if record is not None else "not_found",
                 detail={"channel": channel})
    if record is None:
        return None
    view = case_out(record, await wb.names(), wb.rules, wb.now(), wb.config.yellow_days)
    return for_principal(view, principal)


async def check_inclusion(wb: Workbench, principal: Principal, case_id: str,
                          ledger_index: int) -> InclusionCheck | None:
    """Prove the event at `ledger_index` of a visible case against the latest signed
    checkpoint (one is signed if the latest does not cover it yet), then check the proof,
    the checkpoint's signature with the hub's key, and the leaf against the stored record."""
    await wb.store.refresh_scope()
    found = await wb.store.case_event(principal.scope, case_id, ledger_index)
    if found is None:
        return None
    index, record = found
    try:
        proof = await wb.ledger.inclusion(index=index)
        checkpoint = verify_inclusion_json(proof, record, wb.ledger.checkpointer.verifier,
                                           origin=wb.settings.origin)
    except LedgerError as exc:
        return InclusionCheck(ledger_index=index, verified=False, tree_size=None,
                              checkpoint=None, message_zh=f"未通过：{exc.message_zh}",
                              message_en=f"not verified: {exc.message_en}")
    return InclusionCheck(
        ledger_index=index, verified=True, tree_size=checkpoint.size, checkpoint=proof.checkpoint,
        message_zh=f"已验证：条目 {index} 包含在已签名的大小为 {checkpoint.size} 的树中",
        message_en=f"verified: entry {index} is in the signed tree of size {checkpoint.size}")


async def issue_supervision(wb: Workbench, principal: Principal, case_id: str,
                            kind: SupervisionKind, to_agency: str, client: str | None,
                            wait_seconds: float) -> OutboxEntry:
    """Sign `supervision.issued` with the principal's procuratorate key, send it through the
    outbox, and wait up to `wait_seconds` for the hub's receipt."""
    if not principal.can(Capability.ISSUE_SUPERVISION):
        raise forbidden()
    names = await wb.names()
    if names.agencies.get(principal.agency_id, ("", "", ""))[2] != "procuratorate":
        raise forbidden()
    if to_agency not in names.agencies:
        raise ApiProblem(409, "unknown_agency", f"未知机关 {to_agency}",
                         f"unknown agency {to_agency}")
    await wb.store.refresh_scope()
    if await wb.store.case(principal.scope, case_id, timeline_limit=0) is None:
        raise not_found()
    if not wb.desk.available:
        raise ApiProblem(503, "no_broker", "未连接 Kafka，无法发送", "no Kafka broker to send to")
    event_id = await wb.desk.issue(principal.agency_id, case_id, kind, to_agency, wb.now())
    await wb.log(principal, "supervision.issue", client, target=case_id,
                 detail={"event_id": event_id, "kind": kind, "to_agency": to_agency})
    entry = await wb.desk.wait(principal.agency_id, event_id, wait_seconds)
    assert entry is not None
    return entry


async def supervision_entry(wb: Workbench, principal: Principal,
                            event_id: str) -> OutboxEntry | None:
    if not wb.desk.available:
        return None
    return await wb.desk.entry(principal.agency_id, event_id)


async def add_user(wb: Workbench, principal: Principal, username: str, agency: str, role: Role,
                   password: str, display_name: str, client: str | None) -> None:
    """An admin adds a user: the agency must exist, a supervisor must belong to a
    procuratorate, the password must be long enough; logged like every user change."""
    if not principal.can(Capability.MANAGE_USERS):
        raise forbidden()
    names = await wb.names(fresh=True)
    if agency not in names.agencies:
        raise ApiProblem(409, "unknown_agency", f"未知机关 {agency}", f"unknown agency {agency}")
    if role is Role.SUPERVISOR and names.agencies[agency][2] != "procuratorate":
        raise ApiProblem(409, "not_procuratorate", "监督人员须属于检察机关",
                         "a supervisor must belong to a procuratorate")
    problem = password_problem(password)
    if problem:
        zh, _, en = problem.partition(" / ")
        raise ApiProblem(409, "weak_password", zh, en)
    try:
        await wb.accounts.add_user(username, agency, role, hash_password(password), display_name)
    except AccountError as exc:
        zh, _, en = str(exc).partition(" / ")
        raise ApiProblem(409, "user_exists", zh, en) from exc
    await wb.log(principal, "user.add", client, target=username,
                 detail={"role": role.value, "agency": agency})
