"""A simulated reviewer: plays review rounds with the known truth, through the app's own path.

Each round it takes the latest round's finished runs of the chosen detectors (training them
first if the round has none), ranks the training samples by score (several detectors: the mean
of their percentile ranks; `rank_by` picks which of them the reviewer looks at), inspects the `budget` highest-ranked samples not decided yet,
rejects (and labels "anomaly") those whose truth is anomalous, labels the rest "normal", and
retrains. Queueing, the worker, decisions and rounds are the same functions the UI calls.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from core.models import registry
from core.services import experiments, review, runs
from core.store.tables import Experiment, Round, Run

USER, VIEW = "simulated reviewer", "simulate-review"


def check_budget(budget: int | float) -> int | float:
    """An int ≥ 1 (samples per round) or a float in (0, 1) (share of the training set)."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget):
        raise ValueError(f"budget must be a number of samples or a fraction below 1, got {budget!r}")
    if budget <= 0:
        raise ValueError(f"budget must be above 0, got {budget}")
    if budget < 1:
        return float(budget)
    if budget != int(budget):
        raise ValueError(f"budget must be a whole number of samples (or a fraction below 1), got {budget}")
    return int(budget)


def per_round(budget: int | float, n_train: int) -> int:
    """How many samples to inspect this round: the budget, or its share of `n_train` (at least 1)."""
    return max(1, int(round(budget * n_train))) if isinstance(budget, float) else int(budget)


def _check(exp: Experiment, detectors: list[str], rank_by: list[str], rounds_: int) -> None:
    if not detectors:
        raise ValueError("choose at least one detector")
    for d in detectors:
        registry.get(d)  # ValueError naming the unknown detector
    if not rank_by or set(rank_by) - set(detectors):
        raise ValueError(f"rank by one or more of the trained detectors ({', '.join(detectors)}), got {', '.join(rank_by) or 'none'}")
    if isinstance(rounds_, bool) or int(rounds_) != rounds_ or rounds_ < 1:
        raise ValueError(f"rounds must be a whole number ≥ 1, got {rounds_!r}")
    truth = experiments.truth(exp)
    if not exp.anomaly_classes or (truth[experiments.round_train_idx(experiments.rounds(exp.id)[0].id)] < 0).any():
        raise ValueError(f"experiment {exp.name!r} has no known truth (no anomaly classes): the simulation needs it")


def finished_runs(exp: Experiment, rnd: Round, detectors: list[str], preset: str, params: dict | None) -> dict[str, Run]:
    """The round's newest succeeded run per detector, training (and waiting for) the missing ones."""
    have = {}
    for r in runs.list_runs(round_id=rnd.id):  # newest first
        if r.detector in detectors and r.detector not in have and r.status in ("succeeded", "queued", "running"):
            have[r.detector] = r
    missing = [d for d in detectors if d not in have]
    if missing:
        have |= {r.detector: r for r in runs.queue_runs(exp.id, missing, preset, params, round_id=rnd.id)}
    out = {}
    for d in detectors:
        run = runs.wait(have[d].id)
        if run.status != "succeeded":
            raise RuntimeError(f"run {run.id} ({d}, round {rnd.number}) ended {run.status}: {run.error or 'no result'}")
        out[d] = run
    return out


def ranking(finished: dict[str, Run]) -> pd.Series:
    """Training samples, most suspicious first: the mean of the detectors' percentile ranks."""
    ranks = []
    for run in finished.values():
        df = runs.results(run.id)
        ranks.append(df[df.part == "train"].set_index("sample")["percentile"])
    return pd.concat(ranks, axis=1).mean(axis=1).sort_values(ascending=False, kind="stable")


def decided(exp_id: int) -> set[int]:
    """Samples the reviewer has already ruled on (a label or a rejection)."""
    state = review.current_state(exp_id)
    return set(state.index[(state.label != "") | (state.status == "rejected")].tolist())


def inspect(exp: Experiment, order: pd.Series, n: int, round_number: int) -> int:
    """Decide the `n` highest-ranked undecided samples from the truth; returns how many were inspected."""
    done = decided(exp.id)
    picked = np.asarray([s for s in order.index if s not in done][:n], dtype=np.int64)
    truth = experiments.truth(exp)[picked]
    bad, good = picked[truth == 1], picked[truth != 1]
    kw = {"user": USER, "view": VIEW, "round_number": round_number}
    if len(bad):
        review.decide(exp.id, bad, "reject", **kw)
        review.decide(exp.id, bad, "anomaly", **kw)
    if len(good):
        review.decide(exp.id, good, "normal", **kw)
    return len(picked)


def row(exp: Experiment, rnd: Round, finished: dict[str, Run], reviewed: int) -> dict:
    """What one round achieved: contaminants left, samples reviewed so far, test metrics per detector."""
    truth = experiments.truth(exp)
    train = experiments.round_train_idx(rnd.id)
    return {
        "round": rnd.number,
        "train": int(len(train)),
        "contaminants_left": int((truth[train] == 1).sum()),
        "reviewed": int(reviewed),
        "negatives": int(rnd.n_negatives or 0),
        "test_auroc": {d: r.metrics.get("test_auroc") for d, r in finished.items()},
        "test_ap": {d: r.metrics.get("test_ap") for d, r in finished.items()},
        "runs": {d: r.id for d, r in finished.items()},
    }


def simulate_review(
    experiment: int | str,
    detectors: list[str],
    rounds: int,
    budget: int | float,
    preset: str = "quick",
    params: dict | None = None,
    negatives: bool = False,
    progress: Callable[[str], None] | None = None,
    rank_by: list[str] | None = None,
) -> list[dict]:
    """Play `rounds` review rounds; one row per round trained (the first is before any review).

    Every detector in `detectors` trains each round and is reported; the reviewer ranks by
    those in `rank_by` (default: all of them)."""
    from core.services import rounds as rounds_service  # the parameter shadows the module

    exp = experiments.get_experiment(experiment)
    budget = check_budget(budget)
    rank_by = list(detectors) if rank_by is None else list(rank_by)
    _check(exp, detectors, rank_by, rounds)
    say = progress or (lambda _msg: None)
    reviewed = len(decided(exp.id))
    out = []
    for k in range(int(rounds) + 1):
        rnd = experiments.latest_round(exp.id)
        say(f"round {rnd.number}: training {', '.join(detectors)}")
        finished = finished_runs(exp, rnd, detectors, preset, params)
        out.append(row(exp, rnd, finished, reviewed))
        say(f"round {rnd.number}: {out[-1]['contaminants_left']} contaminants left, test AUROC {out[-1]['test_auroc']}")
        if k == rounds:
            break
        n = per_round(budget, rnd.n_train)
        reviewed += inspect(exp, ranking({d: finished[d] for d in rank_by}), n, rnd.number)
        rounds_service.retrain(exp.id, detectors, preset, params, negatives=negatives)
    return out
