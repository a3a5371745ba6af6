"""Bad parameters and several sessions at once: a message naming the problem, the store unchanged."""
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.services import experiments, metrics, review, runs
from tests.conftest import ROOT, page


def test_unknown_classes_and_an_empty_normal_class_are_refused_by_name(digits):
    before = [e.name for e in experiments.list_experiments()]
    with pytest.raises(ValueError, match=r"unknown class 'zero' in dataset 'digits'; its classes are: 0, 1, 2"):
        experiments.create_experiment("digits", ["zero"], ["1"], 0.05, "bad")
    with pytest.raises(ValueError, match="choose at least one normal class"):
        experiments.create_experiment("digits", [], ["1"], 0.05, "bad")
    with pytest.raises(ValueError, match="already"):
        experiments.create_experiment("digits", ["0"], ["1"], 0.05, "demo")  # the name is taken
    assert [e.name for e in experiments.list_experiments()] == before


def test_a_threshold_must_be_finite_and_an_empty_score_set_flags_nothing(trained):
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="the threshold must be a finite number"):
            runs.set_threshold(trained.id, bad)
    assert runs.get_run(trained.id).threshold is None
    assert metrics.at_threshold(np.zeros(0), np.zeros(0), 0.5) == {"flagged": 0, "n": 0}
    with pytest.raises(ValueError, match="unknown action 'delete'"):
        review.decide(1, [1], "delete")


def _review_page(exp_id: int, run_id: int, selected: list[int] | None = None):
    extra = {f"selection:{exp_id}": selected} if selected is not None else {}
    return page("review", experiment_id=exp_id, run_id=run_id, **extra)


def test_two_browser_sessions_keep_their_own_selections_and_both_decisions_count(trained, digits):
    train = runs.results(trained.id).query("part == 'train'")["sample"].tolist()
    ann = _review_page(digits.id, trained.id, selected=train[:3])
    bob = _review_page(digits.id, trained.id)
    for at in (ann, bob):
        at.radio[0].set_value("selected on the map or histogram").run()
    assert ann.caption[0].value.startswith("3 samples")
    assert any("Nothing to review" in i.value for i in bob.info)  # no cross-talk of selections
    # both decide on the same sample: both decisions are in the trail, the later one is current
    review.decide(digits.id, [train[0]], "reject", user="ann", view="review")
    review.decide(digits.id, [train[0]], "restore", user="bob", view="review")
    trail = review.trail(digits.id)
    assert trail[trail["sample"] == train[0]][["user", "action"]].values.tolist() == [["ann", "reject"], ["bob", "restore"]]
    assert review.current_state(digits.id).loc[train[0], "status"] == "active"


def test_a_team_password_keeps_every_page_behind_sign_in(home, monkeypatch):
    monkeypatch.setenv("WINNOW_PASSWORD", "correct horse")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert [t.value for t in at.text_input] == [""] and at.text_input[0].label == "Team password"
    assert not at.sidebar.text_input  # no navigation, no name box: nothing else rendered
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert at.error[0].value == "That is not the team's password." and "signed_in" not in at.session_state
    at.text_input[0].input("correct horse")
    at.button[0].click().run()
    assert at.session_state["signed_in"] and not at.exception
    assert any(t.label == "Your name (for the audit trail)" for t in at.sidebar.text_input)
