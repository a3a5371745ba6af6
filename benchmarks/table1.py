"""Beggel et al. 2019, Table 1: balanced accuracy under a little contamination by one class.

    .venv/bin/python -m benchmarks.table1 [--pairs mnist-0-2,tshirt-boot,tshirt-pullover]
        [--alphas 0.05,0.01,0.001] [--detectors autoencoder,aae,aae_itsr,iforest,knn]
        [--preset quick] [--epochs N] [--seed 0] [--jobs N] [--root ../shared/data] [--quick]

Each run saves its own file (named by every setting); the README merges them cell by cell: a
newer run replaces an older one's cells for the same seed, and several seeds are averaged.

The protocol (methods.md §3): train on one normal class plus a fraction α of ONE anomaly class,
taken from the datasets' official training files; test "observed" = every normal test image and
as many test images of the contaminating class (1:1), "unobserved" = every normal test image and
the test images of all the other classes. Metric: balanced accuracy at the paper's thresholds —
flagged when the reconstruction error is above the 90th percentile of the training errors, or,
for the adversarial autoencoders, when either percentile rank (error, prior improbability) is
above 90 — which is a score above 90 for `aae_itsr` (its score is the max of the two ranks) and
a score above the 90th percentile of the training scores for every other detector. AUROC is
recorded too. For `aae_itsr` each criterion is also scored alone, with the share of test
anomalies the prior criterion flags and the prior-NLL rank the negatively weighted contaminants'
codes reached. `aae` is `aae_itsr` with `refine=false`: the paper's AAE baseline. A detector may
carry overrides of its preset, "aae_itsr:nu=0.02", and is then a column of its own, compared
with the paper's column of its name.

Detectors are fitted straight from the registry (no queue, no latent map): the benchmark is
about the methods. They are fitted in this process or, with `--jobs N`, N at once, each in its
own process on one thread; rows keep their order either way. Presets: `quick` is what a 2-core
CPU can run (fewer epochs than the paper); `paper` needs a GPU. The `paper` preset holds ITSR's
MNIST schedule; on the Fashion-MNIST pairs the benchmark retrains the paper's 500 epochs instead
(`PAPER_RETRAIN`), unless a spec or `--epochs` sets them, and the row records it as "schedule".
`--quick` (CI) runs the built-in digits (0 vs 2, random split), α = 5 %, two detectors with few
epochs, and saves nothing.
"""
from __future__ import annotations

import statistics
import sys

import numpy as np

from benchmarks.common import cell_map, check_specs, dataset, file_safe, fit_parser, fractions, length, mean_std, names_in, plural, resolve, run_cli

# name → (source, normal class, contaminating class)
PAIRS = {
    "mnist-0-2": ("torchvision:MNIST", "0", "2"),
    "tshirt-boot": ("torchvision:FashionMNIST", "T-shirt/top", "Ankle boot"),
    "tshirt-pullover": ("torchvision:FashionMNIST", "T-shirt/top", "Pullover"),
    "digits-0-2": ("builtin:digits", "0", "2"),
}
TITLES = {"mnist-0-2": "MNIST 0 vs 2", "tshirt-boot": "T-shirt vs Boot", "tshirt-pullover": "T-shirt vs Pullover", "digits-0-2": "digits 0 vs 2"}
# Table 1 of the paper, BAcc as AE / AAE / ITSR (methods.md §3); the paper reports no α = 5 % column.
PAPER = {
    ("observed", "mnist-0-2", 0.01): (0.69, 0.91, 0.94),
    ("observed", "mnist-0-2", 0.001): (0.68, 0.90, 0.91),
    ("observed", "tshirt-boot", 0.01): (0.74, 0.89, 0.92),
    ("observed", "tshirt-boot", 0.001): (0.74, 0.89, 0.90),
    ("observed", "tshirt-pullover", 0.01): (0.74, 0.70, 0.81),
    ("observed", "tshirt-pullover", 0.001): (0.73, 0.71, 0.80),
    ("unobserved", "mnist-0-2", 0.01): (0.69, 0.91, 0.93),
    ("unobserved", "mnist-0-2", 0.001): (0.68, 0.89, 0.90),
    ("unobserved", "tshirt-boot", 0.01): (0.73, 0.78, 0.79),
    ("unobserved", "tshirt-boot", 0.001): (0.73, 0.77, 0.80),
    ("unobserved", "tshirt-pullover", 0.01): (0.74, 0.78, 0.81),
    ("unobserved", "tshirt-pullover", 0.001): (0.73, 0.79, 0.80),
}
PAPER_COLUMN = {"autoencoder": 0, "aae": 1, "aae_itsr": 2}
# ITSR's retraining epochs where the paper's differ from the `paper` preset's (its MNIST 1,000):
# 500 on Fashion-MNIST (methods.md §3). The paper gives no other per-dataset lengths.
PAPER_RETRAIN = {"tshirt-boot": 500, "tshirt-pullover": 500}


def paper_column(name: str) -> int | None:
    """The paper's column a detector spec is compared with (its overrides aside), if any."""
    return PAPER_COLUMN.get(name.split(":")[0])


def paper_schedule(spec: str, pair: str, preset: str, epochs: int | None) -> dict:
    """What the paper's schedule for `pair` adds to `spec` at `preset`: ITSR's retraining epochs
    (methods.md §3), unless the spec or `--epochs` sets them."""
    name, fixed = resolve(spec)
    if preset != "paper" or epochs or "epochs" in fixed or name != "aae_itsr" or not fixed.get("refine", True) or pair not in PAPER_RETRAIN:
        return {}
    return {"epochs": PAPER_RETRAIN[pair]}


def schedule_note(rows: list[dict]) -> str:
    """How many epochs ITSR retrained in a paper-preset table's cells where the paper's schedule
    differs from the preset's: a row without "schedule" ran before the pair's was applied."""
    from core.models import registry

    preset = registry.get("aae_itsr").PRESETS["paper"]["epochs"]
    ran: dict[tuple[str, str], dict[int, set[float]]] = {}  # (detector, pair) -> epochs -> the α that ran them
    for r in rows:
        if paper_schedule(r["detector"], r["pair"], "paper", None):
            ran.setdefault((r["detector"], r["pair"]), {}).setdefault(r.get("schedule", {}).get("epochs", preset), set()).add(r["alpha"])
    if not ran:
        return ""

    def said(epochs: int, alphas: set[float], pair: str, alone: bool) -> str:
        where = "" if alone else " at α " + " and ".join(f"{100 * a:g} %" for a in sorted(alphas, reverse=True))
        return f"{epochs:,}{where}" + (f" (it ran before the benchmark applied the paper's {PAPER_RETRAIN[pair]:,})" if epochs == preset else "")

    each = "; ".join(
        f"`{d}` on {TITLES[pair]}, " + " and ".join(said(e, al, pair, len(es) == 1) for e, al in sorted(es.items(), reverse=True))
        for (d, pair), es in ran.items()
    )
    return f"The paper preset retrains ITSR {preset:,} epochs, the paper's MNIST schedule; the paper retrains fewer on Fashion-MNIST, and there it retrained: {each}."


def official_split(source: str, root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Images, labels, a mask of the official training files' images, and the class names."""
    data = dataset(source, root if source.startswith("torchvision:") else None)
    names = np.asarray(data.names)
    if source.startswith("torchvision:"):
        train = np.char.startswith(names.astype(str), "train")
    else:  # the built-in digits have no official split: a seeded 70 / 30 one
        train = np.random.default_rng(0).random(len(names)) < 0.7
    return data.images, np.asarray(data.labels), train, list(data.classes)


def make_sets(labels, train_mask, classes, normal: str, other: str, alpha: float, seed: int) -> dict[str, np.ndarray]:
    """Training indices (normal + α of `other`) with a mask of the planted ones, and the observed /
    unobserved test sets with truth."""
    from core.data.split import anomalies_needed

    rng = np.random.default_rng(seed)
    n, o = classes.index(normal), classes.index(other)
    normal_train = np.flatnonzero(train_mask & (labels == n))
    k = anomalies_needed(len(normal_train), alpha)
    contaminants = rng.permutation(np.flatnonzero(train_mask & (labels == o)))[:k]
    normal_test = np.flatnonzero(~train_mask & (labels == n))
    other_test = rng.permutation(np.flatnonzero(~train_mask & (labels == o)))[: len(normal_test)]
    rest_test = np.flatnonzero(~train_mask & (labels != n) & (labels != o))
    return {
        "train": np.concatenate([normal_train, contaminants]),
        "contaminants": len(contaminants),
        "planted": np.r_[np.zeros(len(normal_train), bool), np.ones(len(contaminants), bool)],
        "observed": np.concatenate([normal_test, other_test]),
        "observed_truth": np.r_[np.zeros(len(normal_test)), np.ones(len(other_test))],
        "unobserved": np.concatenate([normal_test, rest_test]),
        "unobserved_truth": np.r_[np.zeros(len(normal_test)), np.ones(len(rest_test))],
    }


def balanced_accuracy(truth: np.ndarray, flagged: np.ndarray) -> float:
    """(TPR + TNR) / 2."""
    tpr = flagged[truth == 1].mean() if (truth == 1).any() else 0.0
    tnr = (~flagged[truth == 0]).mean() if (truth == 0).any() else 0.0
    return float((tpr + tnr) / 2)


def run_one(name: str, images: np.ndarray, sets: dict, preset: str, epochs: int | None, seed: int) -> dict:
    """Fit detector `name` on the training set; BAcc and AUROC on both test sets."""
    from benchmarks.common import fit_detector

    model, fit_s = fit_detector(name, images, sets["train"], preset, epochs, seed)
    return {"fit_s": round(fit_s, 1)} | evaluate(model, name, images, sets)


def evaluate(model, name: str, images: np.ndarray, sets: dict) -> dict:
    """A fitted detector's threshold, BAcc and AUROC on both test sets (and, for `aae_itsr`, each
    criterion apart and what its refinement did)."""
    from sklearn.metrics import roc_auc_score

    real = resolve(name)[0]
    train = model.infer(images[sets["train"]]).scores
    threshold = 90.0 if real == "aae_itsr" else float(np.quantile(train["score"], 0.9))
    out = {"threshold": threshold}
    for part in ("observed", "unobserved"):
        got = model.infer(images[sets[part]]).scores
        truth = sets[f"{part}_truth"]
        out[part] = {"bacc": balanced_accuracy(truth, got["score"] > threshold), "auroc": float(roc_auc_score(truth, got["score"])), "n": int(len(truth))}
        if real == "aae_itsr":  # the paper's two criteria apart: which one carries the decision
            prior = got["prior_nll"] > np.quantile(train["prior_nll"], 0.9)
            out[part]["bacc_recon"] = balanced_accuracy(truth, got["recon"] > np.quantile(train["recon"], 0.9))
            out[part]["bacc_prior"] = balanced_accuracy(truth, prior)
            out[part]["tpr_prior"] = float(prior[truth == 1].mean())  # the test anomalies it flags alone
    art = model.artifacts()
    if "set_aside" in art and model.params.get("refine"):
        out["itsr"] = refinement(art["set_aside"] > 0, art["weight"] < 0, sets["planted"])
        out["itsr"]["contaminants_negative_prior_rank"] = prior_rank(train["prior_nll"], (art["weight"] < 0) & sets["planted"])
    return out


def prior_rank(nll: np.ndarray, mask: np.ndarray) -> float | None:
    """Median percentile rank (0-100, the app's scale) of the masked training images' prior NLL among
    the whole training set's; None if none is masked. For the negatively weighted contaminants, near
    100 says the negative weight pushed their codes out of the prior (Beggel et al. §3), near 50 not."""
    from core.services.metrics import percentile_rank

    return round(float(np.median(percentile_rank(nll, nll[mask]))), 1) if mask.any() else None


def refinement(set_aside: np.ndarray, negative: np.ndarray, planted: np.ndarray) -> dict[str, int]:
    """What ITSR did to the planted contaminants and to the normal images of a training set: how many
    of each it set aside (the candidate set Â) and how many of those it gave the negative weight."""
    count = lambda mask: int(mask.sum())  # noqa: E731
    return {
        "contaminants": count(planted),
        "normals": count(~planted),
        "contaminants_set_aside": count(set_aside & planted),
        "normals_set_aside": count(set_aside & ~planted),
        "contaminants_negative": count(negative & planted),
        "normals_negative": count(negative & ~planted),
    }


def _run_cell(cell: tuple) -> dict:
    """`run_one` for one (dataset, root, detector, sets, preset, epochs, seed) cell."""
    source, root, name, *rest = cell
    return run_one(name, official_split(source, root)[0], *rest)


def main(argv: list[str] | None = None) -> dict:
    ap = fit_parser(__doc__)
    ap.add_argument("--pairs", default="mnist-0-2,tshirt-boot,tshirt-pullover", type=names_in(PAIRS))
    ap.add_argument("--alphas", default="0.05,0.01,0.001", type=fractions)
    ap.add_argument("--detectors", help="default: autoencoder,aae,aae_itsr,iforest,knn (with --quick: autoencoder,aae_itsr)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="CI: digits 0 vs 2, α 5 %%, few epochs; nothing saved")
    a = ap.parse_args(argv)
    if a.quick:
        a.pairs, a.alphas, a.detectors, a.epochs = "digits-0-2", "0.05", a.detectors or "autoencoder,aae_itsr", a.epochs or 3
    a.detectors = a.detectors or "autoencoder,aae,aae_itsr,iforest,knn"
    from benchmarks.common import environment, finish, keep

    check_specs(ap, a.detectors, a.preset, a.epochs)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    settings = {k: getattr(a, k) for k in ("pairs", "alphas", "detectors", "preset", "epochs", "seed")}
    record = {"benchmark": "table1", "quick": a.quick, "complete": False, **settings, **environment(), "rows": rows}
    if a.jobs > 1:
        record |= {"jobs": a.jobs, "threads": 1}
    name = file_name(settings)
    cells, heads = [], []
    for pair in a.pairs.split(","):
        source, normal, other = PAIRS[pair]
        _, labels, train_mask, classes = official_split(source, a.root)
        for alpha in map(float, a.alphas.split(",")):
            sets = make_sets(labels, train_mask, classes, normal, other, alpha, a.seed)
            for det in a.detectors.split(","):
                extra = paper_schedule(det, pair, a.preset, a.epochs)
                spec = det + "".join(f":{k}={v}" for k, v in extra.items())
                cells.append((source, a.root, spec, sets, a.preset, a.epochs, a.seed))
                head = {"pair": pair, "alpha": alpha, "seed": a.seed, "train": int(len(sets["train"])), "contaminants": sets["contaminants"], "detector": det}
                heads.append(head | ({"schedule": extra} if extra else {}))
    with cell_map(a.jobs) as run:
        for head, got in zip(heads, run(_run_cell, cells)):
            row = head | got
            rows.append(row)
            say(f"{row['pair']} α={row['alpha']} {row['detector']}: BAcc observed {row['observed']['bacc']:.3f}, unobserved {row['unobserved']['bacc']:.3f} ({row['fit_s']} s)")
            keep(record, name)  # a long run saves as it goes: an interrupted one keeps what it measured
    record["complete"] = True
    return finish(record, name, table(record))


def file_name(settings: dict) -> str:
    """The results file of a run: one per pair set, detector set, α list, preset, epochs and seed,
    so that no run overwrites another's cells."""
    plus = lambda v: v.replace(",", "+")  # noqa: E731
    s = settings
    name = f"table1-{plus(s['pairs'])}-{file_safe(plus(s['detectors']))}-{plus(s['alphas'])}-{s['preset']}"
    return name + (f"-e{s['epochs']}" if s.get("epochs") else "") + (f"-s{s['seed']}" if s.get("seed") else "") + "-cpu"


def merged(records: list[dict]) -> tuple[dict, list[dict]]:
    """One record whose rows are, per pair, α, detector and seed, the newest run's; and the records
    that contributed a row, oldest first. A rerun of some cells (a fixed detector, a new α) replaces
    just those cells; a run with another seed adds to them."""
    order = sorted(records, key=lambda r: r.get("time") or r["date"])
    lengths = {length(r) for r in order}
    if len(lengths) > 1:  # a cell's seeds must be fits of one length, or its mean means nothing
        raise ValueError(f"Table 1 runs at different presets or epochs cannot share one table: {sorted(lengths, key=str)}")
    cells: dict[tuple, tuple[int, dict]] = {}
    for i, rec in enumerate(order):
        for row in rec["rows"]:
            row = {"seed": rec.get("seed", 0), **row}
            cells[(row["pair"], row["alpha"], row["detector"], row["seed"])] = (i, row)
    used = sorted({i for i, _ in cells.values()})
    pairs = list(dict.fromkeys(p for i in used for p in order[i]["pairs"].split(",")))
    alphas = sorted({row["alpha"] for _, row in cells.values()}, reverse=True)
    dets = list(dict.fromkeys(d for i in used for d in order[i]["detectors"].split(",")))
    rank = lambda key: (pairs.index(key[0]), alphas.index(key[1]), dets.index(key[2]), key[3])  # noqa: E731
    rows = [cells[k][1] for k in sorted(cells, key=rank)]
    return {"rows": rows}, [order[i] for i in used]


def _by_cell(record: dict) -> dict[tuple, dict[str, list[float]]]:
    """(pair, α, detector) → {test set: balanced accuracies, one per seed}."""
    cells: dict[tuple, dict[str, list[float]]] = {}
    for r in record["rows"]:
        cell = cells.setdefault((r["pair"], r["alpha"], r["detector"]), {"observed": [], "unobserved": []})
        for part in ("observed", "unobserved"):
            cell[part].append(r[part]["bacc"])
    return cells


def table(record: dict, detectors: list[str] | None = None) -> str:
    """Balanced accuracy (mean ± std over seeds where several ran), ours beside the paper's (ours / paper);
    the columns are `detectors`, in that order, where given, else every detector in the record."""
    present = list(dict.fromkeys(r["detector"] for r in record["rows"]))
    dets = present if detectors is None else [d for d in detectors if d in present]
    lines = ["| test set | pair | α | " + " | ".join(f"`{d}`" for d in dets) + " |", "|---|---|---|" + "---|" * len(dets)]
    by_cell = _by_cell(record)
    rows = dict.fromkeys((part, pair, alpha) for (pair, alpha, _) in by_cell for part in ("observed", "unobserved"))
    for part, pair, alpha in rows:
        paper = PAPER.get((part, pair, alpha))
        shown = []
        for d in dets:
            got = by_cell.get((pair, alpha, d))
            ours = mean_std(got[part], 2) if got else "–"
            if paper and paper_column(d) is not None:
                ours += f" / {paper[paper_column(d)]:.2f}"
            shown.append(ours)
        lines.append(f"| {part} | {TITLES[pair]} | {100 * alpha:g} % | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def verdicts(record: dict) -> list[str]:
    """Issue #6's Table 1 target: each of AE, AAE and ITSR within 0.03 of the paper, or above, in every
    cell it reports; for `aae_itsr`, what its two criteria (Beggel et al. §3) score apart."""
    out, by_cell = [], _by_cell(record)
    specs = list(dict.fromkeys(r["detector"] for r in record["rows"]))
    for d, col in sorted(((d, paper_column(d)) for d in specs if paper_column(d) is not None), key=lambda dc: dc[1]):
        mine = [r for r in record["rows"] if r["detector"] == d]
        misses, cells = [], 0
        for (pair, alpha, det), got in by_cell.items():
            if det != d:
                continue
            for part in ("observed", "unobserved"):
                paper = PAPER.get((part, pair, alpha))
                if paper is None:
                    continue
                cells += 1
                ours = statistics.mean(got[part])  # over seeds
                if paper[col] - ours > 0.03:
                    misses.append(f"{part} {TITLES[pair]} α {100 * alpha:g} %: {ours:.2f} against {paper[col]:.2f}")
        if not cells:
            continue
        line = f"`{d}`: " + (f"within 0.03 of the paper or above in all {cells} cells." if not misses else f"{len(misses)} of {cells} cells more than 0.03 below the paper — " + "; ".join(misses) + ".")
        apart = [r[part] for r in mine for part in ("observed", "unobserved") if "bacc_recon" in r[part]]
        if apart:
            mean = lambda k: statistics.mean(c[k] for c in apart)  # noqa: E731
            line += (
                f" Its two criteria apart, mean balanced accuracy over all {len(apart)} results (test set × pair × α × seed): both (the paper's rule) {mean('bacc'):.2f},"
                f" reconstruction error alone {mean('bacc_recon'):.2f}, prior likelihood alone {mean('bacc_prior'):.2f}"
            )
            tpr = [c["tpr_prior"] for c in apart if "tpr_prior" in c]
            line += f" (it flags {100 * statistics.mean(tpr):.1f} % of the test anomalies, in the {plural(len(tpr), 'result')} that recorded it)." if tpr else "."
        out.append(line + refinement_line(mine))
    return out


def refinement_line(rows: list[dict]) -> str:
    """What ITSR set aside per pair, pooled over α and seeds, in the rows that recorded it."""
    by_pair: dict[str, list[dict]] = {}
    for r in rows:
        if "itsr" in r:
            by_pair.setdefault(r["pair"], []).append(r["itsr"])
    parts = []
    for pair, caught in by_pair.items():
        share = lambda k, of: 100 * sum(c[k] for c in caught) / max(sum(c[of] for c in caught), 1)  # noqa: E731
        parts.append(
            f"{TITLES[pair]} ({plural(len(caught), 'fit')}) set aside {share('contaminants_set_aside', 'contaminants'):.0f} % of the planted contaminants"
            f" and {share('normals_set_aside', 'normals'):.0f} % of the normal images, and gave the negative weight to"
            f" {share('contaminants_negative', 'contaminants'):.0f} % of the contaminants and {share('normals_negative', 'normals'):.1f} % of the normal images"
            + pushed_out(caught)
        )
    return f" Its refinement, in the fits that recorded it: on {'; on '.join(parts)}." if parts else ""


def pushed_out(caught: list[dict]) -> str:
    """Where the negative weight put the contaminants' codes, in the fits that recorded it (Beggel et al. §3)."""
    ranks = [c["contaminants_negative_prior_rank"] for c in caught if c.get("contaminants_negative_prior_rank") is not None]
    if not ranks:
        return ""
    return (
        "; the negatively weighted contaminants' codes then sat at a median prior-improbability rank of " + ", ".join(f"{r:.0f}" for r in ranks)
        + f" in their training set ({'per fit; ' if len(ranks) > 1 else ''}100 = least likely under N(0, I), 90 and up is flagged)"
    )


def is_deep(name: str) -> bool:
    """Whether a Table 1 detector is a network (`aae` is `aae_itsr` without refinement)."""
    from core.models import registry

    return registry.get(resolve(name)[0]).deep


def bars(record: dict) -> list[str]:
    """Issue #6's bars in Table 1: each deep detector's mean balanced accuracy against IsolationForest's
    and kNN's on raw pixels, over the cells (test set × pair × α, seeds averaged) both ran."""
    by_cell = _by_cell(record)
    means = {
        (part, pair, alpha, d): statistics.mean(got[part]) for (pair, alpha, d), got in by_cell.items() for part in ("observed", "unobserved")
    }
    dets = list(dict.fromkeys(r["detector"] for r in record["rows"]))
    pixels = [b for b in ("iforest", "knn") if b in dets]
    if not pixels:
        return []
    out = []
    for d in filter(is_deep, dets):
        cells = [k[:3] for k in means if k[3] == d and all((*k[:3], b) in means for b in pixels)]
        if not cells:
            continue
        mine = statistics.mean(means[(*c, d)] for c in cells)
        theirs = {b: statistics.mean(means[(*c, b)] for c in cells) for b in pixels}
        above = sum(all(means[(*c, d)] > means[(*c, b)] for b in pixels) for c in cells)
        versus = " and ".join(f"`{b}` {v:.3f}" for b, v in theirs.items())
        gaps = " and ".join(f"{100 * (mine - v):+.1f}" for v in theirs.values())
        out.append(f"`{d}` {mine:.3f} against {versus} ({gaps} points); above every bar in {above} of {len(cells)} cells.")
    return out


if __name__ == "__main__":
    run_cli(main)
