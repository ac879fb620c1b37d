"""The hub's signed alert payload for the procuratorate (contract section 4)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict


class Alert(BaseModel):
    """One alert, open or resolved; `alert_id` is deterministic for (rule, case, trigger)."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    rule_id: str
    status: Literal["open", "resolved"]
    case_id: str
    agency: str
    raised_at: AwareDatetime
    due_at: AwareDatetime | None
    legal_basis: str
    facts: dict[str, Any]
    message_zh: str
    message_en: str
