"""Load, merge and validate the versioned rule file (`streams/rules.toml`) and an operator override.

Shape (see rules.toml for the shipped file, every figure with its legal source):

    version = "2026.1"
    [rules.<RULE_ID>]                      title_zh, title_en, legal_basis, enabled, unconfirmed, note
    [rules.<RULE_ID>.deadlines.<name>]     amount, unit ("days"/"hours"), starts (the clock), ...
    [offences.<offence>]                   title_zh, title_en, criminal_law_article, economic,
                                           reasonable_suspicion
    [offences.<offence>.thresholds.<id>]   min = {figure = value, "a+b" = value}, flags = [...],
                                           attempt, tier, legal_basis, unconfirmed, note, enabled
    [calendar.<year>]                      holidays = [dates], workdays = [dates]

An override file has the same shape and only the keys it changes: tables merge key by key,
anything else (numbers, strings, arrays) replaces the base value. Errors name the file and the
TOML path of each bad field, in Chinese and English (`ConfigError.problems`).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from schemas.events import Offence
from schemas.money import parse_money
from streams.rules import _figures
from streams.rules._errors import ConfigError, Problem, problems_from_validation
from streams.rules.calendar import (
    CalendarOverride,
    Unit,
    WorkCalendar,
    load_calendar_override,
    parse_calendar_override,
)

Anchor = Literal[
    "threshold_met",  # the assessed figures first met a threshold (or IP reasonable suspicion)
    "report",  # the transfer report (移送涉嫌犯罪案件的书面报告)
    "transfer_approved",  # the head approved the transfer
    "transferred",  # the case was handed to police (or forwarded by police)
    "received",  # the forwarding police received the case (its acceptance, else the handoff)
    "accepted",  # police accepted the transfer (signed the receipt)
    "non_filing_notice",  # police decided not to file (不予立案通知)
    "reconsideration_requested",
    "reconsideration_decided",
    "supervision_issued",  # the procuratorate asked police (explain / order filing)
    "filing_notice",  # police decided to file (立案通知)
    "opinion_issued",  # the procuratorate issued a 检察意见 (reverse transfer)
    "clue_received",  # an agency received a report or complaint (举报投诉)
    "clue_decided",  # the agency decided whether to open a case on it
]
ParamKind = Literal["int", "ratio", "agencies"]
DocumentKind = Literal[
    "transfer_letter", "investigation_report", "seized_items_list", "inspection_report", "other"
]


@dataclass(frozen=True)
class RuleSpec:
    """What the engine needs from a rule's configuration: its deadlines, each with its clock,
    its parameters and their kinds, and whether it looks at other cases of the same parties."""

    deadlines: Mapping[str, Anchor]
    needs_documents: bool = False
    params: Mapping[str, ParamKind] = field(default_factory=dict)
    needs_related: bool = False


RULE_CATALOGUE: Mapping[str, RuleSpec] = {
    "SHOULD_TRANSFER": RuleSpec({"transfer": "threshold_met"}),
    "PENALTY_INSTEAD_OF_TRANSFER": RuleSpec({}),
    "TRANSFER_DECISION_LATE": RuleSpec({"decision": "report"}),
    "HANDOVER_LATE": RuleSpec({"handover": "transfer_approved"}),
    "DOCUMENTS_MISSING": RuleSpec({}, needs_documents=True),
    "NOT_ACCEPTED": RuleSpec({"acceptance": "transferred"}),
    "FORWARD_LATE": RuleSpec({"forward": "received"}),
    "FILING_OVERDUE": RuleSpec(
        {"general": "accepted", "economic": "accepted", "economic_complex": "accepted"}
    ),
    "NON_FILING_NOT_RECONSIDERED": RuleSpec({"contest": "non_filing_notice"}),
    "RECONSIDERATION_OVERDUE": RuleSpec({"decision": "reconsideration_requested"}),
    "SUPERVISION_NOT_REQUESTED": RuleSpec({"request": "reconsideration_decided"}),
    "NON_FILING_NOT_EXPLAINED": RuleSpec({"explanation": "supervision_issued"}),
    "ORDERED_FILING_OVERDUE": RuleSpec({"filing": "supervision_issued"}),
    "SEIZED_GOODS_NOT_HANDED_OVER": RuleSpec({"handover": "filing_notice"}),
    "SPLIT_CASES": RuleSpec({}, params={"window_days": "int"}, needs_related=True),
    # Reverse transfer (行刑反向衔接)
    "OPINION_NOT_ANSWERED": RuleSpec({"reply": "opinion_issued"}),
    "OPINION_NO_PENALTY_UNREASONED": RuleSpec({}),
    "PENALTY_AFTER_NON_FILING": RuleSpec({"penalty": "non_filing_notice"}),
    # Public reports and complaints (举报投诉)
    "COMPLAINT_NOT_DECIDED": RuleSpec(
        {"decision": "clue_received"},
        params={"extension_working_days": "int", "agencies": "agencies"},
    ),
    "REPORTER_NOT_TOLD": RuleSpec({"notice": "clue_decided"}, params={"agencies": "agencies"}),
    # Screening signals (practice, not statute)
    "NEAR_THRESHOLD_PENALTY": RuleSpec({}, params={"ratio": "ratio"}),
    "REPEAT_PARTY": RuleSpec(
        {}, params={"window_days": "int", "repeat_ratio": "ratio"}, needs_related=True
    ),
    "MULTI_AGENCY_PENALTIES": RuleSpec(
        {}, params={"window_days": "int", "min_agencies": "int"}, needs_related=True
    ),
}

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


def _threshold_number(value: object) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(
            '门槛须写为整数或金额字符串，例如 50000 或 "50000.00" / '
            'a threshold is an integer or a money string, e.g. 50000 or "50000.00"'
        )
    if isinstance(value, int):
        return Decimal(value)
    try:
        return parse_money(value)
    except ValueError as exc:
        raise ValueError(f"金额格式无效 / {exc}") from exc


ThresholdValue = Annotated[Decimal, BeforeValidator(_threshold_number)]


class Deadline(BaseModel):
    """A period: `amount` `unit` from the `starts` event (see streams.rules.calendar for the reading)."""

    model_config = _STRICT

    amount: int = Field(ge=0)
    unit: Unit
    starts: Anchor
    unconfirmed: bool = False
    note: str = ""


class Param(BaseModel):
    """A rule's figure other than a deadline (a window, a ratio, the agencies it covers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: int | str | tuple[str, ...]
    unconfirmed: bool = False
    note: str = ""


def _ratio(value: object) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        ratio = Decimal(value)
    except InvalidOperation:
        return None
    return ratio if ratio.is_finite() and 0 < ratio <= 1 else None


Actor = Literal["administrative", "police", "procuratorate"]


class Rule(BaseModel):
    """One alert rule: its titles, its legal source, who must act, whether it states the law or a
    practice, its deadlines and parameters, whether it runs."""

    model_config = _STRICT

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    kind: Literal["law", "practice"] = "law"
    actor: tuple[Actor, ...] = Field(default=(), strict=False)  # who must act
    enabled: bool = True
    unconfirmed: bool = False
    note: str = ""
    deadlines: dict[str, Deadline] = Field(default_factory=dict)
    required_documents: tuple[DocumentKind, ...] | None = Field(default=None, strict=False)
    params: dict[str, Param] = Field(default_factory=dict, strict=False)

    def deadline(self, name: str) -> Deadline:
        return self.deadlines[name]

    def int_param(self, name: str) -> int:
        value = self.params[name].value
        assert isinstance(value, int), name  # checked by semantic_problems
        return value

    def ratio_param(self, name: str) -> Decimal:
        ratio = _ratio(self.params[name].value)
        assert ratio is not None, name
        return ratio

    def agencies_param(self, name: str) -> frozenset[str]:
        value = self.params[name].value
        assert isinstance(value, tuple), name
        return frozenset(value)

    def param_unconfirmed(self, *names: str) -> bool:
        return any(self.params[name].unconfirmed for name in names)


class ThresholdTrigger(BaseModel):
    """One "any one suffices" entry of a threshold table: all its minimums and flags must hold."""

    model_config = _STRICT

    min: dict[str, ThresholdValue] = Field(default_factory=dict)
    flags: tuple[str, ...] = Field(default=(), strict=False)
    attempt: bool = False
    tier: str | None = None
    criminal_law_article: int | None = None
    legal_basis: str = Field(min_length=1)
    effective_from: date  # the day the figure took effect (刑法 Art 12: the law at the act)
    effective_until: date | None = None  # the day a replacing figure took effect (exclusive)
    enabled: bool = True
    unconfirmed: bool = False
    note: str = ""

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day < self.effective_until
        )


class OffenceRules(BaseModel):
    """How one offence is classified and which figures make it a suspected crime."""

    model_config = _STRICT

    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    criminal_law_article: int | None = None
    economic: bool = False
    reasonable_suspicion: bool = False
    note: str = ""
    thresholds: dict[str, ThresholdTrigger] = Field(default_factory=dict)


class RuleSet(BaseModel):
    """The validated rule set the engine evaluates: rules, thresholds per offence, calendar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    timezone: Literal["Asia/Shanghai"] = "Asia/Shanghai"
    rules: dict[str, Rule]
    offences: dict[Offence, OffenceRules]
    calendar: CalendarOverride = Field(default_factory=dict)

    _work_calendar: WorkCalendar = PrivateAttr(default_factory=WorkCalendar)

    @model_validator(mode="before")
    @classmethod
    def _rule_ids_from_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("rules"), dict):
            rules = {
                key: ({"id": key, **value} if isinstance(value, dict) else value)
                for key, value in data["rules"].items()
            }
            data = {**data, "rules": rules}
        return data

    @model_validator(mode="after")
    def _semantics(self, info: ValidationInfo) -> RuleSet:
        if not (info.context or {}).get("defer_semantic_checks"):
            problems = semantic_problems(self)
            if problems:
                raise ValueError(
                    "规则集无效 / invalid rule set: " + "; ".join(str(p) for p in problems)
                )
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._work_calendar = WorkCalendar(dict(self.calendar))

    @property
    def work_calendar(self) -> WorkCalendar:
        # Read from the private attributes' slot: `self._work_calendar` goes through
        # BaseModel.__getattr__, ~3 µs of every evaluation (issue 14).
        private = self.__pydantic_private__
        if private is None:  # not made through validation: as pydantic reads it
            return self._work_calendar
        calendar: WorkCalendar = private["_work_calendar"]
        return calendar

    def enabled_rules(self) -> list[Rule]:
        return [rule for rule in self.rules.values() if rule.enabled]

    def needs_related(self) -> bool:
        """True when an enabled rule looks at other cases sharing a party (the caller must pass
        them as `related`)."""
        return any(
            (spec := RULE_CATALOGUE.get(rule.id)) is not None and spec.needs_related
            for rule in self.enabled_rules()
        )


def _trigger_problems(path: str, trigger: ThresholdTrigger) -> list[Problem]:
    problems: list[Problem] = []
    if not trigger.min and not trigger.flags:
        problems.append(
            Problem(path, "至少需要一个 min 或 flags 条件", "needs at least one min or flag")
        )
    for name, value in trigger.min.items():
        where = f'{path}.min."{name}"' if "+" in name else f"{path}.min.{name}"
        kinds = {_figures.kind_of(part) for part in name.split("+")}
        if None in kinds or "flag" in kinds:
            problems.append(
                Problem(
                    where,
                    "未知的金额或数量名称",
                    "unknown amount or count; known: "
                    + ", ".join(_figures.AMOUNTS + _figures.COUNTS),
                )
            )
        elif len(kinds) > 1:
            problems.append(Problem(where, "金额与数量不能相加", "cannot add amounts and counts"))
        elif kinds == {"count"} and value != value.to_integral_value():
            problems.append(Problem(where, "数量门槛必须为整数", "a count threshold is an integer"))
        if value <= 0:
            problems.append(Problem(where, "门槛必须大于 0", "a threshold must be greater than 0"))
    if trigger.effective_until is not None and trigger.effective_until <= trigger.effective_from:
        problems.append(
            Problem(
                f"{path}.effective_until",
                "失效日期必须晚于生效日期",
                "effective_until must be after effective_from",
            )
        )
    for index, flag in enumerate(trigger.flags):
        if _figures.kind_of(flag) != "flag":
            problems.append(
                Problem(
                    f"{path}.flags[{index}]",
                    "未知的标志名称",
                    "unknown flag; known: " + ", ".join(_figures.FLAGS),
                )
            )
    return problems


def _unconfirmed_note(path: str, unconfirmed: bool, note: str) -> list[Problem]:
    if unconfirmed and not note.strip():
        return [
            Problem(
                f"{path}.note",
                "标记为未确认（unconfirmed）的条目必须写明说明",
                "an entry marked unconfirmed needs a note saying what is unconfirmed",
            )
        ]
    return []


def _param_problems(path: str, rule: Rule, spec: RuleSpec) -> list[Problem]:
    problems: list[Problem] = []
    for name, kind in spec.params.items():
        where = f"{path}.params.{name}"
        param = rule.params.get(name)
        if param is None:
            problems.append(Problem(where, "缺少参数", "missing parameter"))
            continue
        problems += _unconfirmed_note(where, param.unconfirmed, param.note)
        value = param.value
        if kind == "int" and not (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ):
            problems.append(
                Problem(f"{where}.value", "须为非负整数", "must be a non-negative integer")
            )
        elif kind == "ratio" and _ratio(value) is None:
            problems.append(
                Problem(
                    f"{where}.value",
                    '须为 0 到 1 之间的小数字符串，例如 "0.8"',
                    'must be a decimal string in (0, 1], e.g. "0.8"',
                )
            )
        elif kind == "agencies" and not isinstance(value, tuple):
            problems.append(
                Problem(f"{where}.value", "须为机关编号列表", "must be a list of agency ids")
            )
    for name in rule.params.keys() - spec.params.keys():
        problems.append(
            Problem(
                f"{path}.params.{name}",
                "该规则没有此参数",
                "this rule has no such parameter; known: " + (", ".join(spec.params) or "none"),
            )
        )
    return problems


def semantic_problems(ruleset: RuleSet) -> list[Problem]:
    """What the field types cannot say: known rule ids, each deadline's clock, figure names."""
    problems: list[Problem] = []
    if not ruleset.rules:
        problems.append(Problem("rules", "规则集为空", "the rule set is empty"))
    elif not ruleset.enabled_rules():
        problems.append(Problem("rules", "没有启用的规则", "every rule is disabled"))
    for key, rule in ruleset.rules.items():
        path = f"rules.{key}"
        if rule.id != key:
            problems.append(
                Problem(f"{path}.id", "id 必须与表名一致", f"id must equal the table name {key!r}")
            )
        problems += _unconfirmed_note(path, rule.unconfirmed, rule.note)
        if not rule.actor:
            problems.append(
                Problem(f"{path}.actor", "须写明由谁履行", "must name who must act (actor)")
            )
        spec = RULE_CATALOGUE.get(key)
        if spec is None:
            problems.append(
                Problem(
                    path, "未知的规则编号", "unknown rule id; known: " + ", ".join(RULE_CATALOGUE)
                )
            )
            continue
        for name, anchor in spec.deadlines.items():
            deadline = rule.deadlines.get(name)
            if deadline is None:
                problems.append(Problem(f"{path}.deadlines.{name}", "缺少期限", "missing deadline"))
            elif deadline.starts != anchor:
                problems.append(
                    Problem(
                        f"{path}.deadlines.{name}.starts",
                        f"该期限的起算点必须为 {anchor!r}",
                        f"this deadline's clock starts at {anchor!r}",
                    )
                )
            if deadline is not None:
                problems += _unconfirmed_note(
                    f"{path}.deadlines.{name}", deadline.unconfirmed, deadline.note
                )
        for name in rule.deadlines.keys() - spec.deadlines.keys():
            problems.append(
                Problem(
                    f"{path}.deadlines.{name}",
                    "该规则没有此期限",
                    "this rule has no such deadline; known: " + ", ".join(spec.deadlines),
                )
            )
        if spec.needs_documents and not rule.required_documents:
            problems.append(
                Problem(f"{path}.required_documents", "缺少必备材料清单", "missing document list")
            )
        problems += _param_problems(path, rule, spec)
        if not spec.needs_documents and rule.required_documents is not None:
            problems.append(
                Problem(
                    f"{path}.required_documents", "该规则不使用材料清单", "not used by this rule"
                )
            )
    for offence in Offence:
        if offence not in ruleset.offences:
            problems.append(
                Problem(f"offences.{offence.value}", "缺少该罪名的配置", "missing offence table")
            )
    for offence, rules in ruleset.offences.items():
        for trigger_id, trigger in rules.thresholds.items():
            path = f"offences.{offence.value}.thresholds.{trigger_id}"
            problems += _trigger_problems(path, trigger)
            problems += _unconfirmed_note(path, trigger.unconfirmed, trigger.note)
    return problems


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new document: tables merge key by key; any other value in `override` replaces the base
    value. Neither input is shared with the result."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _has_path(document: Mapping[str, Any], parts: Sequence[str]) -> bool:
    node: Any = document
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _path_parts(path: str) -> list[str]:
    parts: list[str] = []
    for chunk in path.replace('"', "").split("."):
        name = chunk.split("[", 1)[0]
        if name:
            parts.append(name)
    return parts


def _attribute(
    problem: Problem,
    base: Mapping[str, Any],
    override: Mapping[str, Any] | None,
    base_file: str,
    override_file: str | None,
) -> Problem:
    """Name the file a problem comes from: the override when it set (or added) the field."""
    file = base_file
    if override is not None:
        parts = _path_parts(problem.path)
        for depth in range(len(parts), 0, -1):
            prefix = parts[:depth]
            if _has_path(override, prefix):
                if depth == len(parts) or not _has_path(base, prefix):
                    file = override_file or "override"
                break
    return Problem(problem.path, problem.message_zh, problem.message_en, file)


def parse_rules(
    base: Mapping[str, Any],
    override: Mapping[str, Any] | None = None,
    *,
    base_file: str = "rules.toml",
    override_file: str | None = None,
) -> RuleSet:
    """Merge `override` into `base`, validate, and return the rule set; ConfigError if unusable."""
    document = merge(base, override or {})
    problems: list[Problem] = []
    calendar: CalendarOverride = {}
    calendar_table = document.pop("calendar", {})
    if not isinstance(calendar_table, Mapping):
        problems.append(Problem("calendar", "必须为表（table）", "must be a table"))
    else:
        try:
            calendar = parse_calendar_override(calendar_table)
        except ConfigError as exc:
            problems += exc.problems
    ruleset: RuleSet | None = None
    try:
        ruleset = RuleSet.model_validate(
            {**document, "calendar": calendar}, context={"defer_semantic_checks": True}
        )
    except ValidationError as exc:
        problems += problems_from_validation(exc)
    if ruleset is not None:
        problems += semantic_problems(ruleset)
    if problems:
        raise ConfigError(
            [_attribute(p, base, override, base_file, override_file) for p in problems]
        )
    assert ruleset is not None
    return ruleset


def default_rules_path() -> Path:
    """The rule file shipped with the package."""
    return Path(str(resources.files("streams.rules").joinpath("rules.toml")))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem("", "无法读取文件", f"cannot read the file: {exc}", str(path))]
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", "TOML 语法错误", str(exc), str(path))]) from exc


def load_rules(
    path: str | Path | None = None,
    override: str | Path | None = None,
    calendar_override: str | Path | None = None,
) -> RuleSet:
    """Load the rule file (default: the shipped one), merge an override file and a calendar file."""
    base_path = Path(path) if path is not None else default_rules_path()
    base = _read_toml(base_path)
    override_doc = _read_toml(Path(override)) if override is not None else None
    if calendar_override is not None:
        years = load_calendar_override(calendar_override)  # errors name the calendar file
        calendar_doc = {"calendar": {str(y): e.model_dump() for y, e in years.items()}}
        override_doc = merge(override_doc or {}, calendar_doc)
    return parse_rules(
        base,
        override_doc,
        base_file=str(base_path),
        override_file=str(override) if override is not None else None,
    )


_ACTOR_LABELS: Mapping[str, str] = {
    "administrative": "行政执法机关 / agency",
    "police": "公安机关 / police",
    "procuratorate": "检察机关 / procuratorate",
}
_UNIT_LABELS: Mapping[str, str] = {
    "days": "days",
    "hours": "hours",
    "working_days": "working days",
    "months": "months",
}


def _deadline_cell(rule: Rule) -> str:
    cells = []
    for name, deadline in rule.deadlines.items():
        flag = " (UNCONFIRMED)" if deadline.unconfirmed else ""
        cells.append(
            f"{name}: {deadline.amount} {_UNIT_LABELS[deadline.unit]} from "
            f"`{deadline.starts}`{flag}"
        )
    return "; ".join(cells) or "—"


def rules_table(ruleset: RuleSet) -> str:
    """The Markdown table of docs/rules.md: every rule id, law or practice, who must act, its
    deadline and its source (a test keeps the page in step with the shipped rule file)."""
    lines = [
        "| rule | 中文 / English | law or practice | who must act | deadline | source |",
        "|---|---|---|---|---|---|",
    ]
    for rule in ruleset.rules.values():
        kind = "法定 / law" if rule.kind == "law" else "实践 / practice"
        actors = ", ".join(_ACTOR_LABELS[actor] for actor in rule.actor)
        flag = " — UNCONFIRMED figures" if rule.unconfirmed else ""
        lines.append(
            f"| `{rule.id}` | {rule.title_zh} / {rule.title_en} | {kind} | {actors} | "
            f"{_deadline_cell(rule)} | {rule.legal_basis}{flag} |"
        )
    return "\n".join(lines)
