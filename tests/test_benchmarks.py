"""The README's generated tables match the results they come from."""
import contextlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import readme
from tests.conftest import ROOT


def test_readme_sections_regenerate_unchanged():
    text = readme.README.read_text()
    assert readme.render(text) == text, "README tables differ from benchmarks/results: run python -m benchmarks.readme"
    runs = readme.RUNS.read_text()
    assert readme.render(runs, readme.RUNS_SECTIONS) == runs, "benchmarks/RUNS.md differs from benchmarks/results: run python -m benchmarks.readme"


def test_readme_links_to_every_runs_section_by_an_anchor_that_exists():
    import re

    # GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces to hyphens
    headings = re.findall(r"^#+ (.+)$", readme.RUNS.read_text(), re.M)
    anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    links = set(re.findall(r"\(benchmarks/RUNS\.md#([\w-]+)\)", readme.README.read_text()))
    assert links == set(readme.RUNS_ANCHORS.values()) and links <= anchors
    for protocol, name in (("one-class", "one_class_runs"), ("leave-one-out", "leave_one_out_runs")):
        records = readme.saved(f"{protocol}-*.json")
        section = readme.RUNS_SECTIONS[name]()
        # every run's command is in RUNS.md, none is left behind in the README
        assert section.count("Command: `") == len(records) > 0
        assert "Command: `" not in readme.SECTIONS[name.removesuffix("_runs")]()


def test_a_record_says_plus_changes_only_when_code_differs_from_its_commit():
    from benchmarks.common import code_changed

    assert not code_changed("")
    # results, the README and untracked non-code (a symlinked venv, a log) leave the commit whole
    assert not code_changed("?? .venv\n?? benchmarks/results/new.json\n M README.md\n?? bench.log\n")
    assert code_changed(" M core/models/ganomaly.py\n")  # X is a space: the path must survive
    assert code_changed("?? benchmarks/new_protocol.py\n")  # new code, not yet added
    assert code_changed("A  core/x.py\n") and code_changed("?? .venv\nM  requirements.txt\n")


def test_records_carry_a_cpu_probe_at_the_start_and_end_and_the_readme_stamps_it():
    import torch

    from benchmarks import common

    threads = torch.get_num_threads()
    record = common.environment()
    assert 0 < record["cpu_probe_ms"] < 60_000 and torch.get_num_threads() == threads  # the probe's one thread is given back
    stamp = readme._stamp(record | {"preset": "quick", "cpu_probe_end_ms": 91.5, "cpu_probe_ms": 45.0})
    assert f"{record['machine']} (CPU probe 45 ms, 91.5 at the end), torch" in stamp
    assert "CPU probe" not in readme._stamp({k: v for k, v in record.items() if k != "cpu_probe_ms"} | {"preset": "quick"})  # older records


def test_speed_table_lists_every_detector():
    from core.models import registry

    section = readme.speed_section()
    for name in registry.NAMES:
        assert f"| {name} |" in section


@pytest.mark.slow
def test_speed_quick_mode_measures_every_detector_apart_and_saves_nothing():
    from benchmarks import common, speed
    from core.models import registry

    before = set(common.RESULTS.glob("*.json"))
    record = speed.main(["--quick", "--device", "cpu"])
    assert [r["detector"] for r in record["rows"]] == list(registry.NAMES)
    for r in record["rows"]:
        assert r["paper train img/s"] > 0 and r["quick score img/s"] > 0
    # the deep detectors hold activations and optimiser state: training them grows the process
    assert max(r["paper peak memory (MB)"] for r in record["rows"]) > 0
    assert "| knn |" in speed.table(record)
    assert set(common.RESULTS.glob("*.json")) == before


def test_page_speed_quick_mode_measures_both_pages_and_saves_nothing(home):
    from benchmarks import common, page_speed

    before = set(common.RESULTS.glob("*.json"))
    record = page_speed.main(["--quick"])
    assert record["points"] == 1797 and record["pages"]["latent_map"]["figure_bytes"] > 0
    assert set(record["umap_warm_s"]) == {"1000"} and record["umap_warm_s"]["1000"] > 0
    for m in record["pages"].values():
        assert all(v > 0 for v in m.values())
    assert "| Scores | threshold moved | 1797 scores |" in page_speed.table(record)
    assert set(common.RESULTS.glob("*.json")) == before


def test_queue_overhead_quick_mode_loses_nothing_and_saves_nothing(home):
    from benchmarks import common, queue_overhead

    before = set(common.RESULTS.glob("*.json"))
    record = queue_overhead.main(["--quick"])
    (b,) = record["backends"].values()
    assert b["jobs"] == 20 and b["lost"] == 0 and b["run_twice"] == 0 and b["drain_s"] > 0
    assert record["train_page"]["jobs"] == 20 and record["train_page"]["page_s"] > 0
    # the cold figure includes starting the worker and importing torch; the warm one does not
    assert record["first_histogram"]["cold_s"] > record["first_histogram"]["warm_s"] > 0
    assert "| SQLite (one machine) |" in queue_overhead.table(record)
    assert set(common.RESULTS.glob("*.json")) == before


def test_table1_quick_mode_reports_balanced_accuracy_on_both_test_sets(home):
    from benchmarks import common, table1

    before = set(common.RESULTS.glob("*.json"))
    record = table1.main(["--quick"])
    assert [r["detector"] for r in record["rows"]] == ["autoencoder", "aae_itsr"]
    for r in record["rows"]:
        assert r["contaminants"] > 0 and r["train"] > r["contaminants"]
        for part in ("observed", "unobserved"):
            assert 0 <= r[part]["bacc"] <= 1 and 0 <= r[part]["auroc"] <= 1 and r[part]["n"] > 0
            # the robust AAE's two criteria are also scored apart
            assert ("bacc_recon" in r[part]) == (r["detector"] == "aae_itsr")
            assert 0 <= r[part].get("bacc_recon", 0) <= 1 and 0 <= r[part].get("bacc_prior", 0) <= 1
            assert ("tpr_prior" in r[part]) == (r["detector"] == "aae_itsr") and 0 <= r[part].get("tpr_prior", 0) <= 1
    # and what its refinement set aside, counted over the training set it was given
    itsr = record["rows"][1]["itsr"]
    assert "itsr" not in record["rows"][0]
    assert itsr["contaminants"] == record["rows"][1]["contaminants"] and itsr["contaminants"] + itsr["normals"] == record["rows"][1]["train"]
    assert itsr["contaminants_set_aside"] + itsr["normals_set_aside"] > 0
    assert itsr["contaminants_negative"] <= itsr["contaminants_set_aside"] and itsr["normals_negative"] <= itsr["normals_set_aside"]
    rank = itsr["contaminants_negative_prior_rank"]
    assert rank is None if itsr["contaminants_negative"] == 0 else 0 <= rank < 100
    text = table1.table(record)
    assert "| observed | digits 0 vs 2 | 5 % |" in text and "| unobserved | digits 0 vs 2 | 5 % |" in text
    assert set(common.RESULTS.glob("*.json")) == before


def test_itsr_trace_quick_mode_measures_every_phase_and_saves_nothing(home):
    from benchmarks import common, itsr_trace

    before = set(common.RESULTS.glob("*.json"))
    record = itsr_trace.main(["--quick"])
    assert len(record["runs"]) == 2 and record["contaminants"] > 0
    for run in record["runs"]:
        snaps = run["snapshots"]
        # every epoch measured (--every 1), each in its phase: 2 pretraining, 2 refinement steps of 1, 2 retraining
        assert [s["epoch"] for s in snaps] == [1, 2, 3, 4, 5, 6]
        assert [s["phase"] for s in snaps] == ["pretrain", "pretrain", "refine 1", "refine 2", "retrain", "retrain"]
        assert snaps[0]["set_aside"] == snaps[0]["negative"] == 0 and snaps[3]["set_aside"] >= snaps[2]["set_aside"] > 0
        assert all(0 <= s["planted_rank"] <= 100 and 0 <= s["tpr"] <= 1 and 0 <= s["fpr"] <= 1 and 0 <= s["auroc"] <= 1 for s in snaps)
        assert all(s["negative_rank"] is None for s in snaps if s["negative"] == 0)
        assert 0 <= run["final"]["observed"]["bacc_prior"] <= 1 and run["final"]["itsr"]["contaminants"] == record["contaminants"]
    text = itsr_trace.table(record)
    assert "| 3 | refine 1 |" in text and "at the end, Table 1's balanced accuracy observed / unobserved: the paper's rule" in text
    assert set(common.RESULTS.glob("*.json")) == before
    assert itsr_trace.phase(501, {"pretrain_epochs": 500, "refine_epochs": 100, "refinements": 10, "refine": True}) == "refine 1"
    assert itsr_trace.phase(1501, {"pretrain_epochs": 500, "refine_epochs": 100, "refinements": 10, "refine": True}) == "retrain"
    assert itsr_trace.phase(501, {"pretrain_epochs": 500, "refine_epochs": 100, "refinements": 10, "refine": False}) == "retrain"


def test_table1_sets_follow_the_papers_protocol():
    import numpy as np

    from benchmarks.table1 import balanced_accuracy, make_sets

    labels = np.repeat(np.arange(3), 100)
    train_mask = np.tile(np.r_[np.ones(80, bool), np.zeros(20, bool)], 3)
    s = make_sets(labels, train_mask, ["a", "b", "c"], "a", "b", 0.05, 0)
    assert s["contaminants"] == 4 and (labels[s["train"]] == 1).sum() == 4 and train_mask[s["train"]].all()
    assert (s["planted"] == (labels[s["train"]] == 1)).all()
    assert (labels[s["observed"]] == 0).sum() == (labels[s["observed"]] == 1).sum() == 20  # 1:1
    assert set(labels[s["unobserved"]]) == {0, 2} and not train_mask[s["unobserved"]].any()
    assert balanced_accuracy(np.array([0, 0, 1, 1]), np.array([False, True, True, True])) == 0.75


def test_table1_counts_what_the_refinement_set_aside_in_each_part_of_the_training_set():
    import numpy as np

    from benchmarks.table1 import refinement

    planted = np.array([0, 0, 1, 0, 0, 0, 1, 0, 1], bool)  # three contaminants among six normal images
    set_aside = np.array([0, 1, 1, 0, 0, 1, 0, 0, 1], bool)
    negative = np.array([0, 0, 0, 0, 0, 1, 0, 0, 1], bool)
    assert refinement(set_aside, negative, planted) == {
        "contaminants": 3, "normals": 6, "contaminants_set_aside": 2, "normals_set_aside": 2, "contaminants_negative": 1, "normals_negative": 1,
    }


def _table1_record(time: str, alphas: str, detectors: str, bacc: float, seed: int = 0) -> dict:
    """A hand-made Table 1 record: MNIST 0 vs 2, every α and detector at one balanced accuracy."""
    cell = lambda d: {"bacc": bacc} | ({"bacc_recon": 0.9, "bacc_prior": 0.6} if d == "aae_itsr" else {})  # noqa: E731
    rows = [
        {"pair": "mnist-0-2", "alpha": float(a), "detector": d, "observed": cell(d), "unobserved": cell(d)}
        for a in alphas.split(",") for d in detectors.split(",")
    ]
    return {"time": time, "date": time[:10], "pairs": "mnist-0-2", "alphas": alphas, "detectors": detectors, "seed": seed, "preset": "quick", "rows": rows}


def test_table1_runs_that_differ_in_any_setting_keep_their_own_files():
    from benchmarks import common, table1

    base = {"pairs": "mnist-0-2", "detectors": "aae,aae_itsr", "alphas": "0.01,0.001", "preset": "quick", "epochs": None, "seed": 1}
    variants = [base] + [base | {k: v} for k, v in [("pairs", "tshirt-boot"), ("detectors", "aae"), ("alphas", "0.05"), ("preset", "paper"), ("epochs", 5), ("seed", 2)]]
    assert len({table1.file_name(v) for v in variants}) == len(variants)
    # every saved record is found again under its own name
    for path in common.RESULTS.glob("table1-*.json"):
        assert table1.file_name(json.loads(path.read_text())) + ".json" == path.name


def test_one_class_runs_that_differ_in_any_setting_keep_their_own_files():
    from benchmarks import common, one_class

    base = {"benchmark": "one-class", "datasets": "mnist", "classes": "all", "contamination": "0.05,0.2", "detectors": "aae_itsr", "seeds": "0", "preset": "quick", "epochs": None}
    changes = [("benchmark", "leave-one-out"), ("datasets", "fashion"), ("classes", "8,9"), ("contamination", "0.2"), ("detectors", "knn"), ("seeds", "1,2"), ("preset", "paper"), ("epochs", 5)]
    variants = [base] + [base | {k: v} for k, v in changes]
    assert len({one_class.file_name(v) for v in variants}) == len(variants)
    # every saved record is found again under its own name
    saved = list(common.RESULTS.glob("one-class-*.json")) + list(common.RESULTS.glob("leave-one-out-*.json"))
    assert saved
    for path in saved:
        assert one_class.file_name(json.loads(path.read_text())) + ".json" == path.name


def test_table1_runs_merge_cell_by_cell_the_newer_run_winning():
    from benchmarks import table1

    old = _table1_record("2026-11-23T01:00:00Z", "0.01,0.001", "autoencoder,aae_itsr", 0.80)
    rerun = _table1_record("2026-11-23T09:00:00Z", "0.01", "aae_itsr", 0.95)  # a fixed detector, one α
    wider = _table1_record("2026-11-23T05:00:00Z", "0.05", "autoencoder,aae_itsr", 0.70)  # a new α
    stale = _table1_record("2026-11-22T05:00:00Z", "0.01", "aae_itsr", 0.10)  # replaced everywhere
    record, used = table1.merged([rerun, stale, old, wider])
    assert used == [old, wider, rerun]  # oldest first; the fully replaced run is not listed
    got = {(r["alpha"], r["detector"]): r["observed"]["bacc"] for r in record["rows"]}
    assert got == {
        (0.05, "autoencoder"): 0.70, (0.05, "aae_itsr"): 0.70,
        (0.01, "autoencoder"): 0.80, (0.01, "aae_itsr"): 0.95,
        (0.001, "autoencoder"): 0.80, (0.001, "aae_itsr"): 0.80,
    }
    assert [(r["alpha"], r["detector"]) for r in record["rows"]][:2] == [(0.05, "autoencoder"), (0.05, "aae_itsr")]
    lines = table1.table(record).splitlines()
    assert lines[2].startswith("| observed | MNIST 0 vs 2 | 5 % | 0.70 | 0.70 |")  # no paper column at 5 %
    assert "| observed | MNIST 0 vs 2 | 1 % | 0.80 / 0.69 | 0.95 / 0.94 |" in lines
    (ae, itsr) = table1.verdicts(record)
    assert "within 0.03 of the paper or above in all 4 cells" in ae
    assert itsr.startswith("`aae_itsr`: 2 of 4 cells more than 0.03 below the paper")
    assert "mean balanced accuracy over all 6 results (test set × pair × α × seed): both (the paper's rule) 0.82, reconstruction error alone 0.90, prior likelihood alone 0.60." in itsr
    # another seed adds to a cell instead of replacing it: mean ± std over seeds, verdicts on the mean
    seed1 = _table1_record("2026-11-23T10:00:00Z", "0.01", "aae_itsr", 0.85, seed=1)
    record, used = table1.merged([rerun, stale, old, wider, seed1])
    assert used == [old, wider, rerun, seed1] and len(record["rows"]) == 7
    assert "| observed | MNIST 0 vs 2 | 1 % | 0.80 / 0.69 | 0.90 ± 0.07 / 0.94 |" in table1.table(record)
    (_, itsr) = table1.verdicts(record)
    assert "observed MNIST 0 vs 2 α 1 %: 0.90 against 0.94" in itsr and "refinement" not in itsr
    # the refinement's catch, pooled over the fits that recorded it (here one of four)
    seed1["rows"][0]["itsr"] = {"contaminants": 60, "normals": 5923, "contaminants_set_aside": 45, "normals_set_aside": 1000, "contaminants_negative": 15, "normals_negative": 30}
    (_, itsr) = table1.verdicts(table1.merged([rerun, stale, old, wider, seed1])[0])
    assert "Its refinement, in the fits that recorded it: on MNIST 0 vs 2 (1 fit) set aside 75 % of the planted contaminants and 17 % of the normal images," in itsr
    assert "gave the negative weight to 25 % of the contaminants and 0.5 % of the normal images." in itsr
    assert "flags" not in itsr and "prior-improbability rank" not in itsr  # no fit recorded them
    # where the negative weight put the contaminants' codes, and what the prior criterion caught alone
    seed1["rows"][0]["itsr"]["contaminants_negative_prior_rank"] = 97.4
    seed1["rows"][0]["observed"]["tpr_prior"], seed1["rows"][0]["unobserved"]["tpr_prior"] = 0.3, 0.1
    (_, itsr) = table1.verdicts(table1.merged([rerun, stale, old, wider, seed1])[0])
    assert "prior likelihood alone 0.60 (it flags 20.0 % of the test anomalies, in the 2 results that recorded it)." in itsr
    assert "0.5 % of the normal images; the negatively weighted contaminants' codes then sat at a median prior-improbability rank of 97 in their training set (100 = least likely" in itsr
    # fits of different lengths are never averaged or replaced as if they were seeds
    longer = _table1_record("2026-11-23T11:00:00Z", "0.01", "aae_itsr", 0.99, seed=2) | {"epochs": 5}
    with pytest.raises(ValueError, match="different presets or epochs"):
        table1.merged([old, longer])


def test_table1_section_gives_each_preset_and_length_its_own_table(monkeypatch):
    from benchmarks import readme

    stamp = {"machine": "M", "torch": "t", "threads": 1, "commit": "c"}
    quick = [_table1_record("2026-11-23T01:00:00Z", "0.01", "aae_itsr", 0.80, seed=s) | stamp for s in (0, 1)]
    paper = _table1_record("2026-11-24T01:00:00Z", "0.01", "aae_itsr", 0.95) | stamp | {"preset": "paper"}
    monkeypatch.setattr(readme, "saved", lambda pattern: [*quick, paper])
    text = readme.table1_section()  # the merge refuses mixed lengths: the section must split them
    paper_part, quick_part = text.split("**Quick preset.** ")
    assert paper_part.startswith("**Paper preset.** ")  # the paper's settings first
    assert "| observed | MNIST 0 vs 2 | 1 % | 0.95 / 0.94 |" in paper_part and "--preset paper" in paper_part
    assert "| observed | MNIST 0 vs 2 | 1 % | 0.80 ± 0.00 / 0.94 |" in quick_part and "--preset paper" not in quick_part
    monkeypatch.setattr(readme, "saved", lambda pattern: quick)
    assert not readme.table1_section().startswith("**")  # one length: no heading


def test_table1_detector_specs_override_a_preset_and_keep_their_paper_column():
    from benchmarks import common, table1

    assert common.resolve("aae_itsr:nu=0.02") == ("aae_itsr", {"nu": 0.02})
    assert common.resolve("aae:hidden=512:arch=mlp") == ("aae_itsr", {"refine": False, "hidden": 512, "arch": "mlp"})
    assert common.ALIASES["aae"] == ("aae_itsr", {"refine": False})  # the alias itself is not changed
    assert table1.paper_column("aae_itsr:nu=0.02") == table1.PAPER_COLUMN["aae_itsr"] and table1.paper_column("ganomaly:epochs=3") is None
    with pytest.raises(ValueError, match="key=value"):
        common.resolve("aae_itsr:nu")
    name = table1.file_name({"pairs": "mnist-0-2", "detectors": "aae_itsr:nu=0.02", "alphas": "0.01", "preset": "quick", "seed": 1})
    assert name == "table1-mnist-0-2-aae_itsr_nu_0.02-0.01-quick-s1-cpu"
    # its own column beside the preset's, held to the paper's aae_itsr column
    plain = _table1_record("2026-11-23T01:00:00Z", "0.01", "aae_itsr", 0.80)
    tuned = _table1_record("2026-11-23T02:00:00Z", "0.01", "aae_itsr:nu=0.02", 0.93)
    record, _ = table1.merged([plain, tuned])
    assert "| observed | MNIST 0 vs 2 | 1 % | 0.80 / 0.94 | 0.93 / 0.94 |" in table1.table(record)
    lines = table1.verdicts(record)
    assert [line.split(":")[0] for line in lines] == ["`aae_itsr`", "`aae_itsr"] and "`aae_itsr:nu=0.02`: within 0.03" in lines[1]
    # a typo fails before any fit
    with pytest.raises(SystemExit):
        table1.main(["--quick", "--detectors", "aae_itsr:nu=0.9"])


def test_table1_paper_preset_retrains_itsr_the_papers_epochs_on_fashion_mnist(monkeypatch):
    from benchmarks import common, table1
    from core.models import registry

    preset = registry.get("aae_itsr").PRESETS["paper"]["epochs"]
    assert preset == 1000 and table1.PAPER_RETRAIN == {"tshirt-boot": 500, "tshirt-pullover": 500}  # methods.md §3
    assert table1.paper_schedule("aae_itsr:hidden=256", "tshirt-boot", "paper", None) == {"epochs": 500}
    assert table1.paper_schedule("aae_itsr", "mnist-0-2", "paper", None) == {}  # the preset is MNIST's
    assert table1.paper_schedule("aae_itsr", "tshirt-boot", "quick", None) == {}
    assert table1.paper_schedule("aae", "tshirt-boot", "paper", None) == {}  # the paper gives the AAE none
    assert table1.paper_schedule("aae_itsr:epochs=700", "tshirt-boot", "paper", None) == {}  # what the user set wins
    assert table1.paper_schedule("aae_itsr", "tshirt-boot", "paper", 3) == {}
    # the fit gets the schedule; the row keeps the user's spec as its column and records the schedule
    fitted, saved = [], []
    fake = lambda cell: fitted.append(cell[2]) or {"fit_s": 0.0, "observed": {"bacc": 0.5}, "unobserved": {"bacc": 0.5}}  # noqa: E731
    monkeypatch.setattr(table1, "cell_map", lambda jobs: contextlib.nullcontext(lambda f, cells: map(fake, cells)))
    monkeypatch.setattr(common, "keep", lambda record, name: None)
    monkeypatch.setattr(common, "finish", lambda record, name, text: saved.append(record) or record)
    table1.main(["--pairs", "mnist-0-2,tshirt-boot", "--alphas", "0.01", "--detectors", "aae_itsr:hidden=256,aae", "--preset", "paper"])
    assert fitted == ["aae_itsr:hidden=256", "aae", "aae_itsr:hidden=256:epochs=500", "aae"]
    rows = saved[0]["rows"]
    assert [(r["pair"], r["detector"], r.get("schedule")) for r in rows] == [
        ("mnist-0-2", "aae_itsr:hidden=256", None), ("mnist-0-2", "aae", None),
        ("tshirt-boot", "aae_itsr:hidden=256", {"epochs": 500}), ("tshirt-boot", "aae", None),
    ]
    assert common.make_detector(fitted[2], np.zeros((1, 28, 28, 1)), "paper", None).params["epochs"] == 500
    # the README says which cells ran it, and which ran before it was applied
    note = table1.schedule_note(rows)
    assert "`aae_itsr:hidden=256` on T-shirt vs Boot, 500." in note and "MNIST 0 vs 2" not in note and "`aae`" not in note
    older = {k: v for k, v in rows[2].items() if k != "schedule"} | {"detector": "aae_itsr"}
    assert "`aae_itsr` on T-shirt vs Boot, 1,000 (it ran before the benchmark applied the paper's 500)." in table1.schedule_note([older])
    assert table1.schedule_note(rows[:2]) == ""
    # cells of one pair that ran at both lengths say which α ran which
    newer = rows[2] | {"detector": "aae_itsr", "alpha": 0.001}
    assert "`aae_itsr` on T-shirt vs Boot, 1,000 at α 1 % (it ran before the benchmark applied the paper's 500) and 500 at α 0.1 %." in table1.schedule_note([older, newer])


@pytest.mark.parametrize("module, args, message", [
    ("table1", ["--pairs", "tshirt-bot"], "argument --pairs: unknown 'tshirt-bot'; choose from mnist-0-2, tshirt-boot"),
    ("table1", ["--alphas", "0.01,1%"], "argument --alphas: '0.01,1%': give fractions such as 0.01,0.001 (not percentages)"),
    ("table1", ["--alphas", "5"], "argument --alphas: '5': each fraction must be at least 0 and below 1"),
    ("one_class", ["--datasets", "mnist,fashon"], "argument --datasets: unknown 'fashon'; choose from mnist, fashion, digits"),
    ("one_class", ["--contamination", "0,10"], "argument --contamination: '0,10': each fraction must be at least 0 and below 1"),
    ("one_class", ["--quick", "--jobs", "0"], "argument --jobs: '0': must be 1 or more"),
    ("table1", ["--quick", "--jobs", "0"], "argument --jobs: '0': must be 1 or more"),
    ("table1", ["--epochs", "0"], "argument --epochs: '0': must be 1 or more"),
    ("review_rounds", ["--epochs", "ten"], "argument --epochs: 'ten': give a whole number"),
    ("itsr_trace", ["--every", "0"], "argument --every: '0': must be 1 or more"),
])
def test_benchmark_arguments_that_name_nothing_fail_with_one_line_before_any_fit(module, args, message, capsys):
    import importlib

    with pytest.raises(SystemExit) as stop:
        importlib.import_module(f"benchmarks.{module}").main(args)
    assert stop.value.code == 2 and message in capsys.readouterr().err  # argparse's usage error, not a traceback


def test_table1_other_detectors_get_their_own_columns_and_are_held_to_the_pixel_bars():
    from benchmarks import table1

    paper = _table1_record("2026-11-23T01:00:00Z", "0.01,0.001", "aae_itsr,iforest,knn", 0.80)
    other = _table1_record("2026-11-23T02:00:00Z", "0.01,0.001", "ganomaly", 0.85)
    other["rows"][0]["observed"]["bacc"] = 0.70  # one cell below the bars
    record, _ = table1.merged([paper, other])
    head = table1.table(record, ["ganomaly", "iforest", "knn"]).splitlines()[0]
    assert head == "| test set | pair | α | `ganomaly` | `iforest` | `knn` |"  # the paper's detectors left out
    assert "`aae_itsr`" in table1.table(record).splitlines()[0]
    lines = table1.bars(record)
    assert [line.split()[0] for line in lines] == ["`aae_itsr`", "`ganomaly`"]  # deep detectors only
    assert lines[1] == "`ganomaly` 0.812 against `iforest` 0.800 and `knn` 0.800 (+1.2 and +1.2 points); above every bar in 3 of 4 cells."
    assert table1.is_deep("aae") and not table1.is_deep("knn")
    # no bar ran: nothing to hold a detector to
    assert table1.bars(table1.merged([other])[0]) == []


@pytest.mark.parametrize("protocol", ["one-class", "leave-one-out"])
def test_one_class_quick_modes_cover_every_class_p_and_detector(home, protocol):
    from benchmarks import common, one_class

    before = set(common.RESULTS.glob("*.json"))
    record = one_class.main(["--quick", "--protocol", protocol])
    assert record["cpu_probe_ms"] > 0 and record["cpu_probe_end_ms"] > 0  # finish() probed again
    ps = {0.0, 0.1} if protocol == "one-class" else {0.0}
    assert {(r["class"], r["p"], r["detector"]) for r in record["rows"]} == {(c, p, d) for c in ("0", "1") for p in ps for d in ("iforest", "knn", "autoencoder")}
    assert all(0 <= r["auroc"] <= 1 for r in record["rows"])
    assert "| digits | `knn` |" in one_class.table(record)
    assert set(common.RESULTS.glob("*.json")) == before
    if protocol == "one-class":
        png = one_class.plot([record], home / "plot.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.slow
def test_one_class_jobs_fit_cells_in_parallel_processes_and_keep_the_cell_order(home):
    from benchmarks import one_class

    # a slow cell first: results taken in the order cells finish would put the rows out of order
    alone = one_class.main(["--quick", "--detectors", "autoencoder,iforest,knn"])
    # From the command line, as users run it: spawned processes re-import the parent's __main__,
    # which in this test process is whatever page script a Streamlit AppTest ran last.
    cli = subprocess.run([sys.executable, "-m", "benchmarks.one_class", "--quick", "--detectors", "autoencoder,iforest,knn", "--jobs", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    shared = json.loads(cli.stdout.strip().splitlines()[-1])  # --quick prints its record last
    key = lambda r: (r["class"], r["p"], r["detector"])  # noqa: E731
    assert [key(r) for r in shared["rows"]] == [key(r) for r in alone["rows"]]
    # seeded pixel baselines: the same numbers whichever process fitted them
    pixels = lambda rec: [r["auroc"] for r in rec["rows"] if r["detector"] != "autoencoder"]  # noqa: E731
    assert pixels(shared) == pytest.approx(pixels(alone))
    assert shared["jobs"] == 2 and shared["threads"] == 1


@pytest.mark.slow
def test_table1_jobs_fit_detectors_in_parallel_processes_and_keep_the_row_order(home):
    from benchmarks import table1

    dets = "aae_itsr,iforest,knn"  # the slow one first
    alone = table1.main(["--quick", "--detectors", dets])
    cli = subprocess.run([sys.executable, "-m", "benchmarks.table1", "--quick", "--detectors", dets, "--jobs", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    shared = json.loads(cli.stdout.strip().splitlines()[-1])
    assert [r["detector"] for r in shared["rows"]] == dets.split(",") == [r["detector"] for r in alone["rows"]]
    pixels = lambda rec: [r[part]["bacc"] for r in rec["rows"] if r["detector"] != "aae_itsr" for part in ("observed", "unobserved")]  # noqa: E731
    assert pixels(shared) == pytest.approx(pixels(alone))
    assert shared["jobs"] == 2 and shared["threads"] == 1


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` and that are multiprocessing's spawned workers (Linux /proc)."""
    from pathlib import Path

    out = []
    for d in Path("/proc").iterdir():
        try:
            stat, cmd = (d / "stat").read_text(), (d / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z" and b"--multiprocessing-fork" in cmd:
            out.append(int(d.name))
    return out


def _set_up(pid: int) -> bool:
    """Whether cell process `pid` has run its set-up (the last of which ignores SIGINT, then asks to die with its parent)."""
    from pathlib import Path

    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(ignored & (1 << (2 - 1)))  # SIGINT is signal 2


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_stopped_jobs_run_stops_its_fits_at_once(how, home):
    """Ctrl-C, a kill, even SIGKILL: the cell processes end within seconds, not after their fits;
    Ctrl-C ends the run with one line, not a traceback."""
    import signal
    import time

    from core.jobs.worker import running

    # four cells of two minutes or more each (1,000 epochs): a stop that let them finish, or waited for them, fails the timings below
    # SIGINT as a terminal's Ctrl-C finds it: a suite started in the background of a shell
    # (`… &`, nohup) passes SIGINT on ignored, and a run that ignores it rightly carries on
    run = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.one_class", "--quick", "--detectors", "autoencoder", "--epochs", "1000", "--jobs", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (len(kids) == 2 and all(map(_set_up, kids))):
            assert run.poll() is None, run.stderr.read().decode()
            kids = _children(run.pid)
            time.sleep(0.5)
        assert len(kids) == 2, "the two cell processes never started"
        time.sleep(3)  # into their first fits
        run.send_signal(getattr(signal, how))
        # seconds when the machine is idle; the margins are for a CI machine shared with other tests
        code = run.wait(timeout=90)
        assert code != 0
        if how == "SIGINT":  # a user's Ctrl-C: one line saying what is kept, not a traceback
            said = run.stderr.read().decode()
            assert "stopped (Ctrl-C)" in said and "Traceback" not in said, said
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(map(running, kids)):
            time.sleep(0.2)
        assert not any(map(running, kids)), f"cell processes outlived a {how} to their parent"
    finally:
        run.kill()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_one_class_scores_each_term_apart_and_tables_them():
    import numpy as np

    from benchmarks import one_class

    truth = np.array([0, 0, 1, 1])
    latent = np.array([0.1, 0.9, 0.2, 0.8])  # chance
    scores = {"score": latent, "latent": latent.copy(), "recon": np.array([0.1, 0.2, 0.8, 0.9])}
    assert one_class.terms_apart(truth, scores) == {"recon": 1.0}  # the term that is the score is left out
    assert one_class.terms_apart(truth, scores | {"bad": np.array([0.1, np.nan, 0.2, 0.3])}) == {"recon": 1.0}  # not finite: left out
    rows = [{"dataset": "D", "detector": "ganomaly", "p": 0.0, "class": c, "seed": 0, "auroc": a, "terms": {"recon": t}} for c, a, t in (("a", 0.5, 1.0), ("b", 0.7, 0.8))]
    rows.append({"dataset": "D", "detector": "iforest", "p": 0.0, "class": "a", "seed": 0, "auroc": 0.9, "terms": {}})
    assert one_class.terms_lines(rows) == ["- D, `ganomaly`, p = 0 %: score 0.600; `recon` 0.900."]
    # a term some rows lack is not set beside a score averaged over other rows
    assert one_class.terms_lines(rows[:1] + [rows[1] | {"terms": {}}]) == []
    assert "Each score term on its own" in one_class.table({"rows": rows})
    assert "Each score term" not in one_class.table({"rows": rows[2:]})


def _one_class_record(epochs, aurocs: dict) -> dict:
    """A hand-made one-class record: {(detector, p): AUROC} for one dataset, class and seed."""
    rows = [{"dataset": "D", "class": "c", "p": p, "seed": 0, "detector": d, "auroc": v} for (d, p), v in aurocs.items()]
    return {"epochs": epochs, "rows": rows}


def test_one_class_verdicts_compare_the_best_deep_detector_with_isolation_forest():
    from benchmarks import one_class

    pixels = _one_class_record(None, {("iforest", 0.0): 0.90, ("iforest", 0.1): 0.88})
    deep = _one_class_record(5, {("autoencoder", 0.0): 0.95, ("autoencoder", 0.1): 0.85, ("ganomaly", 0.0): 0.70, ("ganomaly", 0.1): 0.60})
    (line,) = one_class.verdicts([pixels, deep])
    assert "`iforest` -2.0" in line and "`autoencoder (5 epochs)` -10.0" in line and "`ganomaly (5 epochs)` -10.0" in line
    assert "The best deep detector, `autoencoder (5 epochs)`, beats IsolationForest on raw pixels (+1.0 points" in line
    worse = _one_class_record(5, {("autoencoder", 0.0): 0.80, ("autoencoder", 0.1): 0.70})
    (line,) = one_class.verdicts([pixels, worse])
    assert "`autoencoder (5 epochs)`, does not beat IsolationForest (-14.0 points" in line.replace("on raw pixels ", "")
    # a detector run on fewer than half the settings (a cut-off run) is not named best from them
    pixels["rows"] += _one_class_record(None, {("iforest", 0.05): 0.89, ("iforest", 0.2): 0.85})["rows"]
    worse["rows"] += _one_class_record(5, {("autoencoder", 0.05): 0.75, ("autoencoder", 0.2): 0.65})["rows"]
    partial = _one_class_record(5, {("ganomaly", 0.0): 0.99})
    (line,) = one_class.verdicts([pixels, worse, partial])
    assert "The best deep detector, `autoencoder (5 epochs)`, does not beat" in line and "over the 4 settings both ran" in line
    assert "Not compared, as run on fewer settings: `ganomaly (5 epochs)` (1)." in line
    # yet each detector is set against the bar on all the settings it ran
    assert "every setting both ran (points, settings): `autoencoder (5 epochs)` -15.5 (4), `ganomaly (5 epochs)` +9.0 (1)." in line
    # one run at p = 0 and 10 % only meets another at every p on the settings they share
    halves = _one_class_record(5, {("ganomaly", 0.0): 0.99, ("ganomaly", 0.1): 0.87})
    (line,) = one_class.verdicts([pixels, worse, halves])
    assert "The best deep detector, `ganomaly (5 epochs)`, beats IsolationForest on raw pixels (+4.0 points of mean AUROC over the 2 settings IsolationForest and all 2 compared detectors ran)." in line
    assert "Not compared" not in line
    # runs that share no setting are not set against each other on nothing
    apart = _one_class_record(5, {("ganomaly", 0.05): 0.99, ("ganomaly", 0.2): 0.87})
    (line,) = one_class.verdicts([pixels, _one_class_record(5, {("autoencoder", 0.0): 0.8, ("autoencoder", 0.1): 0.7}), apart])
    assert "ran on no settings in common" in line and "The best deep detector" not in line
    assert "every setting both ran (points, settings): `autoencoder (5 epochs)` -14.0 (2), `ganomaly (5 epochs)` +6.0 (2)." in line
    # a cell two runs measured counts once, the newer run's, as in the pooled table, whatever the records' order
    bar = _one_class_record(None, {("iforest", 0.0): 0.90, ("iforest", 0.1): 0.88})
    older = _one_class_record(5, {("autoencoder", 0.0): 0.95, ("autoencoder", 0.1): 0.85}) | {"time": "2026-01-01T00:00:00Z"}
    newer = _one_class_record(5, {("autoencoder", 0.1): 0.75}) | {"time": "2026-02-01T00:00:00Z"}
    for records in ([bar, newer, older], [older, bar, newer]):
        (line,) = one_class.verdicts(records)
        assert "`autoencoder (5 epochs)` -20.0" in line and "(-4.0 points of mean AUROC over the 2 settings" in line


def test_one_class_length_lines_match_a_whole_fit_with_its_own_shorter_one_cell_by_cell():
    from benchmarks import one_class

    def rec(epochs, rows, **extra):
        return {"epochs": epochs, "rows": [{"dataset": "D", "class": c, "p": p, "seed": s, "detector": d, "auroc": v} for d, c, p, s, v in rows]} | extra

    whole = rec(None, [("autoencoder", c, p, s, v) for c, p, s, v in (
        ("a", 0.0, 0, 0.90), ("b", 0.0, 0, 0.80), ("a", 0.1, 0, 0.70), ("b", 0.1, 0, 0.60),
        ("a", 0.0, 1, 0.95), ("a", 0.1, 1, 0.75),
        ("a", 0.0, 2, 0.10),  # a seed the shorter fit never ran: left out
    )] + [("iforest", "a", 0.0, 0, 0.5)])
    short = rec(5, [("autoencoder", c, p, s, v) for c, p, s, v in (
        ("a", 0.0, 0, 0.85), ("b", 0.0, 0, 0.85), ("a", 0.1, 0, 0.80), ("b", 0.1, 0, 0.60),
        ("a", 0.0, 1, 0.95), ("a", 0.1, 1, 0.65),
    )])
    (line,) = one_class.length_lines([whole, short])
    assert line.startswith("D, `autoencoder` against `autoencoder (5 epochs)` (2 seeds): ")
    # p = 0: whole (0.90, 0.80, 0.95) against short (0.85, 0.85, 0.95); seed 0 gains +5 and -5, seed 1 ties
    assert "p = 0 %, 0.883 against 0.883 (0.0 points; per seed 0 0.0, 1 0.0; higher on 1 of 3 class-seeds)" in line
    assert "p = 10 %, 0.683 against 0.683 (0.0 points; per seed 0 -5.0, 1 +10.0; higher on 1 of 3 class-seeds)" in line
    assert line.endswith("From p = 0 to 10 %: -20.0 points against -20.0.")
    # a newer run's cell replaces the older one here as in the pooled table
    redo = rec(5, [("autoencoder", "a", 0.1, 1, 0.95)], time="2099-01-01T00:00:00Z")
    (line,) = one_class.length_lines([whole, short, redo])
    assert "per seed 0 -5.0, 1 -20.0" in line
    # one seed, or one cell, at a p: no split by seed, and no "1 of 1" count that only repeats the gap
    lone = rec(None, [("autoencoder", "a", 0.05, 0, 0.70), ("autoencoder", "b", 0.2, 0, 0.60), ("autoencoder", "a", 0.2, 0, 0.90)])
    shorter = rec(5, [("autoencoder", "a", 0.05, 0, 0.60), ("autoencoder", "b", 0.2, 0, 0.65), ("autoencoder", "a", 0.2, 0, 0.80)])
    (line,) = one_class.length_lines([lone, shorter])
    assert "p = 5 %, 0.700 against 0.600 (+10.0 points; one class-seed)" in line
    assert "p = 20 %, 0.750 against 0.725 (+2.5 points; higher on 1 of 2 class-seeds)" in line
    assert "per seed" not in line
    # another preset's shorter fit is its own preset's match, never the quick preset's
    paper = rec(5, [("autoencoder", "a", 0.0, 0, 0.5)], preset="paper")
    assert one_class.length_lines([whole, paper]) == []
    assert one_class.length_lines([whole]) == [] and one_class.length_lines([short]) == []


def test_one_class_runs_of_one_detector_at_different_lengths_are_never_pooled():
    from benchmarks import one_class

    short = _one_class_record(5, {("autoencoder", 0.0): 0.80})
    full = _one_class_record(None, {("autoencoder", 0.0): 0.96})
    paper = _one_class_record(None, {("autoencoder", 0.0): 0.97, ("knn", 0.0): 0.9, ("iforest", 0.0): 0.8}) | {"preset": "paper"}
    both = _one_class_record(5, {("autoencoder", 0.0): 0.98, ("knn", 0.0): 0.91}) | {"preset": "paper"}
    labels = {r["label"]: r["auroc"] for r in one_class.labelled([short, full, paper, both])}
    # the pixel bars' paper presets hold their quick settings and they have no epochs: their labels stay
    assert labels == {"autoencoder (5 epochs)": 0.80, "autoencoder": 0.96, "autoencoder (paper preset)": 0.97, "knn": 0.91, "iforest": 0.8, "autoencoder (paper preset, 5 epochs)": 0.98}
    zero = _one_class_record(0, {("autoencoder", 0.0): 0.5})  # --epochs 0 is no override, as in the fit
    assert [r["label"] for r in one_class.labelled([zero])] == ["autoencoder"]



def test_one_class_summary_pools_every_run_per_detector_and_p():
    from benchmarks import one_class

    def rec(date, epochs, rows):
        return {"date": date, "epochs": epochs, "rows": [{"dataset": "D", "class": c, "p": p, "seed": s, "detector": d, "auroc": v} for d, c, p, s, v in rows]}

    pixels = rec("2026-01-01", None, [("iforest", c, p, 0, v) for c, v in (("a", 0.90), ("b", 0.80)) for p in (0.0, 0.1)])
    more_seeds = rec("2026-01-02", None, [("iforest", c, 0.1, 1, 0.75) for c in "ab"])
    deep = rec("2026-01-01", 5, [("autoencoder", "a", 0.0, 0, 0.99), ("autoencoder", "b", 0.0, 0, 0.97), ("autoencoder", "a", 0.1, 0, 0.50)])
    redo = rec("2026-01-03", 5, [("autoencoder", "a", 0.1, 0, 0.70)])  # the same cell measured again: the newer run's counts
    table = one_class.summary([redo, deep, more_seeds, pixels])
    rows = {line.split(" | ")[1]: line.split(" | ")[2:] for line in table.splitlines()[2:]}
    assert table.splitlines()[0] == "| dataset | detector | p = 0 % | p = 10 % |"
    assert list(rows) == ["`iforest`", "`autoencoder (5 epochs)`"]  # the pixel bar first
    assert rows["`iforest`"] == ["0.850", "**0.800 ± 0.071 (2 seeds)** |"]  # seeds 0 (0.85) and 1 (0.75)
    assert rows["`autoencoder (5 epochs)`"] == ["**0.980**", "0.700 (1 of 2 classes) |"]
    assert one_class.summary([pixels, more_seeds, deep, redo]) == table  # neither rows nor cells depend on the records' order


def test_one_class_plot_draws_the_pooled_cells_in_the_tables_order(tmp_path):
    from benchmarks import one_class

    def rec(date, rows):
        return {"date": date, "epochs": None, "rows": [{"dataset": "D", "class": "a", "p": p, "seed": 0, "detector": d, "auroc": v} for d, p, v in rows]}

    old = rec("2026-01-01", [("autoencoder", 0.0, 0.9), ("autoencoder", 0.1, 0.5), ("iforest", 0.0, 0.8), ("iforest", 0.1, 0.7)])
    redo = rec("2026-01-02", [("autoencoder", 0.1, 0.6)])
    a = one_class.plot([old, redo], tmp_path / "a.png").read_bytes()
    assert one_class.plot([redo, old], tmp_path / "b.png").read_bytes() == a  # order, colours and values alike
    merged = rec("2026-01-01", [("autoencoder", 0.0, 0.9), ("autoencoder", 0.1, 0.6), ("iforest", 0.0, 0.8), ("iforest", 0.1, 0.7)])
    assert one_class.plot([merged], tmp_path / "c.png").read_bytes() == a  # the newer run's cell replaces the older, as in the table
    other = rec("2026-01-02", [("autoencoder", 0.1, 0.65)])
    assert one_class.plot([old, other], tmp_path / "d.png").read_bytes() != a  # other values draw another picture


def test_one_class_plot_gives_a_detectors_runs_at_other_lengths_its_colour_and_another_line():
    from benchmarks import one_class

    labels = ["iforest", "knn", "autoencoder", "autoencoder (5 epochs)", "aae_itsr", "berg_gan", "berg_gan (5 epochs)"]
    detector = {label: label.split()[0] for label in labels}
    styles = one_class.line_styles(labels, detector)
    assert styles["autoencoder"] == (2, "-") and styles["autoencoder (5 epochs)"] == (2, ":")
    assert styles["iforest"] == (0, "--") and styles["knn"] == (1, "--")  # the pixel bars dashed
    assert styles["berg_gan (5 epochs)"] == (4, ":")  # five detectors, five colours: none repeats
    assert len({c for c, _ in styles.values()}) == 5


def test_one_class_plot_lines_use_only_the_seeds_run_at_every_p(tmp_path):
    from benchmarks import one_class

    def rec(date, rows):
        return {"date": date, "epochs": None, "rows": [{"dataset": "D", "class": "a", "p": p, "seed": s, "detector": "autoencoder", "auroc": v} for p, s, v in rows]}

    both = rec("2026-01-01", [(0.0, 0, 0.9), (0.1, 0, 0.8), (0.0, 1, 0.7), (0.1, 1, 0.6)])
    lone = rec("2026-01-02", [(0.1, 2, 0.1)])  # a seed run at 10 % only
    assert one_class.curves(one_class.pooled([both, lone]))["D", "autoencoder"] == ([0.0, 0.1], [0.8, 0.7], [0, 1])
    assert one_class.plot([both, lone], tmp_path / "a.png").read_bytes() == one_class.plot([both], tmp_path / "b.png").read_bytes()
    # the table still pools every seed: the lone one is in its 10 % cell
    assert "0.500 ± 0.361 (3 seeds)" in one_class.summary([both, lone])


def test_one_class_summary_and_plot_leave_out_a_seed_cut_off_before_its_classes(tmp_path):
    from benchmarks import one_class

    def rec(rows):
        return {"date": "2026-01-01", "epochs": None, "rows": [{"dataset": "D", "class": c, "p": p, "seed": s, "detector": "autoencoder", "auroc": v} for c, p, s, v in rows]}

    # seeds 0 and 2 ran classes a and b; seed 1 was cut off after a, the easy class
    whole = rec([(c, p, s, v) for s, (a, b) in ((0, (0.9, 0.5)), (2, (0.8, 0.6))) for p in (0.0, 0.1) for c, v in (("a", a), ("b", b))])
    cut = rec([("a", p, 1, 0.99) for p in (0.0, 0.1)])
    assert one_class.whole_seeds(list(one_class.pooled([whole, cut]))) == ([0, 2], [1])
    table = one_class.summary([whole, cut])
    # seed 0's mean 0.70 and seed 2's 0.70: seed 1's lone easy class would have made it 0.76 ± 0.17
    assert "| D | `autoencoder` | **0.700 ± 0.000 (2 seeds) (seed 1 left out: 1 class run)** |" in table
    assert one_class.curves(one_class.pooled([whole, cut]))["D", "autoencoder"] == ([0.0, 0.1], [0.7, 0.7], [0, 2])
    assert one_class.plot([whole, cut], tmp_path / "a.png").read_bytes() == one_class.plot([whole], tmp_path / "b.png").read_bytes()
    # with no seed whole, the one that ran most stands, its classes counted against the dataset's
    lone = one_class.summary([rec([("a", 0.0, 0, 0.9), ("b", 0.0, 0, 0.5), ("c", 0.0, 1, 0.7)])])
    assert "0.700 (2 of 3 classes) (seed 1 left out: 1 class run)" in lone


def test_one_class_summary_bolds_only_a_mean_over_every_class_and_the_columns_most_seeds():
    from benchmarks import one_class

    def rec(rows):
        return {"date": "2026-01-01", "epochs": None, "rows": [{"dataset": "D", "class": c, "p": 0.0, "seed": s, "detector": d, "auroc": v} for d, c, s, v in rows]}

    def cells(records):  # detector → its one cell, as the table shows it
        return {line.split(" | ")[1]: line.split(" | ")[2].removesuffix(" |") for line in one_class.summary(records).splitlines()[2:]}

    three = rec([("iforest", c, s, 0.80) for c in "ab" for s in (0, 1, 2)])
    lucky = rec([("knn", c, 0, 0.90) for c in "ab"])  # higher, on one seed
    easy = rec([("berg_gan", "a", s, 0.95) for s in (0, 1, 2)])  # higher, on the easy class alone
    assert cells([three, lucky, easy]) == {"`iforest`": "**0.800 ± 0.000 (3 seeds)**", "`knn`": "0.900", "`berg_gan`": "0.950 ± 0.000 (3 seeds) (1 of 2 classes)"}
    # on one seed each, the higher mean is the best again
    assert cells([rec([("iforest", c, 0, 0.80) for c in "ab"]), lucky]) == {"`iforest`": "0.800", "`knn`": "**0.900**"}


def _loo_record(date, epochs, rows):
    """A hand-made leave-one-out record: rows of (detector spec, class, seed, AUROC) at p = 0."""
    return {"date": date, "epochs": epochs, "rows": [{"dataset": "D", "class": c, "p": 0.0, "seed": s, "detector": d, "auroc": v} for d, c, s, v in rows]}


def test_one_class_detector_specs_carry_overrides_into_labels_files_and_checks():
    from benchmarks import one_class

    spec = "aae_itsr:pretrain_epochs=2:refine_epochs=1:epochs=2"
    name = one_class.file_name({"benchmark": "leave-one-out", "datasets": "mnist", "classes": "all", "contamination": "0", "detectors": spec, "seeds": "0", "preset": "quick", "epochs": None})
    assert name == "leave-one-out-aae_itsr_pretrain_epochs_2_refine_epochs_1_epochs_2-quick-mnist-cpu"
    plain = _loo_record("2026-01-01", None, [("aae_itsr", "a", 0, 0.60)])
    short = _loo_record("2026-01-02", None, [(spec, "a", 0, 0.70), ("iforest", "a", 0, 0.50)])
    cells = one_class.pooled([plain, short])
    # a run with other settings is its own line, never pooled with the preset's; both are the registry's aae_itsr
    assert cells["D", spec, "a", 0.0, 0] == (0.70, "aae_itsr") and cells["D", "aae_itsr", "a", 0.0, 0] == (0.60, "aae_itsr")
    assert one_class.ordered_labels(cells) == ["iforest", "aae_itsr", spec]  # the pixel bar first, then by registry and name
    for bad in ("aae_itsr:nu", "aae_itsr:nu=0.9", "nope"):  # a typo fails before any fit
        with pytest.raises(SystemExit):
            one_class.main(["--quick", "--detectors", f"knn,{bad}"])
    with pytest.raises(SystemExit):  # two epochs for one detector: neither may silently win
        one_class.main(["--quick", "--detectors", "autoencoder:epochs=2", "--epochs", "3"])


def test_leave_one_out_pools_every_run_per_class_against_the_pixel_bars(tmp_path):
    from benchmarks import one_class

    bars = _loo_record("2026-01-01", None, [(d, c, 0, v) for d, c, v in (("iforest", "a", 0.50), ("iforest", "b", 0.70), ("knn", "a", 0.90), ("knn", "b", 0.80))])
    deep = _loo_record("2026-01-01", 1, [("ganomaly", "a", 0, 0.60), ("ganomaly", "b", 0, 0.95), ("ganomaly", "a", 1, 0.70)])
    redo = _loo_record("2026-01-02", 1, [("ganomaly", "b", 0, 0.85)])  # the same cell again: the newer run's counts
    partial = _loo_record("2026-01-03", None, [("autoencoder", "a", 0, 0.40)])
    table = one_class.per_class([bars, deep, redo, partial])
    assert table.splitlines() == [
        "| D | a | b | mean |",
        "|---|---|---|---|",
        "| `iforest` | 0.50 | 0.70 | 0.600 |",
        "| `knn` | **0.90** | 0.80 | 0.850 |",
        "| `autoencoder` | 0.40 | – | 0.400 (1 of 2 classes) |",
        "| `ganomaly (1 epoch)` | 0.65 | **0.85** | 0.750 |",  # class a: seeds 0 and 1 averaged
    ]
    assert one_class.per_class([partial, redo, deep, bars]) == table  # whatever the records' order
    # against each bar on the classes and seeds both ran: ganomaly's seed 1 has no bar to meet
    assert one_class.bar_lines([bars, deep, redo, partial]) == [
        "D: `autoencoder` 0.400: -10.0 against `iforest`, -50.0 against `knn` (1 class, 1 seed);"
        " `ganomaly (1 epoch)` 0.750: +12.5 against `iforest`, -12.5 against `knn` (2 classes, 1 seed)."  # 0.750: the table's mean
    ]
    assert one_class.bar_lines([deep]) == []  # no bar ran
    # a bar run on fewer classes: each gap on what that bar shares, each with its own count
    short_knn = _loo_record("2026-01-01", None, [("iforest", "a", 0, 0.50), ("iforest", "b", 0, 0.70), ("knn", "a", 0, 0.90)])
    assert one_class.bar_lines([short_knn, deep, redo]) == [
        "D: `ganomaly (1 epoch)` 0.750: +12.5 against `iforest` (2 classes, 1 seed), -30.0 against `knn` (1 class, 1 seed)."
    ]
    # the heatmap's grid: the newer cell, seeds averaged, a class the run lacks left out
    labels, classes, grid = one_class.class_grid([bars, deep, redo, partial])["D"]
    assert labels == ["iforest", "knn", "autoencoder", "ganomaly (1 epoch)"] and classes == ["a", "b"]
    assert grid[("ganomaly (1 epoch)", "a")] == pytest.approx(0.65) and grid[("ganomaly (1 epoch)", "b")] == 0.85
    assert ("autoencoder", "b") not in grid
    png = one_class.heatmap([bars, deep, redo], tmp_path / "loo.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_leave_one_out_classes_keep_the_datasets_order_whatever_run_came_first():
    from benchmarks import one_class

    partial = _loo_record("2026-01-01", None, [("knn", c, 0, 0.9) for c in ("3", "4")])  # oldest, two classes
    full = _loo_record("2026-01-02", 1, [("ganomaly", c, 0, 0.8) for c in ("0", "1", "2", "3", "4")])
    assert one_class.class_grid([partial, full])["D"][1] == ["0", "1", "2", "3", "4"]
    assert one_class.per_class([partial, full]).splitlines()[0] == "| D | 0 | 1 | 2 | 3 | 4 | mean |"


def test_bold_marks_the_best_as_the_table_shows_it():
    from benchmarks import one_class

    tie = _loo_record("2026-01-01", None, [("iforest", "a", 0, 0.6649), ("knn", "a", 0, 0.6551)])  # both show 0.66
    assert one_class.per_class([tie]).splitlines()[2:] == ["| `iforest` | **0.66** | 0.665 |", "| `knn` | **0.66** | 0.655 |"]


def test_prior_rank_is_the_median_rank_of_the_masked_images_among_the_training_set():
    from benchmarks.table1 import prior_rank

    nll = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])  # ranks 10 % apart, unsorted
    assert prior_rank(nll, nll >= 8) == 85.0  # the two least likely codes: 80 and 90 % of the set below them
    assert prior_rank(nll, np.isin(nll, [0.0, 4.0, 9.0])) == 40.0  # ranks 0, 40, 90
    assert prior_rank(nll, np.zeros(10, bool)) is None
