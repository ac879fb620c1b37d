"""Pure rules layer of the hub: rule configuration, deadline calendar, case state, alert engine.

Nothing here does I/O beyond reading configuration files, and nothing imports a database or
broker driver: the hub's workers fold accepted events into `CaseState` with `apply`, store it,
and call `evaluate` / `next_due` to decide which alerts to publish and when to look again.
"""

from streams.rules._errors import CaseEventError, ConfigError, Problem
from streams.rules.calendar import (
    SHANGHAI,
    DueTime,
    WorkCalendar,
    YearOverride,
    add_days,
    add_hours,
    due_after,
    load_calendar_override,
)
from streams.rules.case_state import CaseEvent, CaseState, PartyRef
from streams.rules.engine import AlertDecision, Assessment, alert_id, assess, evaluate, next_due
from streams.rules.fold import apply, fold
from streams.rules.rules_config import (
    RULE_CATALOGUE,
    Deadline,
    OffenceRules,
    Rule,
    RuleSet,
    ThresholdTrigger,
    default_rules_path,
    load_rules,
    parse_rules,
)

__all__ = [
    "RULE_CATALOGUE",
    "SHANGHAI",
    "AlertDecision",
    "Assessment",
    "CaseEvent",
    "CaseEventError",
    "CaseState",
    "ConfigError",
    "Deadline",
    "DueTime",
    "OffenceRules",
    "PartyRef",
    "Problem",
    "Rule",
    "RuleSet",
    "ThresholdTrigger",
    "WorkCalendar",
    "YearOverride",
    "add_days",
    "add_hours",
    "alert_id",
    "apply",
    "assess",
    "default_rules_path",
    "due_after",
    "evaluate",
    "fold",
    "load_calendar_override",
    "load_rules",
    "next_due",
    "parse_rules",
]
