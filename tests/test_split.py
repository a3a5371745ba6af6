"""The experiment split: contamination arithmetic, reproducibility, clear refusals."""
import numpy as np
import pytest

from core.data.split import anomalies_needed, make_split, truth_of

LABELS = np.repeat(np.arange(10), 100)  # 10 classes × 100


def test_contamination_is_a_fraction_of_the_final_training_set():
    s = make_split(LABELS, [0], list(range(1, 10)), 0.1, 0.3, seed=1)
    truth = truth_of(LABELS, [0], list(range(1, 10)))
    n_anom = int((truth[s.train] == 1).sum())
    assert n_anom == s.train_anomalies == anomalies_needed(70, 0.1) == 8
    assert n_anom / len(s.train) == pytest.approx(0.1, abs=0.01)
    assert (truth[s.train] == 0).sum() == 70


def test_test_set_holds_out_a_share_of_every_class_and_never_overlaps_training():
    s = make_split(LABELS, [0, 1], [2, 3], 0.05, 0.25, seed=3)
    assert not set(s.train) & set(s.test)
    for c in (0, 1, 2, 3):
        assert (LABELS[s.test] == c).sum() == 25
    assert not np.isin(LABELS[np.concatenate([s.train, s.test])], [4, 5, 6, 7, 8, 9]).any()


def test_same_inputs_same_split_and_another_seed_differs():
    a = make_split(LABELS, [0], [1, 2], 0.1, 0.3, seed=7)
    b = make_split(LABELS, [0], [1, 2], 0.1, 0.3, seed=7)
    c = make_split(LABELS, [0], [1, 2], 0.1, 0.3, seed=8)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.train, c.train)


def test_zero_contamination_is_clean():
    s = make_split(LABELS, [0], [1], 0.0, 0.3, seed=0)
    assert s.train_anomalies == 0 and set(LABELS[s.train]) == {0}


@pytest.mark.parametrize(
    "args, message",
    [
        (([0], [1], 1.0, 0.3), "contamination must be in"),
        (([0], [1], -0.1, 0.3), "contamination must be in"),
        (([0], [1], 0.1, 0.0), "test share"),
        (([0], [0], 0.1, 0.3), "both normal and anomalous"),
        (([0], [], 0.1, 0.3), "needs at least one anomaly class"),
        (([0], [1], 0.6, 0.3), "needs 105 anomalies in the training set, but only 70"),
    ],
)
def test_refusals_name_the_problem(args, message):
    with pytest.raises(ValueError, match=message):
        make_split(LABELS, *args, seed=0)


def test_unlabelled_data_splits_everything_with_unknown_truth():
    labels = np.full(50, -1)
    s = make_split(labels, [], [], 0.0, 0.2, seed=0)
    assert len(s.train) == 40 and len(s.test) == 10
    assert (truth_of(labels, [], []) == -1).all()
