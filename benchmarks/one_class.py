"""One-class AUROC under contamination, and GANomaly's leave-one-class-out protocol.

    .venv/bin/python -m benchmarks.one_class [--protocol one-class|leave-one-out]
        [--datasets mnist,fashion] [--classes all] [--contamination 0,0.05,0.1,0.2]
        [--detectors iforest,knn,autoencoder] [--seeds 0,1,2] [--preset quick] [--epochs K]
        [--jobs N] [--quick]

one-class (issue #6, 2): each class in turn normal, the other nine the anomalies; the training
set is contaminated to p with them (the app's own split: 30 % of every class held out for the
test set, then p·N/(1−p) anomalies drawn into training); test AUROC per detector, class, p and
seed. leave-one-out (methods.md §1, GANomaly): each class in turn the anomaly, the other nine
normal, p = 0. Detectors are fitted straight from the registry (no queue, no latent map), in
this process or, with `--jobs N`, N cells at once, each in its own process on one thread.
The README gets mean ± std over classes and seeds per detector and p, the change from p = 0 to
10 %, and per-class tables. `--quick` (CI): the built-in digits, classes 0 and 1, p 0 and 10 %,
iforest and knn and a 2-epoch autoencoder, one seed; nothing saved.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import cell_map, check_specs, dataset, file_safe, fit_parser, fractions, length, mean_std, names_in, plural, pyplot, resolve, run_cli, save_figure

DEFAULT_P = "0,0.05,0.1,0.2"
SOURCES = {"mnist": ("torchvision:MNIST", "MNIST"), "fashion": ("torchvision:FashionMNIST", "Fashion-MNIST"), "digits": ("builtin:digits", "digits")}


def fit_and_score(name: str, images: np.ndarray, train: np.ndarray, test: np.ndarray, preset: str, epochs: int | None, seed: int) -> tuple[dict[str, np.ndarray], float]:
    """Fit detector `name` on `train` images; its scores on `test` ("score" and every component) and the seconds fitting and scoring took."""
    from benchmarks.common import fit_detector

    model, fit_s = fit_detector(name, images, train, preset, epochs, seed)
    t = time.perf_counter()
    scores = model.infer(images[test]).scores
    return scores, fit_s + time.perf_counter() - t


def terms_apart(truth: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, float]:
    """Test AUROC of each score component on its own, where it differs from the score: which term carries the ranking."""
    from sklearn.metrics import roc_auc_score

    # a term that is not finite everywhere is left out: a diagnostic must not end an hours-long run
    return {k: float(roc_auc_score(truth, v)) for k, v in scores.items() if k != "score" and np.isfinite(v).all() and not np.array_equal(v, scores["score"])}


def _fit_cell(cell: tuple) -> tuple[dict[str, np.ndarray], float]:
    """`fit_and_score` for one (dataset, root, detector, train, test, preset, epochs, seed) cell."""
    source, root, *rest = cell
    return fit_and_score(rest[0], dataset(source, root).images, *rest[1:])


def main(argv: list[str] | None = None) -> dict:
    ap = fit_parser(__doc__, jobs="cells")
    ap.add_argument("--protocol", default="one-class", choices=["one-class", "leave-one-out"])
    ap.add_argument("--datasets", default="mnist,fashion", type=names_in(SOURCES))
    ap.add_argument("--classes", default="all", help="class indices, comma-separated, or all")
    ap.add_argument("--contamination", default=DEFAULT_P, type=fractions)
    ap.add_argument("--detectors", default="iforest,knn,autoencoder")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--test-share", type=float, default=0.3)
    ap.add_argument("--quick", action="store_true", help="CI: digits, classes 0 and 1, p 0 and 10 %%, one seed; nothing saved")
    a = ap.parse_args(argv)
    if a.quick:
        a.datasets, a.classes, a.contamination, a.seeds, a.epochs = "digits", "0,1", "0,0.1", "0", a.epochs or 2
    if a.protocol == "leave-one-out":
        a.contamination = "0"
    from sklearn.metrics import roc_auc_score

    from benchmarks.common import environment, finish, keep
    from core.data.split import make_split

    check_specs(ap, a.detectors, a.preset, a.epochs)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    settings = {k: getattr(a, k) for k in ("datasets", "classes", "contamination", "detectors", "seeds", "preset", "epochs", "test_share", "jobs")}
    record = {"benchmark": a.protocol, "quick": a.quick, "complete": False, **settings, **environment(), "rows": rows}
    if a.jobs > 1:
        record["threads"] = 1
    name = file_name(record)
    cells, meta = [], []
    for key in a.datasets.split(","):
        source, title = SOURCES[key]
        root = a.root if source.startswith("torchvision:") else None
        data = dataset(source, root)
        labels, k = np.asarray(data.labels), len(data.classes)
        chosen = range(k) if a.classes == "all" else [int(c) for c in a.classes.split(",")]
        for c in chosen:
            others = [o for o in range(k) if o != c]
            normal, anomaly = ([c], others) if a.protocol == "one-class" else (others, [c])
            for p in map(float, a.contamination.split(",")):
                for seed in map(int, a.seeds.split(",")):
                    split = make_split(labels, normal, anomaly, p, a.test_share, seed)
                    truth = np.isin(labels[split.test], anomaly).astype(int)
                    for det in a.detectors.split(","):
                        cells.append((source, root, det, split.train, split.test, a.preset, a.epochs, seed))
                        meta.append((title, data.classes[c], p, seed, det, truth, len(split.train)))
    with cell_map(a.jobs) as run:
        for (title, cls, p, seed, det, truth, n), (scores, secs) in zip(meta, run(_fit_cell, cells)):
            auroc = float(roc_auc_score(truth, scores["score"]))
            rows.append({"dataset": title, "class": cls, "p": p, "seed": seed, "detector": det, "auroc": auroc, "terms": terms_apart(truth, scores), "train": int(n), "seconds": round(secs, 1)})
            say(f"{title} {cls} p={p} seed={seed} {det}: AUROC {auroc:.3f} ({secs:.0f} s)")
            keep(record, name)  # hours of CPU: what has run is kept if the rest is cut off
    record["complete"] = True
    return finish(record, name, table(record))


def file_name(settings: dict) -> str:
    """The results file of a run: one per protocol, detector set, preset, dataset set, class set,
    contamination list, seed list and epochs, so that a run complementing another (other p, the
    classes a cut-off run missed, more seeds) never overwrites it. Seed 0 alone, every class and
    both datasets are the plain name."""
    plus = lambda v: str(v).replace(",", "+")  # noqa: E731
    s = settings
    name = f"{s['benchmark']}-{file_safe(plus(s['detectors']))}-{s['preset']}"
    name += f"-{plus(s['datasets'])}" if s["datasets"] != "mnist,fashion" else ""
    name += f"-c{plus(s['classes'])}" if s["classes"] != "all" else ""
    name += f"-p{plus(s['contamination'])}" if s["contamination"] != DEFAULT_P and s["benchmark"] == "one-class" else ""
    name += f"-s{plus(s['seeds'])}" if s["seeds"] != "0" else ""
    return name + (f"-e{s['epochs']}" if s.get("epochs") else "") + "-cpu"


PLOT_NAME = "one-class-auroc-vs-p.png"  # drawn by `python -m benchmarks.readme` from every saved record
LOO_PLOT_NAME = "leave-one-out-auroc.png"  # likewise, from every leave-one-out record


def labelled(records: list[dict]) -> list[dict]:
    """Every row of `records`, its "label" the detector spec (overrides included) plus a preset
    whose settings differ from quick's and, for a deep detector, an epochs override: runs of one
    detector at different lengths or settings are never pooled."""
    from core.models import registry

    out = []
    for rec in records:
        preset, epochs = length(rec)
        for r in rec["rows"]:
            cls = registry.get(resolve(r["detector"])[0])
            notes = [f"{preset} preset"] if cls.resolve_params({}, preset) != cls.resolve_params({}, "quick") else []
            base = r["detector"] + (f" ({', '.join(notes)})" if notes else "")
            fit_epochs = epochs if epochs and cls.deep else None
            notes += [plural(fit_epochs, "epoch")] if fit_epochs else []
            # "base": the label less its epochs override, so a fit can be matched with its own shorter ones
            out.append(r | {"label": r["detector"] + (f" ({', '.join(notes)})" if notes else ""), "base": base, "epochs": fit_epochs})
    return out


def pooled(records: list[dict]) -> dict[tuple, tuple[float, str]]:
    """Every run's AUROC keyed by (dataset, label, class, p, seed), with its registry detector; where
    two runs measured the same cell, the newer run's counts."""
    cells = {}
    for rec in sorted(records, key=lambda r: r.get("time") or r.get("date", "")):
        for r in labelled([rec]):
            cells[(r["dataset"], r["label"], r["class"], r["p"], r["seed"])] = (r["auroc"], resolve(r["detector"])[0])
    return cells


def by_setting(cells: dict[tuple, tuple[float, str]]) -> dict[tuple, list[tuple]]:
    """The keys of `pooled` cells grouped by (dataset, label, p): the classes and seeds behind each mean."""
    out: dict[tuple, list[tuple]] = {}
    for k in cells:
        out.setdefault((k[0], k[1], k[3]), []).append(k)
    return out


def whole_seeds(keys: list[tuple]) -> tuple[list, list]:
    """The seeds among `pooled` keys that ran every class of the seed that ran most (the lowest
    such seed where two tie), and the others: a cut-off seed's mean is over other classes, so it
    would pass class difficulty off as seed spread."""
    ran: dict = {}
    for k in keys:
        ran.setdefault(k[4], set()).add(k[2])
    most = max(sorted(ran), key=lambda s: len(ran[s]))
    whole = sorted(s for s, c in ran.items() if c == ran[most])
    return whole, sorted(set(ran) - set(whole))


def detector_of(cells: dict[tuple, tuple[float, str]]) -> dict[str, str]:
    """Each label in `pooled` cells with the registry detector it names."""
    return {k[1]: v[1] for k, v in cells.items()}


def ordered_labels(cells: dict[tuple, tuple[float, str]]) -> list[str]:
    """The labels in `pooled` cells: the pixel bars first, then the registry's order."""
    from core.models import registry

    order = {d: (registry.get(det).deep, registry.NAMES.index(det), d) for d, det in detector_of(cells).items()}
    return sorted(order, key=order.get)


def curves(cells: dict[tuple, tuple[float, str]]) -> dict[tuple[str, str], tuple[list[float], list[float], list[int]]]:
    """Per (dataset, label): its p values, mean AUROC at each, and the seeds behind them — only
    the seeds run at every one of its p, each on all its classes (`whole_seeds`), so a seed run at
    one p alone, or cut off, cannot bend the line."""
    groups = by_setting(cells)
    ps_of: dict[tuple[str, str], list[float]] = {}
    for ds, label, p in sorted(groups):
        ps_of.setdefault((ds, label), []).append(p)
    out = {}
    for (ds, label), ps in ps_of.items():
        seeds = sorted(set.intersection(*(set(whole_seeds(groups[ds, label, p])[0]) for p in ps)))
        if seeds:
            means = [statistics.mean(cells[k][0] for k in groups[ds, label, p] if k[4] in seeds) for p in ps]
            out[ds, label] = (ps, means, seeds)
    return out


def line_styles(labels: list[str], detector: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Each label's (colour index, line style): a colour per detector in the labels' order, so that
    its runs at other lengths share it; the pixel bars dashed, a deep detector's further labels
    dotted, then dash-dotted."""
    from core.models import registry

    colour: dict[str, int] = {}
    seen: dict[str, int] = {}
    out = {}
    for label in labels:
        det = detector[label]
        colour.setdefault(det, len(colour))
        nth = seen[det] = seen.get(det, -1) + 1
        out[label] = (colour[det], "--" if not registry.get(det).deep else ("-", ":", "-.")[nth % 3])
    return out


def plot(records: list[dict], path: Path) -> Path:
    """Mean test AUROC against contamination p, one line per detector, one panel per dataset (PNG)."""
    plt = pyplot()
    cells = pooled(records)
    labels = ordered_labels(cells)
    lines = curves(cells)
    # over both panels, in the table's order: adding a run of another length does not recolour the lines
    styles = line_styles(labels, detector_of(cells))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sets = list(dict.fromkeys(k[0] for k in cells))
    # one panel per dataset, stacked, each with its own legend: their seed counts differ
    fig, axes = plt.subplots(len(sets), 1, figsize=(8.4, 3.4 * len(sets)), squeeze=False, sharex=True)
    for ax, ds in zip(axes[:, 0], sets):
        for d in labels:
            if (ds, d) not in lines:
                continue
            ps, means, seeds = lines[ds, d]
            colour, style = styles[d]
            name = f"{d}, {plural(len(seeds), 'seed')}"
            ax.plot([100 * p for p in ps], means, marker="o", label=name, color=colours[colour % len(colours)], linestyle=style)
        ax.set_title(ds)
        ax.set_ylabel("test AUROC")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")  # beside the panel: inside, it hid lines
    axes[-1][0].set_xlabel("contamination p (%); mean over classes and over the seeds run at every p")
    return save_figure(fig, path)


def summary(records: list[dict]) -> str:
    """Every run pooled: mean test AUROC per dataset, detector and p over classes and seeds, in bold
    the best of each column among the rows run on every class and on its most seeds; ± is the
    spread of the per-seed means where several seeds ran. A seed cut off before the classes the
    others ran is named and left out (`whole_seeds`)."""
    cells = pooled(records)
    groups = by_setting(cells)
    ps = sorted({k[3] for k in cells})
    lines = ["| dataset | detector | " + " | ".join(f"p = {100 * p:g} %" for p in ps) + " |", "|---|---|" + "---|" * len(ps)]
    for ds in dict.fromkeys(k[0] for k in cells):
        mine = {k: v for k, v in cells.items() if k[0] == ds}
        n_classes = len({k[2] for k in mine})
        labels = ordered_labels(mine)
        at, cut = {}, {}
        for d in labels:
            for p in ps:
                if ks := groups.get((ds, d, p)):
                    whole, cut[d, p] = whole_seeds(ks)
                    at[d, p] = [k for k in ks if k[4] in whole]
        mean = {dp: statistics.mean(mine[k][0] for k in ks) for dp, ks in at.items()}
        seeds_at = {dp: sorted({k[4] for k in ks}) for dp, ks in at.items()}
        n_ran = {dp: len({k[2] for k in ks}) for dp, ks in at.items()}
        # a mean over one lucky seed, or over the easy classes, must not outrank three seeds' mean over all
        most = {p: max((len(s) for (_, q), s in seeds_at.items() if q == p), default=0) for p in ps}
        rival = {dp for dp in mean if len(seeds_at[dp]) == most[dp[1]] and n_ran[dp] == n_classes}
        best = {p: max((mean[dp] for dp in rival if dp[1] == p), default=None) for p in ps}
        for d in labels:
            row = []
            for p in ps:
                if (d, p) not in mean:
                    row.append("–")
                    continue
                seeds = seeds_at[d, p]
                text = f"{mean[d, p]:.3f}"
                if len(seeds) > 1:
                    per_seed = [statistics.mean(mine[k][0] for k in at[d, p] if k[4] == s) for s in seeds]
                    text += f" ± {statistics.stdev(per_seed):.3f} ({len(seeds)} seeds)"
                text += f" ({n_ran[d, p]} of {n_classes} classes)" if n_ran[d, p] < n_classes else ""
                for s in cut[d, p]:
                    text += f" (seed {s} left out: {plural(len({k[2] for k in groups[ds, d, p] if k[4] == s}), 'class', 'classes')} run)"
                row.append(f"**{text}**" if (d, p) in rival and mean[d, p] == best[p] else text)
            lines.append(f"| {ds} | `{d}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def class_grid(records: list[dict], p: float = 0.0) -> dict[str, tuple[list[str], list[str], dict[tuple[str, str], float]]]:
    """Every run pooled at contamination `p`, per dataset: its labels (table order), its classes (in
    the dataset's order, as the run covering most of them lists them) and the mean AUROC over seeds
    of each (label, class) that ran."""
    cells = {k: v for k, v in pooled(records).items() if k[3] == p}
    out = {}
    for ds in dict.fromkeys(k[0] for k in cells):
        mine = {k: v for k, v in cells.items() if k[0] == ds}
        runs = sorted(({r["class"]: None for r in rec["rows"] if r["dataset"] == ds} for rec in records), key=len, reverse=True)
        classes = list(dict.fromkeys(c for run in runs for c in run if any(k[2] == c for k in mine)))
        seeds: dict[tuple[str, str], list[float]] = {}
        for k, v in mine.items():
            seeds.setdefault((k[1], k[2]), []).append(v[0])
        out[ds] = (ordered_labels(mine), classes, {dc: statistics.mean(v) for dc, v in seeds.items()})
    return out


def per_class(records: list[dict], p: float = 0.0) -> str:
    """Every run pooled at contamination `p`: per dataset, a detector per row and a class per column
    (mean test AUROC over seeds, the best of each column in bold), then the detector's mean over the
    classes it ran."""
    out = []
    for ds, (labels, classes, mean) in class_grid(records, p).items():
        shown = {dc: round(m, 2) for dc, m in mean.items()}  # bold what the reader sees as the best
        top = {c: max(m for (_, c2), m in shown.items() if c2 == c) for c in classes}
        lines = [f"| {ds} | " + " | ".join(classes) + " | mean |", "|---|" + "---|" * (len(classes) + 1)]
        for d in labels:
            row = ["–" if (d, c) not in shown else f"**{shown[d, c]:.2f}**" if shown[d, c] == top[c] else f"{shown[d, c]:.2f}" for c in classes]
            ran = [mean[d, c] for c in classes if (d, c) in mean]
            overall = f"{statistics.mean(ran):.3f}" + (f" ({len(ran)} of {len(classes)} classes)" if len(ran) < len(classes) else "")
            lines.append(f"| `{d}` | " + " | ".join(row) + f" | {overall} |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def bar_lines(records: list[dict], p: float = 0.0) -> list[str]:
    """Issue #6's bars at contamination `p`: per dataset, each deep detector's mean AUROC against
    IsolationForest's and against kNN's on raw pixels, each over the classes and seeds both ran."""
    from core.models import registry

    cells = {k: v for k, v in pooled(records).items() if k[3] == p}
    out = []
    for ds in dict.fromkeys(k[0] for k in cells):
        mine = {k: v for k, v in cells.items() if k[0] == ds}
        detector = detector_of(mine)
        score: dict[str, dict[tuple, float]] = {}  # label → {(class, seed): AUROC}
        for k, v in mine.items():
            score.setdefault(k[1], {})[k[2], k[4]] = v[0]
        bars = [b for b in ("iforest", "knn") if b in score]
        parts = []
        for d in ordered_labels(mine):
            if not registry.get(detector[d]).deep:
                continue
            gaps, over = [], []
            for b in bars:
                keys = [k for k in score[d] if k in score[b]]
                if keys:
                    gaps.append(f"{100 * statistics.mean(score[d][k] - score[b][k] for k in keys):+.1f} against `{b}`")
                    over.append(f"{plural(len({k[0] for k in keys}), 'class', 'classes')}, {plural(len({k[1] for k in keys}), 'seed')}")
            if gaps:
                # the settings behind each gap, once where every bar shares them
                text = ", ".join(gaps) + f" ({over[0]})" if len(set(over)) == 1 else ", ".join(f"{g} ({o})" for g, o in zip(gaps, over))
                per_class = {}
                for (c, _), v in score[d].items():
                    per_class.setdefault(c, []).append(v)
                parts.append(f"`{d}` {statistics.mean(map(statistics.mean, per_class.values())):.3f}: {text}")
        if parts:
            out.append(f"{ds}: " + "; ".join(parts) + ".")
    return out


def heatmap(records: list[dict], path: Path, p: float = 0.0) -> Path:
    """Test AUROC per detector (rows) and class (columns) at contamination `p`, one panel per dataset (PNG)."""
    plt = pyplot()
    panels = class_grid(records, p)
    # detectors as rows: their labels (a spec's overrides) read across, the short class names go below
    heights = [0.32 * len(labels) + 1.4 for labels, _, _ in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights)), squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, (ds, (labels, classes, mean)) in zip(axes[:, 0], panels.items()):
        grid = np.array([[mean.get((d, c), np.nan) for c in classes] for d in labels])
        # diverging at chance: red ranks the anomaly class below the normal ones
        im = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{ds}: test AUROC with the column's class as the anomaly", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.02)
    return save_figure(fig, path)


def table(record: dict) -> str:
    """Mean ± std of test AUROC over classes and seeds, per dataset, detector and p; then per class."""
    rows = record["rows"]
    ps = sorted({r["p"] for r in rows})
    dets = list(dict.fromkeys(r["detector"] for r in rows))
    lines = ["| dataset | detector | " + " | ".join(f"p = {100 * p:g} %" for p in ps) + (" | change 0 → 10 % |" if {0.0, 0.1} <= set(ps) else " |")]
    lines.append("|---|---|" + "---|" * len(ps) + ("---|" if {0.0, 0.1} <= set(ps) else ""))
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for d in dets:
            by_p = {p: [r["auroc"] for r in rows if r["dataset"] == ds and r["detector"] == d and r["p"] == p] for p in ps}
            cells = [mean_std(v) if v else "–" for v in by_p.values()]
            change = ""
            if {0.0, 0.1} <= set(ps) and by_p[0.0] and by_p[0.1]:
                change = f" {100 * (statistics.mean(by_p[0.1]) - statistics.mean(by_p[0.0])):+.1f} points |"
            lines.append(f"| {ds} | `{d}` | " + " | ".join(cells) + (" |" + change if change else " |"))
    lines += ["", "Per class (mean over seeds), " + ", ".join(f"`{d}`" for d in dets) + " in that order:", ""]
    lines.append("| dataset | class | " + " | ".join(f"p = {100 * p:g} %" for p in ps) + " |")
    lines.append("|---|---|" + "---|" * len(ps))
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for c in dict.fromkeys(r["class"] for r in rows if r["dataset"] == ds):
            cells = []
            for p in ps:
                per = [[r["auroc"] for r in rows if (r["dataset"], r["class"], r["p"], r["detector"]) == (ds, c, p, d)] for d in dets]
                cells.append(" / ".join(f"{statistics.mean(v):.2f}" if v else "–" for v in per))
            lines.append(f"| {ds} | {c} | " + " | ".join(cells) + " |")
    apart = terms_lines(rows)
    if apart:
        lines += ["", "Each score term on its own (test AUROC, mean over classes and seeds), beside the detector's score:", "", *apart]
    return "\n".join(lines)


def terms_lines(rows: list[dict]) -> list[str]:
    """One line per dataset, detector and p whose rows carry score terms: the score's mean AUROC, then each term's, over the same rows."""
    out = []
    for key in dict.fromkeys((r["dataset"], r["detector"], r["p"]) for r in rows if r.get("terms")):
        mine = [r for r in rows if (r["dataset"], r["detector"], r["p"]) == key]
        names = [k for k in dict.fromkeys(k for r in mine for k in r.get("terms", {})) if all(k in r.get("terms", {}) for r in mine)]
        if names:
            terms = ", ".join(f"`{k}` {statistics.mean(r['terms'][k] for r in mine):.3f}" for k in names)
            out.append(f"- {key[0]}, `{key[1]}`, p = {100 * key[2]:g} %: score {statistics.mean(r['auroc'] for r in mine):.3f}; {terms}.")
    return out


def _points(delta: float) -> str:
    """An AUROC difference in signed points to one decimal; a gap that rounds to nothing reads 0.0, not -0.0."""
    text = f"{100 * delta:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _ends(*scores: dict[tuple, float]) -> list[tuple]:
    """The (class, seed) pairs that every one of `scores` ({(class, p, seed): AUROC}) ran at both p = 0
    and 10 %: a change from 0 to 10 % is paired on them, so a seed run at one end alone cannot shift it."""
    return [(c, s) for c, p, s in scores[0] if p == 0.0 and all((c, q, s) in sc for sc in scores for q in (0.0, 0.1))]


def _change(score: dict[tuple, float], ends: list[tuple]) -> float:
    """Mean AUROC change from p = 0 to 10 % over the (class, seed) pairs `ends`."""
    return statistics.mean(score[c, 0.1, s] - score[c, 0.0, s] for c, s in ends)


def length_lines(records: list[dict]) -> list[str]:
    """Each deep detector at its preset's own length against its shorter fits of the same settings,
    on the `pooled` cells both ran (matched by class, p and seed): the means, the gap per seed,
    how many class-seeds the longer fit wins, and each length's change from p = 0 to 10 %."""
    cells = pooled(records)
    fit = {r["label"]: (r["base"], r["epochs"]) for r in labelled(records)}
    out = []
    for ds in dict.fromkeys(k[0] for k in cells):
        score: dict[str, dict[tuple, float]] = {}  # label → {(class, p, seed): AUROC}
        for k, v in cells.items():
            if k[0] == ds:
                score.setdefault(k[1], {})[k[2:]] = v[0]
        labels = ordered_labels({k: v for k, v in cells.items() if k[0] == ds})
        for whole in (d for d in labels if fit[d][1] is None):
            for short in (d for d in labels if fit[d][0] == fit[whole][0] and fit[d][1]):
                keys = [k for k in score[whole] if k in score[short]]
                if not keys:
                    continue
                seeds = sorted({k[2] for k in keys})
                gap = lambda ks: _points(statistics.mean(score[whole][k] - score[short][k] for k in ks))  # noqa: E731
                parts = []
                for p in sorted({k[1] for k in keys}):
                    at = [k for k in keys if k[1] == p]
                    wins = sum(score[whole][k] > score[short][k] for k in at)
                    at_seeds = sorted({k[2] for k in at})
                    # a split by seed or a win count over one cell only repeats the gap
                    detail = ["per seed " + ", ".join(f"{s} {gap([k for k in at if k[2] == s])}" for s in at_seeds)] if len(at_seeds) > 1 else []
                    detail += [f"higher on {wins} of {len(at)} class-seeds"] if len(at) > 1 else ["one class-seed"]
                    parts.append(
                        f"p = {100 * p:g} %, {statistics.mean(score[whole][k] for k in at):.3f} against {statistics.mean(score[short][k] for k in at):.3f}"
                        f" ({gap(at)} points; " + "; ".join(detail) + ")"
                    )
                line = f"{ds}, `{whole}` against `{short}` ({plural(len(seeds), 'seed')}): " + "; ".join(parts) + "."
                ends = _ends(score[whole], score[short])
                if ends:
                    line += f" From p = 0 to 10 %: {_points(_change(score[whole], ends))} points against {_points(_change(score[short], ends))}."
                out.append(line)
    return out


def verdicts(records: list[dict]) -> list[str]:
    """Issue #6's bar per dataset: the best deep detector's mean AUROC against IsolationForest's on
    the same classes, contamination levels and seeds, and each detector's change from p = 0 to 10 %,
    all on the `pooled` cells the table shows."""
    from core.models import registry

    pool = pooled(records)
    out = []
    for ds in dict.fromkeys(k[0] for k in pool):
        mine = {k: v for k, v in pool.items() if k[0] == ds}
        by_label: dict[str, dict[tuple, float]] = {}  # label → {(class, p, seed): AUROC}
        for k, v in mine.items():
            by_label.setdefault(k[1], {})[k[2:]] = v[0]
        dets = ordered_labels(mine)
        changes = []
        for d in dets:
            ends = _ends(by_label[d])
            if ends:
                changes.append(f"`{d}` {100 * _change(by_label[d], ends):+.1f}")
        line = f"{ds}: AUROC change from p = 0 to 10 % (points, mean over the classes and seeds run at both): " + ", ".join(changes) + "." if changes else f"{ds}:"
        detector = detector_of(mine)
        deep = [d for d in dets if registry.get(detector[d]).deep]
        forest = by_label.get("iforest", {})
        shared = {d: {k for k in by_label[d] if k in forest} for d in deep}
        most = max(map(len, shared.values()), default=0)
        # detectors run on at least half as many settings as the most-run one compete, on the
        # settings all of them ran: a cut-off run's two settings must not make the "best" of one
        # that ran forty, and a run at p = 0/10 % still meets one that also ran 5 and 20 %
        rivals = {d: ks for d, ks in shared.items() if ks and 2 * len(ks) >= most}
        common = set.intersection(*rivals.values()) if rivals else set()
        gap = lambda d, keys: statistics.mean(by_label[d][k] - forest[k] for k in keys)  # noqa: E731
        if forest and common:
            gaps = {d: gap(d, common) for d in rivals}
            best = max(gaps, key=gaps.get)
            word = "beats" if gaps[best] > 0 else "does not beat"
            among = "both ran" if len(rivals) == 1 else f"IsolationForest and all {len(rivals)} compared detectors ran"
            line += f" The best deep detector, `{best}`, {word} IsolationForest on raw pixels ({100 * gaps[best]:+.1f} points of mean AUROC over the {len(common)} settings {among})."
            fewer = [f"`{d}` ({len(ks)})" for d, ks in shared.items() if 0 < len(ks) and d not in rivals]
            if fewer:
                line += f" Not compared, as run on fewer settings: {', '.join(fewer)}."
        elif forest and rivals:
            line += " The deep detectors ran on no settings in common with each other and IsolationForest, so the bar against it is not measured yet."
        elif forest:
            line += " No deep detector was run here on the settings IsolationForest ran, so the bar against it is not measured yet."
        # each detector on all its own settings too, whatever the best-of comparison could use
        own = [f"`{d}` {100 * gap(d, ks):+.1f} ({len(ks)})" for d, ks in shared.items() if ks]
        if own:
            line += f" Each deep detector against IsolationForest on every setting both ran (points, settings): {', '.join(own)}."
        out.append(line)
    return out


if __name__ == "__main__":
    run_cli(main)
