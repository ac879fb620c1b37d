"""Bulk import of an agency's 双公示 penalty export: read, map, sign, send, report.

Rows that cannot be read or mapped go to the clerk's error report with their row and
column; every other row becomes `case.opened` + `penalty.decided` with ids derived from
the decision number, so importing the same file twice sends nothing new (the outbox
ignores known ids and the hub receipts a re-send as a duplicate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

from connectors.connector import Connector
from connectors.penalty.mapping import HubEvent, OffenceClassifier, map_penalty_record
from connectors.penalty.reader import read_penalty_csv
from connectors.penalty.records import DisclosedPenalty, RowResult
from connectors.penalty.report import ImportReport


@dataclass(frozen=True)
class PlannedImport:
    """What a file yields: the events to send (in order) and the clerk's report."""

    events: tuple[HubEvent, ...]
    report: ImportReport


def plan_import(data: bytes, agency_id: str, classifier: OffenceClassifier | None = None,
                progress: Callable[[int], object] | None = None) -> PlannedImport:
    """Read and map a CSV export; raises PenaltyFileError when the file as a whole is unusable."""
    source = read_penalty_csv(data)
    results: list[RowResult] = []
    events: list[HubEvent] = []
    for result in source:
        if isinstance(result, DisclosedPenalty):
            mapped = map_penalty_record(result, agency_id=agency_id, classifier=classifier,
                                        column_labels=source.column_labels)
            if isinstance(mapped, tuple):
                events.extend(mapped)
                results.append(result)
            else:
                results.append(mapped)
        else:
            results.append(result)
        if progress:
            progress(1)
    return PlannedImport(tuple(events), ImportReport.from_results(source, results))


async def send_planned(connector: Connector, plan: PlannedImport, wait: float,
                       out: TextIO | None = None,
                       progress: Callable[[str, int], object] | None = None) -> dict[str, int]:
    """Store every event in the outbox (progress bar), then wait for the hub's receipts.
    `progress(stage, done)` ("signed" or "receipted", events so far) serves the workbench."""
    chunk = 500
    with tqdm(total=len(plan.events), desc="签名入箱 / signing", unit="event", file=out) as bar:
        for start in range(0, len(plan.events), chunk):
            part = plan.events[start:start + chunk]
            connector.enqueue_many([(e.type_name, e.case_id, e.data, e.event_id, e.time)
                                    for e in part])
            bar.update(len(part))
            if progress:
                progress("signed", start + len(part))
    ids = [e.event_id for e in plan.events]
    with tqdm(total=len(ids), desc="等待回执 / receipts", unit="event", file=out) as bar:
        done = 0
        for event_id in ids:
            await connector.wait_for_receipt(event_id, timeout=wait)
            done += 1
            bar.update(1)
            if progress:
                progress("receipted", done)
    counts: dict[str, int] = {}
    for event_id in ids:
        entry = connector.outbox.get(event_id)
        status = entry.status if entry else "missing"
        counts[status] = counts.get(status, 0) + 1
    return counts
