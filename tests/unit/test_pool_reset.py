"""The hub's SQL creates no session-level state: what lets its pools skip asyncpg's reset query.

hub/adapters/postgres.py `_keep_session` explains the decision; this scan is its guard. Every
SQL text of the hub (the .sql migrations without their comments, and every string literal of
hub/, streams/ and audit/ that is not a docstring) is searched for a statement whose effect
outlives its transaction on a pooled connection.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "streams", "audit")

SESSION_STATE = {
    "session advisory lock": re.compile(r"\bpg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
    "LISTEN": re.compile(r"(^|;|')\s*LISTEN\b", re.I),
    "cursor WITH HOLD": re.compile(r"\bWITH\s+HOLD\b", re.I),
    "session SET": re.compile(r"(^|;|')\s*SET\s+(?!LOCAL\b)(?!ROLE\s+\{?HUB_ROLE|ROLE linkage_hub)"
                              r"(SESSION\s+)?[a-z_.]+\s*(=|TO\b)", re.I),
    "role change": re.compile(r"(^|;|')\s*(SET\s+(SESSION\s+)?ROLE\s+(?!linkage_hub\b|\{HUB_ROLE\})"
                              r"|(SET|RESET)\s+SESSION\s+AUTHORIZATION\b)", re.I),
    "RESET or DISCARD": re.compile(r"(^|;|')\s*(RESET|DISCARD)\b", re.I),
    "set_config for the session": re.compile(r"\bset_config\s*\([^)]*,\s*false\s*\)", re.I),
    "temporary table": re.compile(r"\bCREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\b", re.I),
    "SQL PREPARE": re.compile(r"(^|;)\s*PREPARE\s+\w+\s*(\(|AS\b)", re.I),
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            ids.add(id(body[0].value))
    return ids


def sql_texts() -> list[tuple[str, str]]:
    """(where, text) of every SQL migration and every non-docstring string literal."""
    texts = [(str(p.relative_to(ROOT)), re.sub(r"--[^\n]*", "", p.read_text("utf-8")))
             for p in sorted((ROOT / "hub" / "sql").glob("*.sql"))]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            skip = _docstrings(tree)
            for node in ast.walk(tree):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.JoinedStr):  # an f-string: its parts, "{expression}"
                    skip.update(id(v) for v in node.values)
                    texts.append((where, "".join(
                        v.value if isinstance(v, ast.Constant) else
                        "{" + ast.unparse(v.value) + "}"
                        for v in node.values)))
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and id(node) not in skip:
                    texts.append((where, node.value))
    return texts


def session_state_in(text: str) -> list[str]:
    return [what for what, pattern in SESSION_STATE.items() if pattern.search(text)]


def test_the_hub_creates_no_session_state_on_its_connections() -> None:
    texts = sql_texts()
    assert len(texts) > 500  # the scan saw the code base
    found = [(where, session_state_in(text)) for where, text in texts if session_state_in(text)]
    assert found == []


@pytest.mark.parametrize("sql", [
    "SELECT pg_advisory_lock(42)",
    "select pg_try_advisory_lock_shared($1)",
    "LISTEN linkage",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "SET work_mem = '64MB'",
    "SELECT 1; set session statement_timeout TO 0",
    "SELECT set_config('work_mem', '64MB', false)",
    "CREATE TEMP TABLE t (x int)",
    "PREPARE q AS SELECT 1",
    "SET ROLE postgres",
    "RESET ROLE",
    "SET SESSION AUTHORIZATION postgres",
    "DISCARD ALL",
])
def test_the_scan_finds_each_kind_of_session_state(sql: str) -> None:
    assert session_state_in(sql)


@pytest.mark.parametrize("sql", [
    "SELECT pg_advisory_xact_lock(7305162)",
    "SET LOCAL work_mem = '64MB'",
    "UPDATE cases SET state = $1 WHERE case_id = $2",
    "UPDATE t\nSET n = 1",
    "SET ROLE linkage_hub",
    "SET ROLE {HUB_ROLE}",
    "SELECT set_config('work_mem', '64MB', true)",
])
def test_the_scan_accepts_transaction_scoped_state(sql: str) -> None:
    assert session_state_in(sql) == []
