"""Event forms derived from the event models themselves (schemas/events.py): one definition.

`fields_of` reads a model's JSON Schema and lists the inputs (time, money, integer, yes/no,
choice, agency, text); `parse` turns the submitted strings into the event's `data` and
validates it with `model_validate_json`, exactly as the connector's `build_event` does, so a
form accepts what the hub's schema accepts and nothing else. Every error is placed on its
field, in zh and en. The list fields of four types get fixed inputs: one party
(case.opened), one evidence item (evidence.handed_over), discrepancies one per line
(evidence.received); `documents` of case.transferred come from uploads (hub/web/documents.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from schemas.events import EVENT_TYPES
from schemas.money import MONEY_PATTERN
from streams.rules.calendar import SHANGHAI

Kind = Literal["time", "money", "int", "bool", "choice", "agency", "text", "textarea"]

LABELS: dict[str, str] = {
    "offence": "涉嫌罪名", "opened_at": "立案时间", "summary": "案情摘要", "clue_id": "线索编号",
    "committed_at": "违法行为时间", "assessed_at": "认定时间",
    "illegal_business_amount": "非法经营数额", "illegal_gains": "违法所得数额",
    "sales_amount": "销售金额", "unsold_goods_value": "未销售货值", "copies": "复制品数量",
    "marks_count": "标识数量", "labels_count": "标签数量", "rightholder_loss": "权利人损失",
    "production_loss": "生产损失", "to_agency": "接收机关", "decision_no": "决定书文号",
    "decided_at": "决定时间", "fine": "罚款", "confiscated": "没收金额", "report_at": "报告时间",
    "approved": "批准移送", "reasons": "理由", "transferred_at": "移送时间",
    "handover_id": "移交编号", "handed_over_at": "移交时间", "received_at": "接收时间",
    "accepted_at": "受理时间", "receipt_no": "受理回执号", "forwarded_at": "移交时间",
    "filed": "立案", "complex": "重大复杂", "requested_at": "提出时间", "upheld": "维持",
    "request_id": "协查编号", "responded_at": "答复时间", "closed_at": "结案时间",
    "outcome": "结果", "party_kind": "当事人类型", "party_id_type": "证件类型",
    "party_id_number": "证件号码", "party_name": "当事人名称", "item_id": "物品编号",
    "item_description": "物品描述", "item_quantity": "数量", "discrepancies": "差异（每行一条）",
    "case_id": "案件编号", "works_count": "网络传播作品数", "click_count": "点击数",
    "member_count": "注册会员数", "unsold_labels_count": "尚未销售标识数",
    "patents_count": "假冒专利件数", "reasonable_suspicion": "合理嫌疑",
    "rightholder_bankrupt": "权利人破产", "platform": "电商平台", "channel": "来源渠道",
    "reporter_named": "实名举报", "kind": "类型", "proposal": "建议", "opinion_id": "意见编号",
    "replied_at": "回复时间", "answered_at": "答复时间", "prosecuted": "起诉",
}

SPECIAL = {"parties", "documents", "items", "discrepancies"}
TEXTAREA = {"summary", "reasons"}
EXTRA_INPUTS: dict[str, list[tuple[str, Kind, bool, tuple[str, ...]]]] = {
    "case.opened": [("party_kind", "choice", True, ("organization", "person")),
                    ("party_id_type", "text", True, ()), ("party_id_number", "text", True, ()),
                    ("party_name", "text", True, ())],
    "evidence.handed_over": [("item_id", "text", True, ()), ("item_description", "text", True, ()),
                             ("item_quantity", "int", True, ())],
    "evidence.received": [("discrepancies", "textarea", False, ())],
}
ITEM_FIELD = {"item_id": "item_id", "description": "item_description",
              "quantity": "item_quantity"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    required: bool
    choices: tuple[str, ...] = ()
    title_en: str = ""

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.title_en or self.name)


def fields_of(type_name: str) -> list[FieldSpec]:
    """The inputs of an event type's form, from its model's JSON Schema."""
    schema = EVENT_TYPES[type_name].model.model_json_schema()
    required = set(schema.get("required", []))
    defs = schema.get("$defs", {})
    out: list[FieldSpec] = []
    for name, prop in schema.get("properties", {}).items():
        if name in SPECIAL:
            continue
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"] or [prop]
        o = options[0]
        if "$ref" in o:
            o = defs[o["$ref"].rsplit("/", 1)[1]]
        title = str(prop.get("title", name))
        kind: Kind
        choices: tuple[str, ...] = ()
        if o.get("format") == "date-time":
            kind = "time"
        elif o.get("pattern") == MONEY_PATTERN:
            kind = "money"
        elif o.get("type") == "integer":
            kind = "int"
        elif o.get("type") == "boolean":
            kind = "bool"
        elif "enum" in o:
            kind, choices = "choice", tuple(o["enum"])
        elif name == "to_agency":
            kind = "agency"
        else:
            kind = "textarea" if name in TEXTAREA else "text"
        out.append(FieldSpec(name, kind, name in required, choices, title))
    for name, kind, needed, choices in EXTRA_INPUTS.get(type_name, []):
        out.append(FieldSpec(name, kind, needed, choices, name))
    return out


Errors = dict[str, tuple[str, str]]

_ZH_BY_TYPE = {
    "missing": ("必填", "required"),
    "string_too_short": ("不能为空", "must not be empty"),
    "string_pattern_mismatch": ("格式不正确", "wrong format"),
    "greater_than_equal": ("不能为负数", "must not be negative"),
    "literal_error": ("不在可选范围内", "not one of the choices"),
    "enum": ("不在可选范围内", "not one of the choices"),
}
MONEY_ERROR = ("金额须为人民币元，最多两位小数，如 86000.00", "an amount in yuan with at most two "
               "decimals, e.g. 86000.00")
INT_ERROR = ("须为非负整数", "must be a whole number")
TIME_ERROR = ("时间无效（北京时间，如 2026-11-27 10:30）", "invalid time (Beijing time, e.g. "
              "2026-11-27 10:30)")


def _time(text: str) -> str:
    """A datetime-local value (Asia/Shanghai) or an ISO time with offset -> RFC 3339."""
    moment = datetime.fromisoformat(text.strip().replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.isoformat()


def parse(type_name: str, form: dict[str, str],
          documents: list[dict[str, str]] | None = None) -> tuple[dict[str, Any], Errors]:
    """(data, errors): the event's data from the form's strings, validated by its model."""
    specs = fields_of(type_name)
    kinds = {s.name: s for s in specs}
    data: dict[str, Any] = {}
    errors: Errors = {}
    for spec in specs:
        raw = (form.get(spec.name) or "").strip()
        if spec.kind == "bool":
            if raw in ("true", "false"):
                data[spec.name] = raw == "true"
            elif spec.required:
                errors[spec.name] = _ZH_BY_TYPE["missing"]
            continue
        if not raw:
            if spec.required and spec.kind not in ("text", "textarea"):
                errors[spec.name] = _ZH_BY_TYPE["missing"]
            elif spec.required:
                data[spec.name] = raw
            continue
        if spec.kind == "time":
            try:
                data[spec.name] = _time(raw)
            except ValueError:
                errors[spec.name] = TIME_ERROR
        elif spec.kind == "int":
            if re.fullmatch(r"[0-9]{1,15}", raw):
                data[spec.name] = int(raw)
            else:
                errors[spec.name] = INT_ERROR
        else:
            data[spec.name] = raw
    if type_name == "case.opened":
        party = {k: data.pop(f"party_{k}", "") for k in ("kind", "id_type", "id_number", "name")}
        data["parties"] = [party]
    elif type_name == "evidence.handed_over":
        data["items"] = [{"item_id": data.pop("item_id", ""),
                          "description": data.pop("item_description", ""),
                          "quantity": data.pop("item_quantity", 0)}]
    elif type_name == "evidence.received":
        lines = str(data.pop("discrepancies", "")).splitlines()
        data["discrepancies"] = [line.strip() for line in lines if line.strip()]
    elif type_name == "case.transferred":
        data["documents"] = documents or []
    if errors:
        return data, errors
    try:
        EVENT_TYPES[type_name].model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ())]
            if not loc:
                field = "reasons" if "reasons" in str(e.get("msg", "")) else "__all__"
            elif loc[0] == "parties" and len(loc) > 2:
                field = f"party_{loc[2]}"
            elif loc[0] == "items" and len(loc) > 2:
                field = ITEM_FIELD.get(loc[2], "item_id")
            else:
                field = loc[0]
            if field in errors:
                continue
            spec_of = kinds.get(field)
            if spec_of is not None and spec_of.kind == "money":
                errors[field] = MONEY_ERROR
            elif spec_of is not None and spec_of.kind == "time":
                errors[field] = TIME_ERROR
            elif field == "reasons":
                errors[field] = ("不批准或不立案时必须说明理由", "reasons are required when refused")
            elif field == "__all__" and type_name == "case.assessed":
                errors[field] = ("至少填写一项金额、数量或标志", "at least one amount, count or "
                                 "flag is required")
            else:
                zh, en = _ZH_BY_TYPE.get(str(e.get("type")), ("无效", str(e.get("msg", ""))))
                errors[field] = (zh, en if en != "required" else str(e.get("msg", en)))
    return data, errors
