"""scripts/setup.sh refuses a first install on a disk that cannot hold it, and only then."""
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(".venv") / "lib" / "python3.11" / "site-packages"


def _project(dest: Path) -> Path:
    (dest / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", dest / "scripts" / "setup.sh")
    for req in ROOT.glob("requirements*.txt"):
        shutil.copy(req, dest / req.name)
    return dest


def _fake_python(project: Path) -> Path:
    """A stand-in .venv/bin/python that records what setup.sh asks of pip instead of installing."""
    calls = project / "calls.txt"
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    python.chmod(0o755)
    return calls


def _setup(project: Path, need_gb) -> subprocess.CompletedProcess:
    env = {**os.environ, "WINNOW_SETUP_NEED_GB": str(need_gb)}
    return subprocess.run(["bash", "scripts/setup.sh"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def test_first_install_on_a_full_disk_is_refused_before_anything_is_written(tmp_path):
    project = _project(tmp_path)
    done = _setup(project, need_gb=10**9)  # a petabyte: no test machine has it free
    assert done.returncode == 1
    assert "Not enough disk space" in done.stderr and str(project) in done.stderr
    assert "1000000000 GB needed" in done.stderr and "WINNOW_SETUP_NEED_GB" in done.stderr
    free_gb = int(re.search(r"(\d+) GB free", done.stderr).group(1))
    assert abs(free_gb - shutil.disk_usage(project).free // 2**30) <= 1  # the units are right
    assert not (project / ".venv").exists()


def test_a_disk_with_room_goes_on_to_install(tmp_path):
    project = _project(tmp_path)
    calls = _fake_python(project)  # no torch yet: a first install, checked and let through
    done = _setup(project, need_gb=0)
    assert done.returncode == 0, done.stderr
    assert "-m pip install -q -r requirements.txt" in calls.read_text()
    assert list((project / ".venv").glob(".installed-runtime-*"))


def test_an_interrupted_install_is_checked_again_and_a_finished_one_is_not(tmp_path):
    project = _project(tmp_path)
    calls = _fake_python(project)
    (project / SITE / "torch").mkdir(parents=True)  # pip died while unpacking torch
    refused = _setup(project, need_gb=10**9)
    assert refused.returncode == 1 and "Not enough disk space" in refused.stderr
    # pip writes torch's INSTALLER record after its files: the install finished, and a
    # requirements change then needs little room, so the check stands aside.
    record = project / SITE / "torch-2.14.1.dist-info"
    record.mkdir()
    (record / "INSTALLER").write_text("pip\n")
    done = _setup(project, need_gb=10**9)
    assert done.returncode == 0, done.stderr
    assert "-m pip install -q -r requirements.txt" in calls.read_text()


def test_a_requirement_that_is_not_a_whole_number_is_named(tmp_path):
    done = _setup(_project(tmp_path), need_gb="7.5")
    assert done.returncode == 1
    assert "WINNOW_SETUP_NEED_GB must be a whole number of GB, not '7.5'" in done.stderr


def test_a_requirement_with_a_leading_zero_is_read_in_decimal(tmp_path):
    project = _project(tmp_path)
    _fake_python(project)
    done = _setup(project, need_gb="08")  # bash arithmetic would read 08 as a bad octal number
    assert done.returncode == 0, done.stderr
    assert "value too great" not in done.stderr
