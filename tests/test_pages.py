"""Page logic with Streamlit's AppTest: every page renders, and its widgets do what they say."""
import pytest

from tests.conftest import home_at, page

PAGES = ["data", "experiment", "train", "scores", "reconstructions", "latent_map", "review", "rounds"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A home with the digits demo and one finished autoencoder run (trained in this process)."""
    with home_at(tmp_path_factory.mktemp("pages") / "home"):
        from core.services import datasets, experiments, pipeline, runs

        datasets.import_dataset("builtin:digits", "digits")
        exp = experiments.create_experiment("digits", ["0"], [str(d) for d in range(1, 10)], 0.05, "demo")
        (itsr,) = runs.queue_runs(exp.id, ["aae_itsr"], start_worker=False)
        pipeline.execute_run(itsr.id)
        (run,) = runs.queue_runs(exp.id, ["autoencoder"], params={"autoencoder": {"epochs": 8}}, start_worker=False)
        pipeline.execute_run(run.id)
        yield exp, runs.get_run(run.id)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_without_error(store, name):
    at = page(name)
    assert not at.exception, at.exception
    assert at.title[0].value.replace(" ", "_").lower() == name


def test_data_page_imports_and_reports_bad_input(store, tmp_path):
    at = page("data")
    assert "digits" in at.dataframe[0].value["name"].tolist()
    bad = tmp_path / "x*1*.npz"  # a file name with markdown in it is shown as typed
    bad.write_bytes(b"garbage")
    at.text_input(key="path_name").input("bad")
    next(w for w in at.text_input if w.label == "Path on this machine").input(str(bad))
    next(b for b in at.button if b.label == "Import").click().run()
    assert at.error and "x\\*1\\*.npz" in at.error[0].value
    assert not at.get("progress")  # a failed import leaves no "reading…" bar beside its error
    from core.services import datasets

    assert "bad" not in [d.name for d in datasets.list_datasets()]


def test_data_page_says_how_to_label_an_unlabelled_import(home, tmp_path, digits_images):
    from PIL import Image

    loose = tmp_path / "loose"
    loose.mkdir()
    for i, img in enumerate(digits_images[0][:12]):
        Image.fromarray(img[..., 0]).save(loose / f"{i}.png")
    at = page("data")
    at.text_input(key="path_name").input("loose")
    next(w for w in at.text_input if w.label == "Path on this machine").input(str(loose))
    next(b for b in at.button if b.label == "Import").click().run()
    assert "12 images" in at.success[0].value and "no classes" in at.success[0].value
    assert "one subfolder per class" in at.info[0].value


def test_data_page_shows_the_import_form_outright_until_there_is_a_dataset(home):
    at = page("data")  # an empty store: importing is all there is to do, so nothing is folded away
    assert not at.expander and at.tabs[0].label == "Upload"
    assert at.info[0].value == "No dataset yet."
    from core.services import datasets

    datasets.import_dataset("builtin:digits", "digits")
    at = page("data")  # afterwards the form folds up above the datasets
    (importer,) = at.expander
    assert importer.label == "Import a dataset" and not importer.proto.expanded
    assert importer.tabs[0].label == "Upload"


def test_experiment_page_refuses_impossible_contamination(store):
    at = page("experiment")
    at.number_input[0].set_value(0.95)
    at.text_input[0].input("too dirty")
    at.button[0].click().run()
    assert at.error and "anomalies in the training set" in at.error[0].value


def test_experiment_page_keeps_a_typed_name_while_the_settings_change(store):
    at = page("experiment")
    box = lambda: next(w for w in at.text_input if w.label == "Experiment name")  # noqa: E731
    box().input("my split").run()
    at.number_input[0].set_value(0.1).run()  # the suggested name follows p ...
    name = box()
    assert name.placeholder == "digits: 0 normal, 10% contaminated"
    assert name.value == "my split"  # ... and the name the user typed stays
    assert len(at.text_input) == 1


def test_scores_threshold_sets_flagged_count_and_persists(store):
    exp, run = store
    at = page("scores")
    at.slider[0].set_value(10.0).run()
    flagged = next(m for m in at.metric if m.label.startswith("Flagged"))
    n_train = run.metrics["n_train"]
    count, total = map(int, flagged.value.split(" / "))
    assert total == n_train
    assert abs(count - 0.10 * n_train) <= 2
    from core.services import runs

    assert runs.get_run(run.id).threshold is not None
    assert any(m.label == "Test AUROC" for m in at.metric)
    at.radio[0].set_value("by score value").run()
    at.number_input[0].set_value(1.5 * float(runs.results(run.id).score.max())).run()
    assert next(m for m in at.metric if m.label.startswith("Flagged")).value == f"0 / {n_train}"


def test_scores_warn_when_a_score_ranks_anomalies_below_normals(trained):
    from core.services import runs
    from core.store import arrays, db

    assert runs.get_run(trained.id).metrics["test_auroc"] > 0.5
    assert not page("scores").warning
    # The same run as a detector that learned the anomalies better than the normal class.
    path = db.folder("runs", trained.id) / "score_score.npy"
    arrays.save(path, -arrays.load(path))
    at = page("scores")
    auroc = float(next(m for m in at.metric if m.label == "Test AUROC").value)
    assert auroc < 0.5
    assert len(at.warning) == 1 and f"Test AUROC {auroc:.3f} is below chance" in at.warning[0].value


def test_scores_point_to_a_term_that_ranks_the_test_set_better(store):
    from sklearn.metrics import roc_auc_score

    from core.services import runs
    from core.store import arrays, db

    exp, _ = store
    (itsr,) = [r for r in runs.list_runs(exp.id) if r.detector == "aae_itsr"]
    path = db.folder("runs", itsr.id) / "score_score.npy"
    original = arrays.load(path)
    arrays.save(path, -original)  # its own score now ranks the anomalies below the normals
    try:
        at = page("scores", run_id=itsr.id)
        df = runs.results(itsr.id)
        test = df[(df.part == "test") & (df.truth >= 0)]
        listing = next(c.value for c in at.caption if c.value.startswith("Test AUROC of each score: "))
        shown = {name: float(a) for name, a in (part.rsplit(" ", 1) for part in listing.split(": ", 1)[1].split(" · "))}
        for name in ("score", "score_recon", "score_prior_nll"):
            assert shown[name] == pytest.approx(roc_auc_score(test.truth, test[name]), abs=5e-4)
        best = max(shown, key=shown.get)
        assert best != "score"
        (hint,) = [i.value for i in at.info if "ranks this test set better" in i.value]
        assert hint.startswith(f"**{best}** ranks this test set better than **score**")
        next(w for w in at.sidebar.selectbox if w.label == "Score").set_value(best).run()
        assert not [i for i in at.info if "ranks this test set better" in i.value]
    finally:
        arrays.save(path, original)


def test_scores_point_back_to_the_detectors_own_score_without_the_select_button(store):
    import numpy as np

    from core.services import runs
    from core.store import arrays, db

    exp, _ = store
    (itsr,) = [r for r in runs.list_runs(exp.id) if r.detector == "aae_itsr"]
    folder = db.folder("runs", itsr.id)
    names = ("score", "recon")
    originals = {name: arrays.load(folder / f"score_{name}.npy") for name in names}
    truth = runs.results(itsr.id).truth.to_numpy(float)
    # its own score now ranks the test set perfectly (above the round's consensus), its recon term worst
    arrays.save(folder / "score_score.npy", (truth + 1e-3 * np.arange(len(truth)) / len(truth)).astype(np.float32))
    arrays.save(folder / "score_recon.npy", -originals["recon"])
    try:
        at = page("scores", run_id=itsr.id)
        next(w for w in at.sidebar.selectbox if w.label == "Score").set_value("score_recon").run()
        (hint,) = [i.value for i in at.info if "ranks this test set better" in i.value]
        assert hint.startswith("**score** ranks this test set better than **score_recon** (AUROC 1.000")
        # the detector's own score needs no selection, and the page shows no select button for it
        assert "Review's “flagged” view follows it." in hint and "Select the" not in hint
    finally:
        for name, values in originals.items():
            arrays.save(folder / f"score_{name}.npy", values)


def test_reconstructions_need_a_selection_for_the_selected_view(store):
    at = page("reconstructions")
    assert at.caption and any("input" in c.value for c in at.caption)
    at.radio[0].set_value("selected on the map or histogram").run()
    assert any("Nothing selected" in i.value for i in at.info)


def test_latent_map_colourings_render(store):
    at = page("latent_map")
    for option in at.radio[0].options:
        at.radio[0].set_value(option).run()
        assert not at.exception, option


def test_review_rejects_flagged_samples_into_the_trail(store):
    exp, run = store
    from core.services import review, runs

    train_scores = runs.results(run.id).query("part == 'train'").score
    runs.set_threshold(run.id, float(train_scores.quantile(0.9)))
    at = page("review")
    before = len(review.trail(exp.id))
    shown = int(at.caption[0].value.split(" samples")[0])
    assert shown == (train_scores >= train_scores.quantile(0.9)).sum()
    scope = next(r for r in at.radio if r.label == "Apply to")
    scope.set_value(scope.options[1])  # all in this view; a form applies it on submit
    next(b for b in at.button if b.label == "Apply").click().run()
    trail = review.trail(exp.id)
    assert len(trail) == before + shown and set(trail.action[before:]) == {"reject"}
    at.radio[0].set_value("rejected").run()
    assert int(at.caption[0].value.split(" samples")[0]) >= shown


def test_rounds_page_retrains_without_rejected(store):
    exp, _ = store
    from core.services import experiments, review

    gone = len(review.rejected(exp.id))
    at = page("rounds")
    at.button[0].click().run()
    assert at.success and "Round 2 queued" in at.success[0].value
    assert experiments.latest_round(exp.id).n_train == exp.n_train - gone


def test_train_page_shows_a_jobs_loss_curve_and_log(store):
    exp, run = store
    at = page("train")
    assert any(h.value == "Log and loss curve" for h in at.subheader)
    job = next(s for s in at.selectbox if s.label == "Job")
    job.set_value(run.id).run()
    assert at.get("plotly_chart") and "succeeded: test_auroc" in at.code[0].value
    assert not at.exception


def test_review_pages_turn_with_buttons_and_quick_actions_wait_for_ticks(store):
    exp, run = store
    at = page("review")
    at.radio[0].set_value("all training samples").run()
    pages = int(next(n for n in at.number_input if n.label.startswith("Page (of")).label.split("of ")[1].rstrip(")"))
    assert pages > 1
    next(b for b in at.button if b.label == "Next").click().run()
    assert next(n for n in at.number_input if n.label.startswith("Page (of")).value == 2
    next(b for b in at.button if b.label == "Previous").click().run()
    assert next(n for n in at.number_input if n.label.startswith("Page (of")).value == 1
    quick = [b for b in at.button if b.label.endswith(" ticked")]
    assert [b.label for b in quick] == ["Reject ticked", "Restore ticked", "Normal ticked", "Anomaly ticked"]
    assert all(b.disabled for b in quick)  # nothing ticked yet
    assert not at.exception


def test_review_shows_what_itsr_set_aside_as_suggestions(store):
    exp, _ = store
    from core.services import runs

    itsr = next(r for r in runs.list_runs(exp.id) if r.detector == "aae_itsr")
    at = page("review", run_id=itsr.id)  # as if picked on another page
    at.radio[0].set_value("suggested by the detector").run()
    assert not at.exception
    shown = int(at.caption[0].value.split(" samples")[0])
    assert shown > 0 and "aae_itsr" in at.caption[0].value
    assert "set aside at step" in at.dataframe[0].value.columns
    # what refinement did, counted from the run's own arrays
    refined = runs.refinement(runs.results(itsr.id))
    assert refined["set_aside"] == shown == sum(refined["per_step"].values()) and 0 < refined["negative"] <= shown
    assert f"set aside {shown} of {refined['train']} training images" in at.caption[1].value
    weights = at.dataframe[0].value["training weight"]
    assert (weights <= 0).all() and (weights < 0).any()  # set aside: weight 0, or negative for the worst rebuilt
    # a detector that sets nothing aside gets no such column
    _, autoencoder = store
    plain = page("review", run_id=autoencoder.id)
    assert "set aside at step" not in plain.dataframe[0].value.columns and "training weight" not in plain.dataframe[0].value.columns


def test_scores_offer_a_consensus_of_the_rounds_detectors(store):
    at = page("scores")
    picker = next(w for w in at.sidebar.selectbox if w.label == "Score")
    assert "consensus" in picker.options
    picker.set_value("consensus").run()
    assert not at.exception
    flagged = int(next(m for m in at.metric if m.label.startswith("Flagged")).value.split(" / ")[0])
    next(b for b in at.button if b.label.startswith("Select the")).click().run()
    exp, _ = store
    assert len(at.session_state[f"selection:{exp.id}"]) == flagged > 0


def test_train_page_says_which_detectors_need_one_normal_class(digits):
    from core.services import experiments

    assert not [i for i in page("train", experiment_id=digits.id).info if "normal classes" in i.value]  # one normal class
    several = experiments.create_experiment("digits", ["0", "1", "2"], ["7"], 0.05, "three normal")
    (note,) = [i.value for i in page("train", experiment_id=several.id).info if "normal classes" in i.value]
    assert note.startswith("This experiment has 3 normal classes. **Robust adversarial autoencoder with training-set refinement (Beggel et al.)** (`aae_itsr`) models")


def test_train_page_queues_every_detector(store):
    exp, _ = store
    from core.models import registry
    from core.services import runs

    at = page("train")
    before = {r.id for r in runs.list_runs(exp.id)}
    at.multiselect[0].set_value(list(registry.NAMES))
    next(b for b in at.button if b.label == "Train").click().run()
    assert at.success and f"Queued {len(registry.NAMES)} job(s)" in at.success[0].value
    queued = [r for r in runs.list_runs(exp.id) if r.id not in before]
    assert sorted(r.detector for r in queued) == sorted(registry.NAMES)
    assert all(r.preset == "quick" for r in queued)
