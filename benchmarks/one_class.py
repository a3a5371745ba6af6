"""One-class AUROC under contamination, and GANomaly's leave-one-class-out protocol.

    .venv/bin/python -m benchmarks.one_class [--protocol one-class|leave-one-out]
        [--datasets mnist,fashion] [--classes all] [--contamination 0,0.05,0.1,0.2]
        [--detectors iforest,knn,autoencoder] [--seeds 0,1,2] [--preset quick] [--epochs K] [--quick]

one-class (issue #6, 2): each class in turn normal, the other nine the anomalies; the training
set is contaminated to p with them (the app's own split: 30 % of every class held out for the
test set, then p·N/(1−p) anomalies drawn into training); test AUROC per detector, class, p and
seed. leave-one-out (methods.md §1, GANomaly): each class in turn the anomaly, the other nine
normal, p = 0. Detectors are fitted in-process straight from the registry (no queue, no map).
The README gets mean ± std over classes and seeds per detector and p, the drop from p = 0 to
10 %, and per-class tables. `--quick` (CI): the built-in digits, classes 0 and 1, p 0 and 10 %,
iforest and knn and a 2-epoch autoencoder, one seed; nothing saved.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = {"mnist": ("torchvision:MNIST", "MNIST"), "fashion": ("torchvision:FashionMNIST", "Fashion-MNIST"), "digits": ("builtin:digits", "digits")}


def fit_and_score(name: str, images: np.ndarray, train: np.ndarray, test: np.ndarray, preset: str, epochs: int | None, seed: int) -> tuple[np.ndarray, float]:
    """Fit detector `name` on `train` images; its scores on `test` and the seconds fitting and scoring took."""
    from benchmarks.common import fit_detector

    model, fit_s = fit_detector(name, images, train, preset, epochs, seed)
    t = time.perf_counter()
    scores = model.infer(images[test]).scores["score"]
    return scores, fit_s + time.perf_counter() - t


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default="one-class", choices=["one-class", "leave-one-out"])
    ap.add_argument("--datasets", default="mnist,fashion")
    ap.add_argument("--classes", default="all", help="class indices, comma-separated, or all")
    ap.add_argument("--contamination", default="0,0.05,0.1,0.2")
    ap.add_argument("--detectors", default="iforest,knn,autoencoder")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--preset", default="quick", choices=["quick", "paper"])
    ap.add_argument("--epochs", type=int, help="override every deep detector's epochs")
    ap.add_argument("--test-share", type=float, default=0.3)
    ap.add_argument("--root", default=str(SHARED_DATA), help="folder holding MNIST/raw and FashionMNIST/raw")
    ap.add_argument("--quick", action="store_true", help="CI: digits, classes 0 and 1, p 0 and 10 %%, one seed; nothing saved")
    a = ap.parse_args(argv)
    if a.quick:
        a.datasets, a.classes, a.contamination, a.seeds, a.epochs = "digits", "0,1", "0,0.1", "0", a.epochs or 2
    if a.protocol == "leave-one-out":
        a.contamination = "0"
    from sklearn.metrics import roc_auc_score

    from benchmarks.common import environment, finish
    from core.data.importers import load_source
    from core.data.split import make_split

    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    for key in a.datasets.split(","):
        source, title = SOURCES[key]
        data = load_source(source, root=a.root if source.startswith("torchvision:") else None)
        labels, k = np.asarray(data.labels), len(data.classes)
        chosen = range(k) if a.classes == "all" else [int(c) for c in a.classes.split(",")]
        for c in chosen:
            others = [o for o in range(k) if o != c]
            normal, anomaly = ([c], others) if a.protocol == "one-class" else (others, [c])
            for p in map(float, a.contamination.split(",")):
                for seed in map(int, a.seeds.split(",")):
                    split = make_split(labels, normal, anomaly, p, a.test_share, seed)
                    truth = np.isin(labels[split.test], anomaly).astype(int)
                    for name in a.detectors.split(","):
                        scores, secs = fit_and_score(name, data.images, split.train, split.test, a.preset, a.epochs, seed)
                        auroc = float(roc_auc_score(truth, scores))
                        rows.append({"dataset": title, "class": data.classes[c], "p": p, "seed": seed, "detector": name, "auroc": auroc, "train": int(len(split.train)), "seconds": round(secs, 1)})
                        say(f"{title} {data.classes[c]} p={p} seed={seed} {name}: AUROC {auroc:.3f} ({secs:.0f} s)")
    record = {"benchmark": a.protocol, "quick": a.quick, "preset": a.preset, "epochs": a.epochs, "test_share": a.test_share, **environment(), "rows": rows}
    return finish(record, f"{a.protocol}-{a.preset}-cpu", table(record))


def _mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def table(record: dict) -> str:
    """Mean ± std of test AUROC over classes and seeds, per dataset, detector and p; then per class."""
    rows = record["rows"]
    ps = sorted({r["p"] for r in rows})
    dets = list(dict.fromkeys(r["detector"] for r in rows))
    lines = ["| dataset | detector | " + " | ".join(f"p = {100 * p:g} %" for p in ps) + (" | drop 0 → 10 % |" if {0.0, 0.1} <= set(ps) else " |")]
    lines.append("|---|---|" + "---|" * len(ps) + ("---|" if {0.0, 0.1} <= set(ps) else ""))
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for d in dets:
            by_p = {p: [r["auroc"] for r in rows if r["dataset"] == ds and r["detector"] == d and r["p"] == p] for p in ps}
            cells = [_mean_std(v) if v else "–" for v in by_p.values()]
            drop = ""
            if {0.0, 0.1} <= set(ps) and by_p[0.0] and by_p[0.1]:
                drop = f" {100 * (statistics.mean(by_p[0.0]) - statistics.mean(by_p[0.1])):+.1f} points |"
            lines.append(f"| {ds} | `{d}` | " + " | ".join(cells) + (" |" + drop if drop else " |"))
    lines += ["", "Per class (mean over seeds), " + ", ".join(f"`{d}`" for d in dets) + " in that order:", ""]
    lines.append("| dataset | class | " + " | ".join(f"p = {100 * p:g} %" for p in ps) + " |")
    lines.append("|---|---|" + "---|" * len(ps))
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for c in dict.fromkeys(r["class"] for r in rows if r["dataset"] == ds):
            cells = []
            for p in ps:
                per = [statistics.mean([r["auroc"] for r in rows if (r["dataset"], r["class"], r["p"], r["detector"]) == (ds, c, p, d)] or [float("nan")]) for d in dets]
                cells.append(" / ".join(f"{v:.2f}" for v in per))
            lines.append(f"| {ds} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
