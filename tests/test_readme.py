"""The README's promises are backed: every test its bad-input table names exists, and every link
between it and the benchmark notes lands on a file and heading that exist."""
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


def _anchors(path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)  # a shell comment in a code block is no heading
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_links_between_the_readme_and_the_benchmark_notes_land_on_what_exists():
    docs = [ROOT / "README.md", ROOT / "benchmarks" / "FINDINGS.md", ROOT / "benchmarks" / "RUNS.md"]
    checked = 0
    for doc in docs:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):  # a web address: not ours to check offline
                continue
            file, _, anchor = target.partition("#")
            dest = (doc.parent / file).resolve() if file else doc
            assert dest.exists(), f"{doc.name} links to {target}, which does not exist"
            if anchor:
                assert anchor in _anchors(dest), f"{doc.name} links to {target}: no such heading in {dest.name}"
            checked += 1
    assert checked >= 10
