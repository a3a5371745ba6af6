"""The README's promises are backed: every test its bad-input table names exists."""
import ast
import re

from tests.conftest import ROOT


def _test_names() -> set[str]:
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_every_test_the_bad_input_table_names_exists():
    text = (ROOT / "README.md").read_text()
    table = text.split("## Bad input and faults", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| input") and "---" not in line]
    assert len(rows) >= 25
    named = set()
    for row in rows:
        cited = re.findall(r"`(test_\w+)`", row.rsplit("|", 2)[1])
        assert cited, f"a row without a test: {row}"
        named |= set(cited)
    missing = named - _test_names()
    assert not missing, f"the README names tests that do not exist: {sorted(missing)}"
