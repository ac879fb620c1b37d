"""The rules layer stays pure: no driver imports, and its public surface is exactly `__all__`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import streams

STREAMS = Path(streams.__file__).parent
FORBIDDEN = {"asyncpg", "aiokafka", "faust", "mode", "hub", "connectors", "audit"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_of_streams_imports_a_driver_or_an_upper_layer() -> None:
    for path in sorted(STREAMS.glob("*.py")):
        assert not (_imported_roots(path) & FORBIDDEN), path.name


def test_importing_streams_loads_no_driver() -> None:
    code = (
        "import sys, streams\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_public_names_are_pinned() -> None:
    assert sorted(streams.__all__) == [
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
        "RULE_CATALOGUE",
        "Rule",
        "RuleSet",
        "SHANGHAI",
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
    for name in streams.__all__:
        assert getattr(streams, name) is not None


def test_every_module_opens_with_a_one_line_purpose_docstring() -> None:
    for path in sorted(STREAMS.glob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert docstring, path.name
        assert docstring.splitlines()[0].endswith("."), path.name
