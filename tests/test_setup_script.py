"""scripts/setup.sh refuses a first install on a disk that cannot hold it, and only then."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy_setup(dest: Path) -> None:
    (dest / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", dest / "scripts" / "setup.sh")
    for req in ROOT.glob("requirements*.txt"):
        shutil.copy(req, dest / req.name)


def _setup(project: Path, need_gb: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "WINNOW_SETUP_NEED_GB": str(need_gb)}
    return subprocess.run(["bash", "scripts/setup.sh"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def test_first_install_on_a_full_disk_is_refused_before_anything_is_written(tmp_path):
    _copy_setup(tmp_path)
    done = _setup(tmp_path, need_gb=10**9)  # a petabyte: no test machine has it free
    assert done.returncode == 1
    assert "Not enough disk space" in done.stderr
    assert str(tmp_path) in done.stderr and "1000000000 GB needed" in done.stderr
    assert not (tmp_path / ".venv").exists()


def test_a_venv_that_already_holds_torch_is_not_refused(tmp_path):
    """Upgrading requirements needs little room, so the check only guards a first install."""
    _copy_setup(tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "python3.11" / "site-packages" / "torch").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    # A stand-in interpreter that records what setup.sh asks of pip instead of installing.
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "python").chmod(0o755)
    done = _setup(tmp_path, need_gb=10**9)
    assert done.returncode == 0, done.stderr
    assert "-m pip install -q -r requirements.txt" in calls.read_text()
    assert list((tmp_path / ".venv").glob(".installed-runtime-*"))
