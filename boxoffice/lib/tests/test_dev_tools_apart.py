"""The product never imports the development tools (boxoffice_dev, beside it): a production
install may lack them, and settings name them only as a string."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]


def _imported_modules(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_it_never_imports_the_development_tools():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in _imported_modules(path.read_text())
        if name == "boxoffice_dev" or name.startswith("boxoffice_dev.")
    ]

    assert offenders == []


def test_it_finds_an_import_of_them_where_there_is_one():
    assert _imported_modules("from boxoffice_dev.xui_one import XuiOneEmulator") == [
        "boxoffice_dev.xui_one"
    ]
    assert _imported_modules("import boxoffice_dev.smtp_inbox as inbox") == [
        "boxoffice_dev.smtp_inbox"
    ]
