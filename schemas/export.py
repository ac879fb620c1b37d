"""JSON Schema documents of the event catalogue: the CloudEvent with each type's data."""

from __future__ import annotations

from typing import Any

from schemas.cloudevent import CASE_ID_PATTERN
from schemas.events import EVENT_TYPES, EventTypeSpec

SCHEMA_BASE = "https://linkage-hub.example/schemas/"


def event_json_schema(spec: EventTypeSpec) -> dict[str, Any]:
    """The full CloudEvent schema for one event type, `data` being that type's model."""
    data = spec.model.model_json_schema(ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{spec.ce_type}.json",
        "title": f"{spec.title_zh} / {spec.title_en}",
        "description": f"cn.linkage.{spec.name}.v1 — 可发送角色 / sent by: "
                       + ", ".join(sorted(r.value for r in spec.roles)),
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time",
                     "datacontenttype", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string", "pattern": r"^urn:linkage:agency:[a-z][a-z0-9-]{1,31}$"},
            "type": {"const": spec.ce_type},
            "subject": {"type": "string", "pattern": CASE_ID_PATTERN,
                        "description": "案件编号 / case id"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "data": data,
        },
        "$defs": defs,
    }


def event_json_schemas() -> dict[str, dict[str, Any]]:
    return {f"{spec.ce_type}.json": event_json_schema(spec) for spec in EVENT_TYPES.values()}


def catalogue_table() -> str:
    """The Markdown table of docs/events.md (a test keeps the page in step with the models)."""
    lines = ["| type | 中文 / English | sent by (role) | data fields |", "|---|---|---|---|"]
    for spec in EVENT_TYPES.values():
        schema = spec.model.model_json_schema()
        required = set(schema.get("required", []))
        fields = ", ".join(f"`{name}`" + ("" if name in required else "?")
                           for name in schema["properties"])
        roles = ", ".join(sorted(r.value for r in spec.roles))
        lines.append(f"| `{spec.ce_type}` | {spec.title_zh} / {spec.title_en} | {roles} | {fields} |")
    return "\n".join(lines)
