"""The project's layout as the README draws it: pages/ holds only the pages the app registers, the modules import one
way with no circle, and every function reads in one screen (or says why not)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("nin_core", "ui")
MAX_LINES = 40
LONG_REASON = re.compile(r"#\s*longer than 40 lines", re.IGNORECASE)


def python_files() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    for package in PROJECT:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_pages_holds_only_the_pages_the_app_registers():
    registered = set(re.findall(r'st\.Page\("(pages/\w+\.py)"', (ROOT / "ui" / "state.py").read_text()))
    present = {f"pages/{p.name}" for p in (ROOT / "pages").iterdir() if p.name != "__pycache__"}
    assert registered and present == registered


def test_no_module_imports_itself_back_through_others():
    graph = grimp.build_graph(*PROJECT)
    modules = {m for m in graph.modules if m.startswith(PROJECT)}
    circles = [(a, b) for a in modules for b in graph.find_modules_directly_imported_by(a)
               if b in modules and b != a and not b.startswith(a + ".")
               and graph.chain_exists(importer=b, imported=a)]
    assert not circles, f"import circles through: {sorted(circles)[:5]}"


def test_every_function_fits_one_screen_or_says_why():
    long = []
    for path in python_files():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = lines[node.lineno - 1:node.end_lineno]
                if len(body) > MAX_LINES and not any(LONG_REASON.search(line) for line in body):
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({len(body)} lines)")
    assert not long, "functions over 40 lines without a '# longer than 40 lines: why' comment:\n" + "\n".join(long)
