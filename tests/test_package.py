"""The package's shape: every module says its one job in its docstring's first line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "auditor"
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_opens_with_a_one_line_statement_of_its_job(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path} has no module docstring"
    first = docstring.splitlines()[0]
    assert first.strip() and len(first) <= 100, f"{path}: {first!r}"


def test_the_check_sees_the_whole_package() -> None:
    assert len(MODULES) > 30 and PACKAGE / "paths.py" in MODULES
