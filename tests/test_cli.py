"""The command line: every verb prints one JSON object; errors exit non-zero naming the problem."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def cli(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "core", *args, "--json"], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}: {p.stderr}")
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else None, p.stderr


@pytest.mark.slow
def test_cli_flow_trains_autoencoder_on_digits_through_the_worker(home):
    _, out, _ = cli("import", "builtin:digits", "--name", "digits")
    assert out == {"dataset": "digits", "samples": 1797, "classes": [str(i) for i in range(10)], "size": 16, "channels": 1, "skipped": []}
    _, out, _ = cli("experiment", "--dataset", "digits", "--normal", "0", "--anomaly", "1,2,3,4,5,6,7,8,9", "--contamination", "0.05", "--name", "zero")
    assert out["experiment"] == "zero" and out["train_anomalies"] == round(0.05 * (out["train"] - out["train_anomalies"]) / 0.95)
    _, queued, _ = cli("train", "--experiment", "zero", "--detector", "autoencoder")
    assert queued["status"] in ("queued", "running", "succeeded")
    _, out, _ = cli("train", "--experiment", "zero", "--detector", "autoencoder", "--wait")
    assert out["status"] == "succeeded"
    assert out["metrics"]["test_auroc"] > 0.9 and "train_auroc" in out["metrics"]
    _, status, _ = cli("status", "--run", str(out["run"]))
    assert status["status"] == "succeeded" and status["progress"]["epoch"] == status["progress"]["epochs"]
    _, first, _ = cli("status", "--run", str(queued["run"]))
    assert first["status"] == "succeeded"  # the run queued without --wait ran too, in the same worker


def test_cli_errors_exit_non_zero_with_the_problem(home):
    code, out, err = cli("experiment", "--dataset", "nothing", "--normal", "0", "--name", "x", check=False)
    assert code == 2 and "no dataset 'nothing'" in err and "nothing" in out["error"]
    code, _, err = cli("import", str(home / "missing.npz"), "--name", "m", check=False)
    assert code == 2 and "missing.npz" in err
    code, _, err = cli("status", "--run", "42", check=False)
    assert code == 2 and "no run 42" in err


def test_cli_lists_detectors_with_hyperparameters(home):
    _, out, _ = cli("detectors")
    names = [d["name"] for d in out["detectors"]]
    assert {"autoencoder", "ganomaly"} <= set(names)
    ae = out["detectors"][names.index("autoencoder")]
    assert {"quick", "paper"} <= set(ae["presets"]) and all(p["help"] for p in ae["params"])


def test_demo_is_idempotent(home):
    _, a, _ = cli("demo")
    _, b, _ = cli("demo")
    assert a == b and a["dataset"] == "digits"


@pytest.mark.slow
def test_every_detector_trains_from_the_cli(home):
    from core.models import registry

    cli("demo")
    for name, cls in registry.classes().items():
        epochs = ["--epochs", "3"] if cls.deep else []
        _, out, _ = cli("train", "--experiment", "digits: 0 normal, 5% contaminated", "--detector", name, *epochs, "--wait")
        assert out["status"] == "succeeded" and "test_auroc" in out["metrics"], (name, out)
