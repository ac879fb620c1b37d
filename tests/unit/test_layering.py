"""The layering the architecture promises: pure layers import no driver."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = {"asyncpg", "aiokafka", "faust", "mode"}
PURE_AUDIT = ["merkle", "note", "checkpoint", "proofs", "witness", "offline_verify", "errors",
              "ledger"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["schemas", "streams"])
def test_pure_packages_import_no_driver(package: str) -> None:
    for path in files(package):
        leaked = imported_modules(path) & DRIVERS
        assert not leaked, f"{path.relative_to(ROOT)} imports {leaked}"


def test_schemas_import_nothing_above_them() -> None:
    for path in files("schemas"):
        above = imported_modules(path) & {"hub", "audit", "streams", "connectors"}
        assert not above, f"{path.relative_to(ROOT)} imports {above}"


@pytest.mark.parametrize("module", PURE_AUDIT)
def test_audit_proof_code_has_no_io(module: str) -> None:
    path = ROOT / "audit" / f"{module}.py"
    leaked = imported_modules(path) & (DRIVERS | {"hub", "connectors"})
    assert not leaked, f"audit/{module}.py imports {leaked}"


def test_detecting_an_import_works() -> None:
    assert "asyncpg" in imported_modules(ROOT / "audit" / "postgres.py")
