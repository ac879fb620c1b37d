"""The few errors the stream processors act on, each with a machine reason, zh/en and evidence.

Hierarchy::

    HubError               ``reason`` (stable machine code), ``message_zh``, ``message_en``,
     │                     ``evidence`` (what an operator needs to see the cause)
     ├── StoreUnavailable  the database could not be reached or failed transiently:
     │                     back off and retry the same work (the only retryable error)
     └── StoreRefused      the database refused the work (a constraint, a type, a
                           permission): retrying the same work fails the same way, so the
                           processor splits the batch and parks the record at fault

A record the hub could not settle is *parked* (streams/ingress.py), with the reason
``store_refused`` or ``hub_bug`` (an exception of the hub's own code): never receipted as
the agency's fault, kept for operators, re-run once fixed.

Adapters (hub/adapters/) translate driver exceptions into these; services never see a
driver type.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.reasons import bounded_text


class HubError(Exception):
    """Base error: a machine reason, a message for people in zh and en, and evidence."""

    def __init__(self, reason: str, message_zh: str, message_en: str,
                 evidence: Mapping[str, object] | None = None) -> None:
        self.reason = reason
        self.message_zh = message_zh
        self.message_en = message_en
        self.evidence = dict(evidence or {})
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        """Both messages, Chinese first, then the evidence: ``"<zh> / <en>: k=v ..."``."""
        text = f"{self.message_zh} / {self.message_en}"
        if self.evidence:
            text += ": " + "; ".join(f"{k}={v}" for k, v in self.evidence.items())
        return text


class StoreUnavailable(HubError):
    """The database could not be reached or failed transiently: back off and retry."""

    def __init__(self, detail: str) -> None:
        super().__init__("store_unavailable", "数据库暂不可用", "database unavailable",
                         {"cause": bounded_text(detail, 500)})


class StoreRefused(HubError):
    """The database refused an operation (a constraint, a value, a permission): not retryable."""

    def __init__(self, detail: str, sqlstate: str | None = None) -> None:
        evidence: dict[str, object] = {"cause": bounded_text(detail, 500)}
        if sqlstate:
            evidence["sqlstate"] = sqlstate
        super().__init__("store_refused", "数据库拒绝操作", "database refused", evidence)


PARK_STORE_REFUSED = "store_refused"
PARK_HUB_BUG = "hub_bug"
"""Why a record is parked: the database refused it, or the hub's own code failed on it."""


def park_reason(exc: BaseException) -> str:
    return PARK_STORE_REFUSED if isinstance(exc, StoreRefused) else PARK_HUB_BUG


def evidence_of(exc: BaseException) -> str:
    """A bounded one-line account of an exception for the parked record and the log."""
    if isinstance(exc, HubError):
        return bounded_text(exc.diagnostics(), 1000)
    return bounded_text(f"{type(exc).__name__}: {exc}", 1000)
