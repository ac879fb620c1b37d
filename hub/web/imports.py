"""Bulk import from the browser (issue 11): the 双公示 CSV export through the CLI's importer.

`connectors.bulk_import.plan_import` reads and maps the file exactly as `linkage-hub import`
does; `send_planned` signs with the agency's key held by the hub (the case-work connector,
hub/web/supervision.py) and waits for the receipts, reporting progress to an in-memory job
the page polls. The per-row error report is the CLI's `--report` CSV. Jobs live in the web
process (one), keyed by a random id and readable only by the agency that started them; a
restart loses the progress page, not the events (they are in the outbox, and a re-import
sends nothing twice: ids derive from the decision numbers).
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from connectors.bulk_import import PlannedImport, plan_import, send_planned
from connectors.connector import ReceiptTimeout
from connectors.penalty.records import PenaltyFileError
from hub.access import Capability, Principal
from hub.web.auth import client_of, page_needs, workbench
from hub.web.pages import check_csrf, problem_page, render
from hub.web.state import Workbench

log = logging.getLogger(__name__)

WB = Annotated[Workbench, Depends(workbench)]
Officer = Annotated[Principal, Depends(page_needs(Capability.WORK_CASES))]
MAX_IMPORT_BYTES = 50 * 1024 * 1024
RECEIPT_WAIT = 120.0

router = APIRouter(prefix="/work/import", include_in_schema=False)


@dataclass
class ImportJob:
    job_id: str
    agency_id: str
    filename: str
    plan: PlannedImport
    signed: int = 0
    receipted: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failed: str | None = None
    done: bool = False

    def progress(self, stage: str, done: int) -> None:
        if stage == "signed":
            self.signed = done
        else:
            self.receipted = done


JOBS: dict[str, ImportJob] = {}
_TASKS: set[asyncio.Task[None]] = set()


async def _run(wb: Workbench, job: ImportJob) -> None:
    try:
        connector = await wb.desk.connector(job.agency_id)
        job.counts = await send_planned(connector, job.plan, RECEIPT_WAIT, io.StringIO(),
                                        job.progress)
    except ReceiptTimeout:
        job.failed = "timeout"
    except Exception:  # a bug or an outage: the page says so; the outbox keeps the events
        log.exception("import %s failed", job.job_id)
        job.failed = "error"
    finally:
        job.done = True


@router.get("")
async def import_form(request: Request, principal: Officer) -> Response:
    return render(request, "work_import.html", job=None, error=None)


@router.post("")
async def import_submit(request: Request, principal: Officer, wb: WB) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(request, "work_import.html", status=422, job=None,
                      error=("请选择文件", "choose a file"))
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        return render(request, "work_import.html", status=422, job=None,
                      error=("文件超过 50 MiB", "the file exceeds 50 MiB"))
    try:
        plan = plan_import(data, principal.agency_id)
    except PenaltyFileError as exc:
        return render(request, "work_import.html", status=422, job=None,
                      error=(exc.message_zh, exc.message_en))
    if not wb.desk.available:
        return problem_page(request, 503, "未连接 Kafka，无法发送", "no Kafka broker to send to")
    job = ImportJob(str(uuid.uuid4()), principal.agency_id, upload.filename, plan)
    JOBS[job.job_id] = job
    await wb.log(principal, "import.penalties", client_of(request), target=upload.filename,
                 detail={"job": job.job_id, "events": len(plan.events),
                         "row_errors": len(plan.report.errors)})
    task = asyncio.create_task(_run(wb, job), name=f"import-{job.job_id}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return RedirectResponse(f"/work/import/{job.job_id}", status_code=303)


def _job(job_id: uuid.UUID, principal: Principal) -> ImportJob | None:
    job = JOBS.get(str(job_id))
    return job if job is not None and job.agency_id == principal.agency_id else None


@router.get("/{job_id}")
async def import_progress(job_id: uuid.UUID, request: Request, principal: Officer) -> Response:
    job = _job(job_id, principal)
    if job is None:
        return problem_page(request, 404, "没有这个导入任务", "no such import")
    return render(request, "work_import.html", job=job, error=None)


@router.get("/{job_id}/errors.csv")
async def import_errors(job_id: uuid.UUID, request: Request, principal: Officer) -> Response:
    job = _job(job_id, principal)
    if job is None:
        return problem_page(request, 404, "没有这个导入任务", "no such import")
    return Response(job.plan.report.to_error_csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="import-errors.csv"'})
