"""Rewrite the README's generated sections from benchmarks/results/*.json.

    .venv/bin/python -m benchmarks.readme
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.common import RESULTS
from benchmarks.speed import table as speed_table

README = RESULTS.parents[1] / "README.md"


def speed_section() -> str:
    parts = []
    for path in sorted(RESULTS.glob("speed-*.json")):
        r = json.loads(path.read_text())
        parts.append(
            f"{r['size']} px, {r['channels']} channel(s), paper widths at batch {r['batch']}, quick preset at its own batch; "
            f"{r['n']} images; device `{r['device']}` — {r['machine']}, torch {r['torch']} ({r['threads']} threads), "
            f"{r['date']}, commit {r['commit']}.\n\n"
            f"Command: `.venv/bin/python -m benchmarks.speed --size {r['size']} --channels {r['channels']} --batch {r['batch']} --n {r['n']} --device {r['device']}`\n\n"
            + speed_table(r)
        )
    return "\n\n".join(parts)


SECTIONS = {"speed": speed_section}


def render(text: str) -> str:
    """`text` with every <!-- NAME:start --> … <!-- NAME:end --> block regenerated."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README has no {name} markers")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
