"""The README and docs a newcomer reads: tested code, links that stay in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/publish_case.py"
MARKER = f"<!-- verbatim copy of {EXAMPLE}"


def test_readme_sdk_snippet_is_the_tested_example_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(MARKER) == 1
    after = readme[readme.index(MARKER):]
    block = re.search(r"\n( *)```python\n(.*?)\n\1```\n", after, re.S)
    assert block is not None
    indent = block.group(1)
    code = "".join(line.removeprefix(indent) + "\n" for line in block.group(2).split("\n"))
    assert code == (ROOT / EXAMPLE).read_text(encoding="utf-8")
    assert "from hub" not in code and "import hub" not in code  # agencies use the SDK only


def _markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", _markdown_pages(), ids=lambda p: p.name)
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links a missing file: {target}"
    assert "../shared" not in text


def test_the_shipped_contract_names_its_version() -> None:
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    header = re.match(r"> \*\*Contract version (\d+\.\d+) \((\d{4}-\d\d-\d\d)\)\*\*", text)
    assert header is not None
    versions = re.findall(r"\*\*(\d+\.\d+)\*\* \((\d{4}-\d\d-\d\d)\)", text)
    assert versions and versions[-1] == header.groups()  # the newest version the copy lists
    assert "# The hub's external contract" in text
    assert "(docs/contract.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
