"""Rounds with confirmed anomalies as negatives, and the simulated reviewer."""
import json

import numpy as np
import pytest

from core.models import registry
from core.services import experiments, pipeline, review, rounds, runs, simulate


def _capture_fit(monkeypatch, name: str) -> list:
    """Record (n images, weights) of every fit of detector `name`, training for real but briefly."""
    cls = registry.get(name)
    seen, real = [], cls.fit

    def fit(self, images, *, weights=None, **kw):
        seen.append((len(images), None if weights is None else np.asarray(weights)))
        return real(self, images, weights=weights, **kw)

    monkeypatch.setattr(cls, "fit", fit)
    return seen


def _confirm(exp, n: int = 4) -> np.ndarray:
    """Reject and label anomaly the first `n` known contaminants of the training set."""
    train = experiments.round_train_idx(experiments.latest_round(exp.id).id)
    bad = train[experiments.truth(exp)[train] == 1][:n]
    review.decide(exp.id, bad, "reject", user="t")
    review.decide(exp.id, bad, "anomaly", user="t")
    return bad


def test_retrain_with_negatives_weights_them_for_detectors_that_accept_weights(digits, monkeypatch):
    from core.jobs import worker

    monkeypatch.setattr(worker, "ensure_worker", lambda: "not started")  # this test runs the jobs itself
    bad = _confirm(digits)
    test = experiments.test_idx(digits)
    review.decide(digits.id, test[:2], "anomaly", user="t")  # test samples must never train
    rnd, queued = rounds.retrain(digits.id, ["autoencoder", "ganomaly"], params={"autoencoder": {"epochs": 1}, "ganomaly": {"epochs": 1}}, negatives=True)
    assert rnd.negative_weight == -0.1 and rnd.n_negatives == len(bad) and rnd.n_confirmed == len(bad)
    assert set(experiments.round_negative_idx(rnd.id)) == set(bad.tolist())
    assert registry.get("autoencoder").supports_weights and not registry.get("ganomaly").supports_weights
    seen_ae, seen_gan = _capture_fit(monkeypatch, "autoencoder"), _capture_fit(monkeypatch, "ganomaly")
    for r in queued:
        pipeline.execute_run(r.id)
        assert runs.get_run(r.id).status == "succeeded", runs.get_run(r.id).error
    (n_ae, w_ae), (n_gan, w_gan) = seen_ae[0], seen_gan[0]
    assert n_ae == rnd.n_train + len(bad) and (w_ae[: rnd.n_train] == 1).all() and np.allclose(w_ae[rnd.n_train :], -0.1)
    assert n_gan == rnd.n_train and w_gan is None
    for r in queued:  # scores still cover the round's training set and the test set only
        assert runs.get_run(r.id).metrics["n_train"] == rnd.n_train
    table = rounds.table(digits.id)
    last = table[table["round"] == 2].set_index("detector")
    assert last.loc["autoencoder", "negatives"] == len(bad) and last.loc["ganomaly", "negatives"] == 0
    assert (last["confirmed anomalies"] == len(bad)).all()


def test_retrain_without_negatives_stores_none(digits):
    _confirm(digits)
    rnd, _ = rounds.retrain(digits.id, ["autoencoder"])
    assert rnd.negative_weight is None and rnd.n_negatives == 0 and len(experiments.round_negative_idx(rnd.id)) == 0
    with pytest.raises(ValueError, match="below 0"):
        rounds.retrain(digits.id, ["autoencoder"], negatives=True, negative_weight=0.5)


@pytest.mark.parametrize("budget", [0, -3, 2.5, float("nan"), True, "ten"])
def test_budget_must_be_a_count_or_a_fraction(digits, budget):
    with pytest.raises(ValueError, match="budget"):
        simulate.simulate_review(digits.id, ["autoencoder"], 1, budget)


def test_simulation_refuses_unknown_detectors_and_unknown_truth(digits):
    with pytest.raises(ValueError, match="unknown detector"):
        simulate.simulate_review(digits.id, ["nope"], 1, 10)
    experiments.create_experiment("digits", ["0"], [], 0.0, "unlabelled")
    with pytest.raises(ValueError, match="known truth"):
        simulate.simulate_review("unlabelled", ["autoencoder"], 1, 10)


def test_budget_share_of_training_set():
    assert simulate.per_round(0.1, 455) == 46 and simulate.per_round(20, 455) == 20 and simulate.per_round(0.001, 10) == 1


@pytest.mark.slow
def test_simulated_review_removes_contaminants_every_round_and_the_trail_replays(digits, capsys):
    from core import cli

    experiments.create_experiment("digits", ["0"], [str(d) for d in range(1, 10)], 0.1, "p10", 0.3, 0)
    args = ["simulate-review", "--experiment", "p10", "--detector", "autoencoder", "--rounds", "2", "--budget", "0.1", "--epochs", "5", "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)  # one JSON object
    rows = out["rounds"]
    assert out["experiment"] == "p10" and [r["round"] for r in rows] == [1, 2, 3]
    left = [r["contaminants_left"] for r in rows]
    assert left[0] > left[1] > left[2], left
    assert rows[0]["reviewed"] == 0 < rows[1]["reviewed"] < rows[2]["reviewed"]
    assert all(0 <= r["test_auroc"]["autoencoder"] <= 1 for r in rows)
    exp = experiments.get_experiment("p10")
    trail = review.trail(exp.id)
    assert set(trail.user) == {"simulated reviewer"} and set(trail.view) == {"simulate-review"}
    assert trail.id.is_monotonic_increasing and set(trail.round_number) == {1, 2}
    # append-only: replaying any prefix and then the rest gives the same current state
    state = review.current_state(exp.id)
    assert review.replay(trail).equals(state)
    assert len(state) == rows[-1]["reviewed"]
    truth = experiments.truth(exp)
    assert (truth[state.index[state.status == "rejected"]] == 1).all()
    assert (state.loc[state.status == "rejected", "label"] == "anomaly").all()
    assert len(simulate.decided(exp.id)) == rows[-1]["reviewed"]


@pytest.mark.slow
def test_review_rounds_benchmark_quick_mode_runs_and_saves_nothing(home, capsys):
    from benchmarks import common, review_rounds

    before = set(common.RESULTS.glob("*.json"))
    record = review_rounds.main(["--quick"])
    (ds,) = record["datasets"]
    assert record["quick"] and [r["round"] for r in ds["rounds"]] == [1, 2]
    assert ds["rounds"][1]["contaminants_left"] <= ds["rounds"][0]["contaminants_left"]
    assert record["detectors"] == record["rank_by"] == ["knn", "iforest", "autoencoder"]
    assert set(ds["clean"]["test_auroc"]) == set(record["detectors"])
    assert all(0 <= v <= 1 for v in ds["clean"]["test_auroc"].values()) and "| clean, p = 0 |" in review_rounds.table(record)
    assert set(common.RESULTS.glob("*.json")) == before
