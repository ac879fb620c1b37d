"""The architecture's import table, pinned: which package may import which, and where drivers live.

Layers, bottom up (docs/architecture.md):
  schemas        the contract's vocabulary               imports nothing of the project
  audit          the ledger, pure                        schemas
  streams.rules  the rule engine, pure                   schemas
  streams        the stream processors over ports        schemas, audit, streams.rules
  connectors     the agency SDK                          schemas, audit
  hub            the running hub (adapters, wiring, CLI) everything
Drivers (asyncpg, aiokafka, faust, mode) are imported only by `hub.adapters`, by the faust app
wiring (`hub.worker`, `hub.http`) and by the agency SDK's own Kafka client (`connectors`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import streams.rules as rules

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"schemas", "audit", "streams", "connectors", "hub"}
DRIVERS = {"asyncpg", "aiokafka", "faust", "mode"}

# Package (longest prefix wins) -> the project packages it may import.
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": {"schemas"},
    "audit": {"schemas", "audit"},
    "streams.rules": {"schemas", "streams.rules"},
    "streams": {"schemas", "audit", "streams"},
    "connectors": {"schemas", "audit", "connectors"},
    "hub": PROJECT,
}
DRIVER_HOMES = ("hub.adapters", "hub.worker", "hub.http", "connectors")

# Imports the restructuring has not removed yet: each names its module and what it imports.
# The list may only shrink; a module that no longer needs its entry fails the last test.
KNOWN_DEBT: dict[str, set[str]] = {
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported anywhere in the file (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_of(module: str) -> str | None:
    matches = [p for p in MAY_IMPORT if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def violations(path: Path) -> set[str]:
    """What this file imports against the table: project layers by name, drivers by root."""
    module = module_name(path)
    allowed = MAY_IMPORT[layer_of(module) or ""]
    found: set[str] = set()
    for name in imported_modules(path):
        root = name.split(".")[0]
        if root in DRIVERS and not module.startswith(DRIVER_HOMES):
            found.add(root)
        target = layer_of(name)
        if target is not None and not any(target == a or target.startswith(a + ".")
                                          for a in allowed):
            found.add(root)
    return found


SOURCES = sorted(p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_every_import_follows_the_table(path: Path) -> None:
    module = module_name(path)
    assert violations(path) <= KNOWN_DEBT.get(module, set()), (
        f"{module} imports {violations(path) - KNOWN_DEBT.get(module, set())} against the table")


def test_known_debt_is_still_owed() -> None:
    for module, owed in KNOWN_DEBT.items():
        path = ROOT / (module.replace(".", "/") + ".py")
        assert violations(path) == owed, f"{module}: update KNOWN_DEBT to {violations(path)}"


@pytest.mark.parametrize("source, expected", [
    ("import asyncpg\n", {"asyncpg"}),
    ("def f():\n    from hub.settings import Settings\n", {"hub"}),
    ("from streams.ingress import IngressProcessor\n", {"streams"}),
    ("from schemas.dsse import Envelope\nfrom audit.merkle import leaf_hash\n", set()),
])
def test_the_table_catches_what_it_should(source: str, expected: set[str]) -> None:
    probe = ROOT / "audit" / "_layering_probe.py"
    try:
        probe.write_text(source, encoding="utf-8")
        assert violations(probe) == expected
    finally:
        probe.unlink()


def test_importing_the_pure_layers_loads_no_driver() -> None:
    code = (
        "import sys, schemas, audit, streams.rules, connectors\n"
        "import schemas.signing, audit.checkpointer, audit.recheck\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(DRIVERS | {'hub'})!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == ""


def test_public_names_of_the_rule_engine_are_pinned() -> None:
    assert sorted(rules.__all__) == [
        "AlertDecision", "Assessment", "CaseEvent", "CaseEventError", "CaseState",
        "ConfigError", "Deadline", "DueTime", "OffenceRules", "PartyRef", "Problem",
        "RULE_CATALOGUE", "Rule", "RuleSet", "SHANGHAI", "ThresholdTrigger", "WorkCalendar",
        "YearOverride", "add_days", "add_hours", "alert_id", "apply", "assess",
        "default_rules_path", "due_after", "evaluate", "fold", "load_calendar_override",
        "load_rules", "next_due", "parse_rules",
    ]
    for name in rules.__all__:
        assert getattr(rules, name) is not None
