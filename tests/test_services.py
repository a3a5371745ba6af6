"""Store and services: datasets, experiments, decisions, rounds, metrics."""
import numpy as np
import pytest

from core.services import datasets, experiments, metrics, review, rounds, runs
from core.store import db


def test_import_lands_whole_and_names_are_unique(home):
    ds = datasets.import_dataset("builtin:digits", "digits")
    assert (ds.n, ds.size, ds.channels, len(ds.classes)) == (1797, 16, 1, 10)
    assert datasets.images(ds.id).shape == (1797, 16, 16, 1)
    assert sum(ds.class_counts) == 1797
    with pytest.raises(ValueError, match="already taken"):
        datasets.import_dataset("builtin:digits", "digits")
    assert [d.name for d in datasets.list_datasets()] == ["digits"]


def test_failed_import_leaves_nothing_behind(home, tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ValueError, match="broken.zip"):
        datasets.import_dataset(str(bad), "broken")
    assert datasets.list_datasets() == []
    assert not [p for p in (home / "datasets").glob("*")] if (home / "datasets").exists() else True


def test_upload_names_cannot_escape_the_staging_folder(home, tmp_path):
    import io
    import zipfile

    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ("a", "b"):
            for i in range(3):
                img = io.BytesIO()
                Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(img, "PNG")
                z.writestr(f"set/{cls}/{i}.png", img.getvalue())
    ds = datasets.import_uploads([("../../evil/up.zip", buf.getvalue())], "uploaded")
    assert ds.classes == ["a", "b"] and ds.n == 6
    assert not (home.parent / "evil").exists()
    assert not any((home / "uploads").iterdir())  # staging removed


def test_upload_errors_name_the_users_files_never_the_staging_folder(home, tmp_path, monkeypatch):
    idx = b"\x00\x00\x08\x01" + b"garbage"  # two files that hold no image between them
    with pytest.raises(ValueError) as err:
        datasets.import_uploads([("labels-idx1-ubyte", idx), ("notes.gz", b"not gzip")], "pair")
    assert str(err.value).startswith("no images found in the uploaded files: 2 files skipped (")
    assert "uploads" not in str(err.value) and str(home) not in str(err.value)
    # an upload is judged by its name alone, never by what the server's working folder holds
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    with pytest.raises(ValueError, match=r"^photos: not a file Winnow imports; upload several loose images at once"):
        datasets.import_uploads([("photos", b"raw bytes")], "photos")
    with pytest.raises(ValueError, match=r"set\.zip: a \.zip or \.npz is a whole dataset, so upload it on its own"):
        datasets.import_uploads([("set.zip", b"PK"), ("train-labels-idx1-ubyte", idx)], "mixed")
    with pytest.raises(ValueError, match=r"b-idx1-ubyte: two uploaded files share this name"):
        datasets.import_uploads([("x/b-idx1-ubyte", idx), ("y/b-idx1-ubyte", idx)], "twice")
    with pytest.raises(ValueError, match=r"photo\.png: one image is not a dataset; upload several loose images at once, a \.zip of class folders"):
        datasets.import_uploads([("photo.png", b"\x89PNG")], "one")
    assert datasets.list_datasets() == [] and not any((home / "uploads").iterdir())


def test_an_uploaded_dataset_records_the_uploaded_file_as_its_source(home):
    import io

    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, 1]))
    ds = datasets.import_uploads([("parts.npz", buf.getvalue())], "parts")
    assert ds.source == "upload: parts.npz"  # not a staging path that is gone once the import ends
    assert datasets.suggest_name(["t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]) == "t10k"
    assert datasets.suggest_name(["parts.v2.zip"]) == "parts" and datasets.suggest_name([]) == ""


def test_experiment_stores_split_and_first_round(digits):
    exp = digits
    train = experiments.round_train_idx(experiments.latest_round(exp.id).id)
    test = experiments.test_idx(exp)
    truth = experiments.truth(exp)
    assert len(train) == exp.n_train and len(test) == exp.n_test
    assert (truth[train] == 1).sum() == exp.n_train_anomalies > 0
    with pytest.raises(ValueError, match="unknown class 'seven'"):
        experiments.create_experiment("digits", ["seven"], ["1"], 0.1, "x")


def test_decisions_are_appended_and_replayed(digits):
    review.decide(digits.id, [5, 6, 7], "reject", user="ana", view="test")
    review.decide(digits.id, [6], "restore", user="bo", view="test")
    review.decide(digits.id, [7], "anomaly")
    review.decide(digits.id, [7], "normal")
    trail = review.trail(digits.id)
    assert list(trail.action) == ["reject"] * 3 + ["restore", "anomaly", "normal"]
    state = review.current_state(digits.id)
    assert state.loc[5, "status"] == "rejected" and state.loc[6, "status"] == "active"
    assert state.loc[7, "label"] == "normal" and state.loc[7, "status"] == "rejected"
    assert sorted(review.rejected(digits.id)) == [5, 7]
    with pytest.raises(ValueError, match="unknown action"):
        review.decide(digits.id, [1], "delete")


def test_retrain_drops_rejected_samples_and_restore_brings_them_back(digits):
    train = experiments.round_train_idx(experiments.latest_round(digits.id).id)
    truth = experiments.truth(digits)
    contaminants = train[truth[train] == 1]
    review.decide(digits.id, contaminants, "reject")
    rnd, queued = rounds.retrain(digits.id, ["autoencoder"])
    assert rnd.number == 2 and len(queued) == 1 and queued[0].status == "queued"
    r2 = experiments.round_train_idx(rnd.id)
    assert len(r2) == len(train) - len(contaminants) and not np.isin(contaminants, r2).any()
    review.decide(digits.id, contaminants[:1], "restore")
    rnd3, _ = rounds.retrain(digits.id, ["autoencoder"])
    assert contaminants[0] in experiments.round_train_idx(rnd3.id)
    table = rounds.table(digits.id)
    assert list(table.drop_duplicates("round")["contaminants left"]) == [len(contaminants), 0, 1]


def test_cancel_a_queued_run_takes_effect_at_once(digits):
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], start_worker=False)
    assert runs.cancel(run.id).status == "cancelled"
    with pytest.raises(ValueError, match="no run 999"):
        runs.cancel(999)


def test_queue_refuses_bad_hyperparameters_with_their_name(digits):
    with pytest.raises(ValueError, match="epochs"):
        runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": -3}}, start_worker=False)
    with pytest.raises(ValueError, match="unknown detector"):
        runs.queue_runs(digits.id, ["nope"], start_worker=False)


def test_metrics_at_threshold_and_ranks():
    truth = np.array([0, 0, 0, 1, 1, -1])
    scores = np.array([0.1, 0.2, 0.6, 0.5, 0.9, 5.0])
    m = metrics.at_threshold(truth, scores, 0.5)
    assert m["flagged"] == 4 and m["tp"] == 2
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0
    assert metrics.auroc_ap(truth, scores)["auroc"] == pytest.approx(5 / 6)
    assert metrics.auroc_ap(np.zeros(4), np.arange(4)) == {}
    assert list(metrics.percentile_rank([1, 2, 3, 4], [0, 2.5, 9])) == [0, 50, 100]


def test_auroc_each_ranks_every_score_on_the_same_samples():
    truth = np.array([0, 0, 0, 1, 1, 1, -1])
    good = np.array([0.1, 0.75, 0.3, 0.7, 0.8, 0.9, 5.0])  # 8/9 on its own, its one miss sample 1
    holey = np.array([0.9, np.nan, 0.1, 0.2, 0.8, 0.3, 0.0])  # so sample 1 is left out for both
    each = metrics.auroc_each(truth, {"good": good, "holey": holey, "empty": np.full(7, np.nan)})
    assert each == {"good": 1.0, "holey": 0.5}  # a score with no finite value drops out alone
    assert metrics.auroc_each(np.zeros(3), {"a": np.arange(3.0)}) == {}  # no anomaly known: nothing to rank


def test_better_score_needs_the_margin():
    assert metrics.better_score({"score": 0.80, "score_recon": 0.85}, "score") == "score_recon"  # exactly 5 points
    assert metrics.better_score({"score": 0.80, "score_recon": 0.849}, "score") is None
    assert metrics.better_score({"score": 0.90, "score_recon": 0.60}, "score") is None  # already the best
    assert metrics.better_score({"score": 0.80, "score_recon": 0.95}, "score_recon") is None
    assert metrics.better_score({"score_recon": 0.95}, "score") is None  # the chosen one is not ranked
    assert metrics.better_score({}, "score") is None


def test_store_uses_wal(home):
    from sqlalchemy import text

    with db.engine().connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_exports_round_trip_without_pickle(digits, tmp_path):
    import io

    import pandas as pd

    train = experiments.round_train_idx(experiments.latest_round(digits.id).id)
    review.decide(digits.id, train[:3], "reject", user="ana", view="test")
    review.decide(digits.id, train[3:4], "anomaly")
    trail = review.trail(digits.id)
    back = pd.read_parquet(io.BytesIO(review.table_bytes(trail, "parquet")))
    assert list(back.action) == ["reject", "reject", "reject", "anomaly"] and list(back.user[:3]) == ["ana"] * 3
    labels = review.labels_table(digits.id)
    assert set(labels["sample"]) == set(train[:4]) and labels["name"].str.startswith("digits/").all()
    files = review.cleaned_file_list(digits.id)
    assert len(files) == len(train) - 3 and not files["sample"].isin(train[:3]).any()
    (tmp_path / "clean.npz").write_bytes(review.cleaned_npz(digits.id))
    with np.load(tmp_path / "clean.npz", allow_pickle=False) as z:
        assert z["x"].shape == (len(train) - 3, 16, 16, 1) and list(z["names"]) == list(files["name"])
    with pytest.raises(ValueError, match="unknown format"):
        review.table_bytes(trail, "xlsx")


def test_disagreement_and_history_across_detectors_and_rounds(digits):
    from core.services import pipeline

    queued = runs.queue_runs(digits.id, ["autoencoder", "ganomaly"], params={"autoencoder": {"epochs": 3}, "ganomaly": {"epochs": 3}}, start_worker=False)
    for r in queued:
        pipeline.execute_run(r.id)
    table = runs.percentiles_by_detector(queued[0].round_id)
    assert table.shape[1] == 4 and {"consensus", "disagreement"} <= set(table.columns)
    ranks = table.iloc[:, :2]
    assert np.allclose(table["consensus"], ranks.mean(axis=1)) and (table["disagreement"] >= 0).all()
    sample = int(table.index[0])
    history = runs.score_history(digits.id, sample)
    assert list(history.detector) == ["autoencoder", "ganomaly"] and (history["round"] == 1).all()


def test_an_older_store_gains_new_columns_and_keeps_its_rows(home):
    import sqlite3

    from core.store.tables import Round

    datasets.import_dataset("builtin:digits", "digits")
    experiments.create_experiment("digits", ["0"], ["1"], 0.05, "old")
    db.reset_engines()
    with sqlite3.connect(home / "winnow.db") as c:  # a store from before the `n_removed` column
        c.execute("ALTER TABLE rounds DROP COLUMN n_removed")
    with db.session() as s:
        rnd = s.get(Round, 1)
    assert rnd.n_removed == 0 and rnd.n_train > 0


def test_refinement_counts_only_what_the_detector_set_aside():
    import pandas as pd

    df = pd.DataFrame({
        "part": ["train"] * 6 + ["test"],
        "suggested": [0, 1, 1, 2, 0, 0, 0],
        # sample 4: kept; sample 5: an anomaly the user confirmed, weighted negative by the caller, not by refinement
        "fit_weight": [1.0, 0.0, -0.1, -0.1, 1.0, -1.0, float("nan")],
    })
    assert runs.refinement(df) == {"train": 6, "set_aside": 3, "per_step": {1: 2, 2: 1}, "negative": 2}
    assert runs.refinement(df.assign(suggested=0)) is None  # a detector that sets nothing aside
