"""ITSR's prior criterion over a fit: where the planted contaminants' codes go, phase by phase.

    .venv/bin/python -m benchmarks.itsr_trace [--pair mnist-0-2] [--alpha 0.01]
        [--detectors aae_itsr:hidden=256,aae_itsr:hidden=256:disc_sees_set_aside=true]
        [--preset paper] [--every 100] [--seed 0] [--jobs N] [--quick]

Beggel et al. (§3) flag an image when its reconstruction error is in the training set's top 10 %
OR its prior improbability −log N(z; 0, I) is. The second criterion works only while anomalies are
coded in the prior's tail. Each detector spec is fitted once on Table 1's training set (one normal
class plus α of one anomaly class, benchmarks/table1.py), and every `--every` epochs the codes of
the training set and of the observed test set are measured:

- `planted_rank`: median prior-improbability rank (0–100, 100 = least likely) of the planted
  contaminants among the whole training set; `negative_rank`: the same for those with a negative
  weight (retraining only);
- `tpr` / `fpr`: share of the observed test set's anomalies / normals whose prior NLL is above the
  training set's 90th percentile: the prior criterion alone; `auroc`: prior NLL's test AUROC;
- `set_aside` / `negative`: training images weighted 0 / below 0 in that phase.

`--quick` (CI) traces a few epochs on the built-in digits and saves nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.common import at_least_one, cell_map, check_specs, file_safe, fit_parser, pyplot, run_cli, save_figure
from benchmarks.table1 import PAIRS, TITLES, evaluate, make_sets, official_split, prior_rank

PLOT_NAME = "itsr-trace.png"


def phase(epoch: int, p: dict) -> str:
    """The ITSR phase an epoch (1-based) belongs to: pretrain, refinement step k, or retrain."""
    if epoch <= p["pretrain_epochs"]:
        return "pretrain"
    k = -(-(epoch - p["pretrain_epochs"]) // p["refine_epochs"])  # ceil
    return f"refine {k}" if p["refine"] and k <= p["refinements"] else "retrain"


def trace(spec: str, images: np.ndarray, sets: dict, preset: str, seed: int, every: int) -> dict:
    """Fit `spec` on the training set, measuring its codes every `every` epochs and at the end."""
    import torch
    from sklearn.metrics import roc_auc_score

    from benchmarks.common import make_detector
    from core.models.base import to_tensor

    torch.manual_seed(seed)
    model = make_detector(spec, images, preset, None)
    train, test = to_tensor(images[sets["train"]]), to_tensor(images[sets["observed"]])
    planted, truth = sets["planted"], sets["observed_truth"] == 1
    snapshots = []

    def measure(epoch: int) -> None:
        nll, test_nll, w = model.codes(train)[2], model.codes(test)[2], model.phase_weights
        flagged = test_nll > np.quantile(nll, 0.9)
        snapshots.append({
            "epoch": epoch, "phase": phase(epoch, model.params),
            "set_aside": int((w == 0).sum()), "negative": int((w < 0).sum()),
            "planted_rank": prior_rank(nll, planted), "negative_rank": prior_rank(nll, planted & (w < 0)),
            "tpr": float(flagged[truth].mean()), "fpr": float(flagged[~truth].mean()),
            "auroc": float(roc_auc_score(truth, test_nll)),
        })

    def progress(p) -> None:
        if p.step == p.steps and p.epoch % every == 0 and (not snapshots or snapshots[-1]["epoch"] != p.epoch):
            measure(p.epoch)

    model.fit(images[sets["train"]], seed=seed, progress=progress, report_every_s=float("inf"))
    total = model.total_epochs(len(train))
    if not snapshots or snapshots[-1]["epoch"] != total:
        measure(total)
    keys = ("pretrain_epochs", "refine_epochs", "refinements", "epochs", "refine")
    return {"detector": spec, "params": {k: model.params[k] for k in keys}, "snapshots": snapshots, "final": evaluate(model, spec, images, sets)}


def _run_cell(cell: tuple) -> dict:
    source, root, *rest = cell
    return trace(rest[0], official_split(source, root)[0], *rest[1:])


def main(argv: list[str] | None = None) -> dict:
    ap = fit_parser(__doc__, preset="paper", epochs=None)
    ap.add_argument("--pair", default="mnist-0-2", choices=sorted(PAIRS))
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--detectors", default="aae_itsr:hidden=256,aae_itsr:hidden=256:disc_sees_set_aside=true")
    ap.add_argument("--every", type=at_least_one, default=100, help="epochs between measurements")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="CI: digits 0 vs 2, α 5 %%, a few epochs; nothing saved")
    a = ap.parse_args(argv)
    if a.quick:
        a.pair, a.alpha, a.preset, a.every = "digits-0-2", 0.05, "quick", 1
        a.detectors = "aae_itsr:pretrain_epochs=2:refine_epochs=1:refinements=2:epochs=2,aae_itsr:pretrain_epochs=2:refine_epochs=1:refinements=2:epochs=2:disc_sees_set_aside=true"
    check_specs(ap, a.detectors, a.preset)
    for spec in a.detectors.split(","):
        if not spec.startswith("aae_itsr"):
            ap.error(f"--detectors {spec}: only aae_itsr has the prior criterion and the refinement traced here")
    from benchmarks.common import environment, finish

    settings = {k: getattr(a, k) for k in ("pair", "alpha", "detectors", "preset", "every", "seed")}
    record = {"benchmark": "itsr_trace", "quick": a.quick, **settings, **environment(), "runs": []}
    if a.jobs > 1:
        record |= {"jobs": a.jobs, "threads": 1}
    source, normal, other = PAIRS[a.pair]
    _, labels, train_mask, classes = official_split(source, a.root)
    sets = make_sets(labels, train_mask, classes, normal, other, a.alpha, a.seed)
    record |= {"train": int(len(sets["train"])), "contaminants": sets["contaminants"]}
    cells = [(source, a.root, spec, sets, a.preset, a.seed, a.every) for spec in a.detectors.split(",")]
    with cell_map(a.jobs) as run:
        for got in run(_run_cell, cells):
            record["runs"].append(got)
            last = got["snapshots"][-1]
            print(f"{got['detector']}: planted rank {last['planted_rank']}, prior criterion flags {last['tpr']:.2f} of test anomalies", file=sys.stderr, flush=True)
    return finish(record, file_name(settings), table(record))


def file_name(s: dict) -> str:
    """One results file per pair, α, detector set, preset, measuring interval and seed."""
    return f"itsr-trace-{s['pair']}-{s['alpha']:g}-{file_safe(s['detectors'].replace(',', '+'))}-{s['preset']}-e{s['every']}-s{s['seed']}-cpu"


def shown(run: dict) -> list[dict]:
    """The snapshots a table shows: the end of pretraining, of each refinement phase, and every
    quarter of retraining (all of them where the run measured less often)."""
    p = run["params"]
    ends = {p["pretrain_epochs"]}
    start = p["pretrain_epochs"]
    if p["refine"]:
        ends |= {start + k * p["refine_epochs"] for k in range(1, p["refinements"] + 1)}
        start += p["refinements"] * p["refine_epochs"]
    ends |= {start + round(q * p["epochs"] / 4) for q in range(1, 5)}
    picked = [s for s in run["snapshots"] if s["epoch"] in ends]
    return picked if len(picked) >= 2 else run["snapshots"]


def table(record: dict) -> str:
    """Per snapshot and run: the planted contaminants' median prior rank, and the prior criterion's
    share of test anomalies / normals flagged."""
    runs = record["runs"]
    epochs = list(dict.fromkeys(s["epoch"] for r in runs for s in shown(r)))
    epochs.sort()
    by = [{s["epoch"]: s for s in r["snapshots"]} for r in runs]
    head = "| epoch | phase | " + " | ".join(f"`{r['detector']}`: planted rank · anomalies / normals flagged" for r in runs) + " |"
    lines = [head, "|---|---|" + "---|" * len(runs)]
    for e in epochs:
        phase_ = next(b[e]["phase"] for b in by if e in b)
        cells = [f"{b[e]['planted_rank']:.0f} · {100 * b[e]['tpr']:.0f} % / {100 * b[e]['fpr']:.0f} %" if e in b else "–" for b in by]
        lines.append(f"| {e} | {phase_} | " + " | ".join(cells) + " |")
    ends = []
    for r in runs:
        f = r["final"]
        part = lambda k: f"{f['observed'][k]:.3f} / {f['unobserved'][k]:.3f}"  # noqa: E731
        ends.append(f"- `{r['detector']}` at the end, Table 1's balanced accuracy observed / unobserved: the paper's rule {part('bacc')}, reconstruction error alone {part('bacc_recon')}, prior alone {part('bacc_prior')}.")
    return "\n".join(lines) + "\n\n" + "\n".join(ends)


def plot(records: list[dict], path: Path) -> Path:
    """The planted contaminants' median prior rank and the prior criterion's test TPR against the epoch (PNG)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(8.4, 6.2), sharex=True)
    for rec in records:
        for run in rec["runs"]:
            x = [s["epoch"] for s in run["snapshots"]]
            label = f"{run['detector']}, {TITLES[rec['pair']]} α {100 * rec['alpha']:g} %, seed {rec['seed']}"
            axes[0].plot(x, [s["planted_rank"] for s in run["snapshots"]], label=label)
            axes[1].plot(x, [100 * s["tpr"] for s in run["snapshots"]], label=label)
    p = records[-1]["runs"][0]["params"]
    for ax in axes:
        for edge in (p["pretrain_epochs"], p["pretrain_epochs"] + p["refinements"] * p["refine_epochs"]):
            ax.axvline(edge, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(alpha=0.3)
    axes[0].axhline(90, color="grey", linewidth=0.8)
    axes[0].set_ylabel("planted contaminants'\nmedian prior rank")
    axes[1].set_ylabel("test anomalies flagged\nby the prior alone (%)")
    axes[1].set_xlabel("epoch (dotted: end of pretraining, end of refinement)")
    axes[1].legend(fontsize="small", loc="upper right")  # the lower panel's upper right stays empty once refinement starts
    return save_figure(fig, path)


if __name__ == "__main__":
    run_cli(main)
