"""`python -m core VERB …`: everything the UI does, scriptable; `--json` prints one JSON object."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEMO_DATASET, DEMO_EXPERIMENT = "digits", "digits: 0 normal, 5% contaminated"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


def cmd_import(a) -> dict:
    from core.services import datasets

    ds = datasets.import_dataset(a.source, a.name, root=a.root, size=a.size, allow_download=a.download)
    return {"dataset": ds.name, "samples": ds.n, "classes": ds.classes, "size": ds.size, "channels": ds.channels, "skipped": ds.skipped}


def cmd_experiment(a) -> dict:
    from core.services import experiments

    e = experiments.create_experiment(a.dataset, _csv(a.normal), _csv(a.anomaly), a.contamination, a.name, a.test_share, a.seed)
    return {"experiment": e.name, "train": e.n_train, "train_anomalies": e.n_train_anomalies, "test": e.n_test}


def _run_json(run) -> dict:
    return {"run": run.id, "detector": run.detector, "status": run.status, "metrics": run.metrics or {}, "error": run.error or None}


def cmd_train(a) -> dict:
    from core.services import runs

    params: dict[str, Any] = dict(a.param or [])
    if a.epochs is not None:
        params["epochs"] = a.epochs
    (run,) = runs.queue_runs(a.experiment, [a.detector], a.preset, {a.detector: params})
    if a.wait:
        run = runs.wait(run.id, timeout=a.timeout)
    out = _run_json(run)
    if run.status == "failed":
        raise RuntimeError(f"run {run.id} failed: {run.error}")
    return out


def cmd_status(a) -> dict:
    from core.services import runs

    run = runs.get_run(a.run)
    return _run_json(run) | {"progress": run.progress or {}, "phase": run.phase}


def cmd_cancel(a) -> dict:
    from core.services import runs

    return _run_json(runs.cancel(a.run))


def cmd_retrain(a) -> dict:
    from core.services import rounds

    rnd, queued = rounds.retrain(a.experiment, _csv(a.detector), a.preset, negatives=a.negatives, negative_weight=a.negative_weight)
    return {"round": rnd.number, "train": rnd.n_train, "removed": rnd.n_removed, "negatives": rnd.n_negatives, "runs": [r.id for r in queued]}


def _budget(text: str) -> int | float:
    """An int (samples per round) or a fraction below 1 (share of the training set)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"budget must be a number, got {text!r}") from None
    return int(value) if value >= 1 and value == int(value) else value


def cmd_simulate_review(a) -> dict:
    from core.services import experiments, runs, simulate

    params = runs.with_epochs(_csv(a.detector), a.epochs, {d: dict(a.param or []) for d in _csv(a.detector)})
    say = None if a.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    rank_by = _csv(a.rank_by) if a.rank_by else None
    rows = simulate.simulate_review(a.experiment, _csv(a.detector), a.rounds, a.budget, a.preset, params, a.negatives, say, rank_by)
    return {"experiment": experiments.get_experiment(a.experiment).name, "rounds": rows}


def cmd_detectors(a) -> dict:
    from core.models import registry

    return {"detectors": registry.describe()}


def cmd_demo(a) -> dict:
    """Import the digits demo and make its experiment, unless they exist already."""
    from core.services import datasets, experiments

    if DEMO_DATASET not in {d.name for d in datasets.list_datasets()}:
        datasets.import_dataset("builtin:digits", DEMO_DATASET)
    if DEMO_EXPERIMENT not in {e.name for e in experiments.list_experiments()}:
        anomalies = [str(d) for d in range(1, 10)]
        experiments.create_experiment(DEMO_DATASET, ["0"], anomalies, 0.05, DEMO_EXPERIMENT, 0.3, 0)
    return {"dataset": DEMO_DATASET, "experiment": DEMO_EXPERIMENT}


def cmd_worker(a) -> dict:
    import core.services.pipeline  # noqa: F401  (registers the tasks this worker runs)
    import core.services.system  # noqa: F401
    from core.jobs import worker

    worker.run_worker(a.device)
    return {"worker": "stopped"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)

    def verb(name: str, fn, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--json", action="store_true", help="print one JSON object")
        sp.set_defaults(fn=fn)
        return sp

    sp = verb("import", cmd_import, "import a dataset: builtin:digits, torchvision:NAME, or a .zip/.npz/idx file or folder")
    sp.add_argument("source")
    sp.add_argument("--name", required=True)
    sp.add_argument("--root", help="folder holding torchvision datasets")
    sp.add_argument("--size", type=int, help="common image side (power of two, 16..128)")
    sp.add_argument("--download", action="store_true", help="let torchvision download a missing set")

    sp = verb("experiment", cmd_experiment, "split a dataset into a contaminated training set and a test set")
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--normal", required=True, help="normal class names, comma-separated")
    sp.add_argument("--anomaly", default="", help="anomaly class names, comma-separated (none: unlabelled)")
    sp.add_argument("--contamination", type=float, default=0.0, help="fraction p of the training set that is anomalous")
    sp.add_argument("--test-share", type=float, default=0.3)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--name", required=True)

    sp = verb("train", cmd_train, "queue a training run on the experiment's latest round")
    sp.add_argument("--experiment", required=True)
    sp.add_argument("--detector", required=True)
    sp.add_argument("--preset", default="quick", choices=["quick", "paper"])
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--param", type=_param, action="append", help="NAME=VALUE hyperparameter, repeatable")
    sp.add_argument("--wait", action="store_true", help="wait until trained and scored")
    sp.add_argument("--timeout", type=float, default=24 * 3600)

    verb("status", cmd_status, "a run's status and progress").add_argument("--run", type=int, required=True)
    verb("cancel", cmd_cancel, "cancel a queued or running run").add_argument("--run", type=int, required=True)

    sp = verb("retrain", cmd_retrain, "start the next round without the rejected samples")
    sp.add_argument("--experiment", required=True)
    sp.add_argument("--detector", required=True, help="detector names, comma-separated")
    sp.add_argument("--preset", default="quick", choices=["quick", "paper"])
    sp.add_argument("--negatives", action="store_true", help="train weight-aware detectors on confirmed anomalies as negatives")
    sp.add_argument("--negative-weight", type=float, default=-0.1)

    sp = verb("simulate-review", cmd_simulate_review, "play review rounds with the known truth: review, reject, retrain")
    sp.add_argument("--experiment", required=True)
    sp.add_argument("--detector", required=True, help="detector names, comma-separated")
    sp.add_argument("--rank-by", help="detectors (comma-separated, among --detector) the reviewer ranks by; default all")
    sp.add_argument("--rounds", type=int, default=1, help="review rounds (each followed by a retrain)")
    sp.add_argument("--budget", type=_budget, required=True, help="samples inspected per round, or a fraction < 1 of the training set")
    sp.add_argument("--preset", default="quick", choices=["quick", "paper"])
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--param", type=_param, action="append", help="NAME=VALUE hyperparameter for every detector, repeatable")
    sp.add_argument("--negatives", action="store_true", help="train weight-aware detectors on confirmed anomalies as negatives")

    verb("detectors", cmd_detectors, "list the detectors and their hyperparameters")
    verb("demo", cmd_demo, "import the digits demo and its experiment (idempotent)")
    verb("worker", cmd_worker, "run a worker in this process").add_argument("--device", help="cpu, cuda, cuda:N")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        out = a.fn(a)
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        if a.json:
            print(json.dumps({"error": str(e)}))
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(out, default=str))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return 0
