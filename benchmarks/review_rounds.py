"""Does human-in-the-loop review clean the training set, and does the detector get better?

    .venv/bin/python -m benchmarks.review_rounds [--dataset fashion|mnist|both]
        [--detector knn,iforest,autoencoder] [--rank-by knn] [--negatives]
        [--rounds 3] [--budget 0.05] [--preset quick] [--root ../shared/data] [--quick]

Issue #4's target: one normal class (Fashion-MNIST T-shirt/top, MNIST digit 0), the other nine
classes as contamination at p = 10 %, a simulated reviewer (core/services/simulate.py: it knows
the truth) inspecting at most `budget` of the training set per round for at most `rounds`
rounds. Every detector in --detector trains each round; the reviewer ranks by those in
--rank-by. Reported: each detector's test AUROC / AP with no review (round 1) and after each
round, the share of the contaminants removed per round, and each detector on the clean set
(p = 0) as its ceiling. Everything runs through the app's own path (queue, worker, decisions, rounds) in a
throw-away WINNOW_HOME. `--quick` (CI) plays 1 round on the built-in 8×8 digits and saves
nothing under benchmarks/results/.
"""
from __future__ import annotations

import os
import sys
import time

from benchmarks.common import fit_parser

SETS = {
    "fashion": ("torchvision:FashionMNIST", "Fashion-MNIST", "T-shirt/top"),
    "mnist": ("torchvision:MNIST", "MNIST", "0"),
    "digits": ("builtin:digits", "digits (8×8, quick)", "0"),
}


def play(key: str, a, say) -> dict:
    """One dataset: import, the p = 10 % simulation, and the clean p = 0 reference runs."""
    from core.services import datasets, experiments, runs, simulate

    source, title, normal = SETS[key]
    t = time.perf_counter()
    ds = datasets.import_dataset(source, key, root=a.root if source.startswith("torchvision:") else None)
    anomalies = [c for c in ds.classes if c != normal]
    exp = experiments.create_experiment(key, [normal], anomalies, a.contamination, f"{key}-p", a.test_share, a.seed)
    clean = experiments.create_experiment(key, [normal], anomalies, 0.0, f"{key}-clean", a.test_share, a.seed)
    params = runs.with_epochs(a.detectors, a.epochs)
    rows = simulate.simulate_review(exp.id, a.detectors, a.rounds, a.budget, a.preset, params, a.negatives, say, a.rank_by)
    refs = [runs.wait(r.id) for r in runs.queue_runs(clean.id, a.detectors, a.preset, params)]
    for ref in refs:
        if ref.status != "succeeded":
            raise RuntimeError(f"clean run {ref.id} ({ref.detector}) ended {ref.status}: {ref.error}")
    first = rows[0]["contaminants_left"]
    prev = first
    for r in rows:
        r["removed_this_round"] = prev - r["contaminants_left"]
        r["removed_share"] = (first - r["contaminants_left"]) / first if first else 0.0
        prev = r["contaminants_left"]
    return {
        "dataset": title,
        "normal": normal,
        "train": exp.n_train,
        "train_anomalies": exp.n_train_anomalies,
        "test": exp.n_test,
        "rounds": rows,
        "clean": {
            "train": clean.n_train,
            "test_auroc": {r.detector: r.metrics["test_auroc"] for r in refs},
            "test_ap": {r.detector: r.metrics["test_ap"] for r in refs},
        },
        "seconds": round(time.perf_counter() - t, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = fit_parser(__doc__, epochs="override the preset's epochs", jobs=None)
    ap.add_argument("--dataset", default="both", choices=["fashion", "mnist", "both"])
    ap.add_argument("--detector", default="knn,iforest,autoencoder", help="detectors trained each round, comma-separated")
    ap.add_argument("--rank-by", help="detectors the reviewer ranks by (default: all of --detector)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.05, help="share of the training set inspected per round (< 1), or a count")
    ap.add_argument("--contamination", type=float, default=0.10)
    ap.add_argument("--test-share", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negatives", action="store_true", help="retrain on confirmed anomalies as negative examples")
    ap.add_argument("--quick", action="store_true", help="CI: 1 round, budget 5 %%, 5 epochs, the built-in digits; nothing saved")
    a = ap.parse_args(argv)
    a.detectors = [d for d in a.detector.split(",") if d]
    a.rank_by = [d for d in a.rank_by.split(",") if d] if a.rank_by else list(a.detectors)
    if a.quick:
        a.rounds, a.budget, a.epochs = 1, 0.05, a.epochs or 5
    if a.budget >= 1:
        a.budget = int(a.budget)
    keys = ["digits"] if a.quick else (["fashion", "mnist"] if a.dataset == "both" else [a.dataset])
    from benchmarks.common import environment, finish, throwaway_home

    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    with throwaway_home():
        results = [play(k, a, say) for k in keys]
    record = {
        "benchmark": "review_rounds",
        "quick": a.quick,
        "detectors": a.detectors,
        "rank_by": a.rank_by,
        "preset": a.preset,
        "epochs": a.epochs,
        "contamination": a.contamination,
        "test_share": a.test_share,
        "seed": a.seed,
        "budget": a.budget,
        "max_rounds": a.rounds,
        "negatives": a.negatives,
        "device": os.environ.get("WINNOW_DEVICE") or ("cuda" if _cuda() else "cpu"),
        **environment(),
        "datasets": results,
    }
    name = f"review_rounds-{'+'.join(a.detectors)}-by-{'+'.join(a.rank_by)}{'-neg' if a.negatives else ''}-{a.preset}-{record['device']}"
    return finish(record, name, table(record) + "\n" + "\n".join(verdicts(record)))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def normalise(record: dict) -> dict:
    """A record in the current layout: results saved before several detectors (one `detector`,
    scalar clean metrics, ranked by itself) are read as a one-detector record."""
    if "detectors" in record:
        return record
    d = record["detector"]
    out = {**record, "detectors": [d], "rank_by": [d], "datasets": []}
    for ds in record["datasets"]:
        c = ds["clean"]
        out["datasets"].append({**ds, "clean": {**c, "test_auroc": {d: c["test_auroc"]}, "test_ap": {d: c["test_ap"]}}})
    return out


def table(record: dict) -> str:
    """The README's markdown table for one review_rounds record: test AUROC per detector."""
    record = normalise(record)
    dets = record["detectors"]
    lines = [
        "| dataset (normal) | stage | train size | reviewed so far | contaminants left | removed this round | removed so far | "
        + " | ".join(f"`{d}` AUROC" for d in dets)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(dets),
    ]
    for ds in record["datasets"]:
        first = ds["rounds"][0]["contaminants_left"]
        for r in ds["rounds"]:
            stage = f"p = {100 * record['contamination']:.0f} %, no review (round 1)" if r["round"] == 1 else f"after review {r['round'] - 1} (round {r['round']})"
            removed = "–" if r["round"] == 1 else f"{r['removed_this_round']} ({_pct(r['removed_this_round'] / first if first else 0)})"
            lines.append(
                f"| {ds['dataset']} ({ds['normal']}) | {stage} | {r['train']} | {r['reviewed']} | {r['contaminants_left']} | {removed} | "
                f"{_pct(r['removed_share'])} | " + " | ".join(_num(r["test_auroc"][d]) for d in dets) + " |"
            )
        c = ds["clean"]
        lines.append(f"| {ds['dataset']} ({ds['normal']}) | clean, p = 0 | {c['train']} | – | 0 | – | – | " + " | ".join(_num(c["test_auroc"][d]) for d in dets) + " |")
    return "\n".join(lines)


def verdicts(record: dict) -> list[str]:
    """Issue #4's target per dataset: after the review rounds, the best detector's test AUROC is
    within 1 point of the same detector trained on the clean (p = 0) set (or above it)."""
    record = normalise(record)
    out = []
    for ds in record["datasets"]:
        best = {d: max(r["test_auroc"][d] for r in ds["rounds"][1:] or ds["rounds"]) for d in record["detectors"]}
        top = max(best, key=best.get)
        start, clean = ds["rounds"][0]["test_auroc"][top], ds["clean"]["test_auroc"][top]
        gap = 100 * (clean - best[top])
        word = "met" if gap <= 1 else f"missed by {gap - 1:.1f} points"
        where = f"{-gap:.1f} points above clean" if gap < 0 else f"{gap:.1f} points short of clean"
        others = "; ".join(f"`{d}` {best[d]:.3f} (clean {ds['clean']['test_auroc'][d]:.3f})" for d in record["detectors"] if d != top)
        out.append(
            f"{ds['dataset']}: best detector `{top}`: test AUROC {start:.3f} with no review, best {best[top]:.3f} after review "
            f"({100 * (best[top] - start):+.1f} points), clean p = 0: {clean:.3f}, {where}; "
            f"the target (within 1 point of clean) is {word}."
            + (f" Best after review, the others: {others}." if others else "")
        )
    return out


if __name__ == "__main__":
    main()
