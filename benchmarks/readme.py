"""Rewrite the generated sections of the README and benchmarks/RUNS.md from benchmarks/results/*.json.

    .venv/bin/python -m benchmarks.readme
"""
from __future__ import annotations

import json
import re

from benchmarks.common import RESULTS, length, plural, resolve, saved
from benchmarks.itsr_trace import PLOT_NAME as TRACE_PLOT
from benchmarks.itsr_trace import plot as trace_plot
from benchmarks.itsr_trace import table as trace_table
from benchmarks.one_class import LOO_PLOT_NAME
from benchmarks.one_class import PLOT_NAME as ONE_CLASS_PLOT
from benchmarks.one_class import bar_lines as one_class_bars
from benchmarks.one_class import heatmap as one_class_heatmap
from benchmarks.one_class import length_lines as one_class_lengths
from benchmarks.one_class import per_class as one_class_per_class
from benchmarks.one_class import plot as one_class_plot
from benchmarks.one_class import summary as one_class_summary
from benchmarks.one_class import table as one_class_table
from benchmarks.one_class import verdicts as one_class_verdicts
from benchmarks.page_speed import table as page_speed_table
from benchmarks.queue_overhead import table as queue_overhead_table
from benchmarks.review_rounds import normalise as rounds_normalise
from benchmarks.review_rounds import table as rounds_table
from benchmarks.review_rounds import verdicts as rounds_verdicts
from benchmarks.speed import table as speed_table
from benchmarks.table1 import bars as table1_bars
from benchmarks.table1 import is_deep as table1_is_deep
from benchmarks.table1 import merged as table1_merged
from benchmarks.table1 import paper_column as table1_paper_column
from benchmarks.table1 import schedule_note as table1_schedule_note
from benchmarks.table1 import TITLES
from benchmarks.table1 import table as table1_table
from benchmarks.table1 import verdicts as table1_verdicts
from core.models.registry import NAMES

README = RESULTS.parents[1] / "README.md"
RUNS = RESULTS.parent / "RUNS.md"  # every run's command and per-class tables, linked from the README


def _command(module: str, r: dict, options: list[str]) -> str:
    """The command line that wrote record `r`: OMP_NUM_THREADS=1 where it ran on one thread, --jobs where it fitted several at once."""
    threads = "OMP_NUM_THREADS=1 " if r["threads"] == 1 else ""
    jobs = [f"--jobs {r['jobs']}"] if r.get("jobs", 1) > 1 else []
    return f"{threads}.venv/bin/python -m benchmarks.{module} {' '.join([*options, *jobs])}".rstrip()


def speed_section() -> str:
    parts = []
    for path in sorted(RESULTS.glob("speed-*.json")):
        r = json.loads(path.read_text())
        parts.append(
            f"{r['size']} px, {r['channels']} channel(s), paper widths at batch {r['batch']}, quick preset at its own batch; "
            f"{r['n']} images; device `{r['device']}` — {r['machine']}{_probe(r)}, torch {r['torch']} ({plural(r['threads'], 'thread')}), "
            f"{r['date']}, commit {r['commit']}.\n\n"
            f"Command: `.venv/bin/python -m benchmarks.speed --size {r['size']} --channels {r['channels']} --batch {r['batch']} --n {r['n']} --device {r['device']}`\n\n"
            + speed_table(r)
        )
    return "\n\n".join(parts)


def review_rounds_section() -> str:
    """Every full (non-quick) review_rounds result, newest first, or a note that there is none yet."""
    records = [rounds_normalise(json.loads(p.read_text())) for p in sorted(RESULTS.glob("review_rounds-*.json"))]
    records = sorted((r for r in records if not r.get("quick")), key=lambda r: r["date"], reverse=True)  # stable within a date
    if not records:
        return "Not measured yet: run `.venv/bin/python -m benchmarks.review_rounds`."
    parts = []
    for r in records:
        budget = f"{100 * r['budget']:.0f} %" if isinstance(r["budget"], float) else f"{r['budget']} samples"
        epochs = f", {plural(r['epochs'], 'epoch')}" if r.get("epochs") else ""
        dets, by = ",".join(r["detectors"]), ",".join(r["rank_by"])
        options = ["--dataset both", f"--detector {dets}", f"--rank-by {by}", *(["--negatives"] if r.get("negatives") else []), f"--preset {r['preset']}"]
        command = _command("review_rounds", r, options + ([f"--epochs {r['epochs']}"] if r.get("epochs") else []))
        parts.append(
            f"**Reviewer ranking by {' + '.join(f'`{d}`' for d in r['rank_by'])}"
            f"{', confirmed anomalies as negatives' if r.get('negatives') else ', no negatives'}.** "
            f"Detectors {', '.join(f'`{d}`' for d in r['detectors'])}, {r['preset']} preset{epochs}; p = {100 * r['contamination']:.0f} %, "
            f"test share {r['test_share']}, seed {r['seed']}; at most {r['max_rounds']} rounds inspecting {budget} of the training set each; "
            f"device `{r['device']}` — {r['machine']}{_probe(r)}, torch {r['torch']} ({plural(r['threads'], 'thread')}), {r['date']}, commit {r['commit']}.\n\n"
            f"Command: `{command}`\n\n"
            + rounds_table(r)
            + "\n\n"
            + "\n".join(f"- {v}" for v in rounds_verdicts(r))
        )
    return "\n\n".join(parts)


def page_speed_section() -> str:
    """The page_speed result, or a note that there is none yet."""
    path = RESULTS / "page_speed-cpu.json"
    if not path.exists():
        return "Not measured yet: run `.venv/bin/python -m benchmarks.page_speed`."
    r = json.loads(path.read_text())
    return (
        f"Fashion-MNIST, all {r['points']} images scored by `iforest` (fitted, scored and mapped with UMAP in "
        f"{r['iforest_fit_score_umap_s']} s, numba's first compile included); median of {r['repeat']} redraws; "
        f"{r['machine']}{_probe(r)}, torch {r['torch']} ({plural(r['threads'], 'thread')}), {r['date']}, commit {r['commit']}.\n\n"
        f"Command: `{_command('page_speed', r, [])}`\n\n" + page_speed_table(r)
    )


def queue_overhead_section() -> str:
    """The queue_overhead result, or a note that there is none yet."""
    path = RESULTS / "queue_overhead-cpu.json"
    if not path.exists():
        return "Not measured yet: run `.venv/bin/python -m benchmarks.queue_overhead`."
    r = json.loads(path.read_text())
    return (
        f"{r['machine']}{_probe(r)}, one worker process, {r['date']}, commit {r['commit']}.\n\n"
        f"Command: `.venv/bin/python -m benchmarks.queue_overhead`\n\n" + queue_overhead_table(r)
    )


def _stamp(r: dict) -> str:
    epochs = f", {plural(r['epochs'], 'epoch')}" if r.get("epochs") else ""
    threads = plural(r["threads"], "thread") if r.get("jobs", 1) == 1 else f"{r['jobs']} processes of {plural(r['threads'], 'thread')}"
    return f"{r['preset']} preset{epochs}; {r['machine']}{_probe(r)}, torch {r['torch']} ({threads}), {r['date']}, commit {r['commit']}"


def _probe(r: dict) -> str:
    """The record's CPU probe, at the start and, where the run finished, the end ("" for records from before the probe)."""
    if "cpu_probe_ms" not in r:
        return ""
    end = f", {r['cpu_probe_end_ms']:g} at the end" if "cpu_probe_end_ms" in r else ""
    return f" (CPU probe {r['cpu_probe_ms']:g} ms{end})"


def table1_section() -> str:
    """Beggel et al.'s Table 1 protocol, ours beside the paper's: one table per preset and epochs (a
    paper-preset run is never averaged with quick ones), every run of it merged (newest cell wins)."""
    records = saved("table1-*.json")
    if not records:
        return "Not measured yet: run `.venv/bin/python -m benchmarks.table1`."
    lengths: dict[tuple, list[dict]] = {}
    for rec in records:
        lengths.setdefault(length(rec), []).append(rec)
    # the paper's settings first: they are what the paper's numbers are compared with
    order = sorted(lengths, key=lambda k: (k[0] != "paper", k[0], k[1] or 0))
    parts = [_table1_block(lengths[k]) for k in order]
    if len(parts) > 1:
        parts = [f"**{k[0].capitalize()} preset{', ' + plural(k[1], 'epoch') if k[1] else ''}.** " + part for k, part in zip(order, parts)]
    return "\n\n".join(parts)


def _table1_block(records: list[dict]) -> str:
    """The tables, verdicts and bars of Table 1 runs that share one preset and epochs."""
    r, used = table1_merged(records)
    runs = []
    for u in used:
        partial = "" if u.get("complete", True) else " **Partial: stopped before every cell was measured.**"
        options = [f"--pairs {u['pairs']}", f"--alphas {u['alphas']}", f"--detectors {u['detectors']}", f"--preset {u['preset']}"]
        options += ([f"--epochs {u['epochs']}"] if u.get("epochs") else []) + ([f"--seed {u['seed']}"] if u.get("seed") else [])
        runs.append(f"- `{_command('table1', u, options)}`: {_stamp(u)}.{partial}")
    head = "the run below" if len(used) == 1 else "the runs below; where two runs measured a cell with the same seed, the newer one's is shown, and where several seeds ran, their mean ± std"
    dets = list(dict.fromkeys(row["detector"] for row in r["rows"]))
    pixels = [d for d in dets if not table1_is_deep(d)]
    others = sorted((d for d in dets if table1_is_deep(d) and table1_paper_column(d) is None), key=lambda d: (NAMES.index(resolve(d)[0]), d))  # registry order
    schedule = table1_schedule_note(r["rows"]) if used[0].get("preset") == "paper" else ""
    text = (
        f"Balanced accuracy, ours / the paper's where it reports the cell (it has no α = 5 % column), from {head}:\n\n"
        + "\n".join(runs)
        + (f"\n\n{schedule}" if schedule else "")
        + "\n\n"
        + table1_table(r, [d for d in dets if d not in others])
        + "\n\n"
        + "\n".join(f"- {v}" for v in table1_verdicts(r))
    )
    if others:
        text += (
            "\n\nThe other detectors at the same thresholds (a score above the 90th percentile of the training scores; the paper has no"
            " column for them), the pixel bars repeated beside them:\n\n"
            + table1_table(r, others + pixels)
        )
    bars = table1_bars(r)
    if bars:
        text += "\n\nMean balanced accuracy of each deep detector against the pixel bars over the cells both ran (issue #6's bar):\n\n" + "\n".join(f"- {v}" for v in bars)
    return text


def itsr_trace_section() -> str:
    """Every full itsr_trace run: its command, a table at the phase ends, and one plot of them all."""
    records = saved("itsr-trace-*.json")
    if not records:
        return "Not measured yet: run `.venv/bin/python -m benchmarks.itsr_trace`."
    parts = []
    for r in records:
        options = [f"--pair {r['pair']}", f"--alpha {r['alpha']:g}", f"--detectors {r['detectors']}", f"--preset {r['preset']}", f"--every {r['every']}"]
        options += [f"--seed {r['seed']}"] if r["seed"] else []
        command = f"`{_command('itsr_trace', r, options)}`"
        parts.append(
            f"{TITLES[r['pair']]}, α {100 * r['alpha']:g} % ({r['contaminants']} planted in {r['train']}), seed {r['seed']}; {_stamp(r)}.\n\n"
            f"Command: {command}\n\n" + trace_table(r)
        )
    plot = f"![The planted contaminants' prior rank and the prior criterion's catch over the fit](benchmarks/results/{TRACE_PLOT})"
    return "\n\n".join([*parts, plot])


def _protocol_runs(protocol: str) -> str:
    """Every full result of a one_class protocol (one file per detector set): command, stamp and per-class table."""
    records = saved(f"{protocol}-*.json")
    if not records:
        return f"Not measured yet: run `.venv/bin/python -m benchmarks.one_class --protocol {protocol}`."
    parts = []
    for r in records:
        partial = "" if r.get("complete", True) else " **Partial: the run was stopped before every class and contamination level was measured.**"
        options = [f"--{k} {r[k]}" for k in ("datasets", "classes", "detectors", "seeds")]
        options += [f"--contamination {r['contamination']}"] if protocol == "one-class" else []
        options += [f"--preset {r['preset']}"] + ([f"--epochs {r['epochs']}"] if r.get("epochs") else [])
        parts.append(
            f"Test AUROC; {_stamp(r)}.{partial}\n\n"
            f"Command: `{_command('one_class', r, [f'--protocol {protocol}', *options])}`\n\n"
            + one_class_table(r)
        )
    return "\n\n".join(parts)


# the per-run tables run to over a thousand lines: the README links to them in RUNS.md by these headings' anchors
RUNS_ANCHORS = {"one-class": "one-class-normal-the-rest-as-contamination", "leave-one-out": "leave-one-class-out-ganomalys-protocol"}


def _protocol_section(protocol: str) -> str:
    """A one_class protocol's results pooled over every full run, its verdicts and plot, and a link to the runs."""
    records = saved(f"{protocol}-*.json")
    if not records:
        return f"Not measured yet: run `.venv/bin/python -m benchmarks.one_class --protocol {protocol}`."
    runs = (
        f"The {plural(len(records), 'run')} behind it, each with its command, machine, date, commit and per-class table:"
        f" [benchmarks/RUNS.md](benchmarks/RUNS.md#{RUNS_ANCHORS[protocol]})."
    )
    if protocol == "one-class":
        pooled = (
            "Every run pooled: mean test AUROC over the classes (and seeds), in bold the best of each column among the rows"
            " run on every class and on as many seeds as any (a mean over fewer seeds or classes may read higher);"
            " deep detectors trained for fewer epochs than their preset, with another preset or with other settings say so.\n\n" + one_class_summary(records)
        )
        verdicts = "\n".join(f"- {v}" for v in one_class_verdicts(records))
        lengths = one_class_lengths(records)
        if lengths:
            verdicts += (
                "\n\nEach deep detector at its preset's own length against its shorter fit, on the classes, p and seeds both ran"
                " (mean test AUROC, then the longer fit's gain in points):\n\n" + "\n".join(f"- {v}" for v in lengths)
            )
        plot = f"![Test AUROC against contamination](benchmarks/results/{ONE_CLASS_PLOT})"
        return "\n\n".join([pooled, verdicts, plot, runs])
    pooled = (
        "Every run pooled: test AUROC with the column's class as the anomaly (mean over seeds), the best of each column in bold;"
        " deep detectors trained for fewer epochs than their preset, or with other settings, say so.\n\n" + one_class_per_class(records)
    )
    bars = "Each deep detector against the pixel bars (points of mean AUROC):\n\n" + "\n".join(f"- {v}" for v in one_class_bars(records))
    plot = f"![Test AUROC per anomaly class and detector](benchmarks/results/{LOO_PLOT_NAME})"
    return "\n\n".join([pooled, bars, plot, runs])


SECTIONS = {
    "speed": speed_section,
    "review_rounds": review_rounds_section,
    "page_speed": page_speed_section,
    "queue_overhead": queue_overhead_section,
    "table1": table1_section,
    "itsr_trace": itsr_trace_section,
    "one_class": lambda: _protocol_section("one-class"),
    "leave_one_out": lambda: _protocol_section("leave-one-out"),
}
RUNS_SECTIONS = {
    "one_class_runs": lambda: _protocol_runs("one-class"),
    "leave_one_out_runs": lambda: _protocol_runs("leave-one-out"),
}


def render(text: str, sections: dict = SECTIONS, document: str = "README") -> str:
    """`text` with every <!-- NAME:start --> … <!-- NAME:end --> block of `sections` regenerated."""
    for name, make in sections.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{document} has no {name} markers")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    if saved("one-class-*.json"):
        print(f"plotted {one_class_plot(saved('one-class-*.json'), RESULTS / ONE_CLASS_PLOT)}")
    if saved("itsr-trace-*.json"):
        print(f"plotted {trace_plot(saved('itsr-trace-*.json'), RESULTS / TRACE_PLOT)}")
    if saved("leave-one-out-*.json"):
        print(f"plotted {one_class_heatmap(saved('leave-one-out-*.json'), RESULTS / LOO_PLOT_NAME)}")
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
    RUNS.write_text(render(RUNS.read_text(), RUNS_SECTIONS, "benchmarks/RUNS.md"))
    print(f"updated {RUNS}")
