"""What every benchmark shares: the record of when, where and with what it ran, the datasets it reads, and how it fits cells in parallel."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout: MNIST and Fashion-MNIST


def code_changed(porcelain: str) -> bool:
    """Whether `git status --porcelain` lists a change to the code: results and the README aside,
    and of untracked paths only Python files (a stray log or a symlinked venv is not code)."""
    # porcelain lines are "XY path", and X may be a space: never strip them
    for line in porcelain.splitlines():
        path = line[3:]
        if path.startswith(("benchmarks/results/", "README")):
            continue
        if line.startswith("??") and not path.endswith(".py"):
            continue
        return True
    return False


def cpu_probe() -> float:
    """Milliseconds one CPU thread takes for a fixed convolution forward and backward, best of five:
    two machines that report one name ran the same fits twice as fast as each other, so fit times
    are read beside this."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fits run on one thread each (OMP_NUM_THREADS=1 or --jobs)
    try:
        gen = torch.Generator().manual_seed(0)
        # two DCGAN-style strided convolutions, the layer the convolutional detectors are built of, on 32×32 images
        layers = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 4, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Conv2d(64, 128, 4, 2, 1))
        x = torch.randn(64, 1, 32, 32, generator=gen)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            layers(x).square().mean().backward()
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return round(1000 * best, 1)


def environment() -> dict:
    """Date, machine, versions, git commit and a CPU speed probe, for the record."""
    import torch

    try:
        git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=RESULTS.parent).stdout  # noqa: E731
        commit = git("rev-parse", "--short", "HEAD").strip()
        if code_changed(git("status", "--porcelain", "--untracked-files=all")):
            commit += "+changes"
    except OSError:
        commit = ""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        # to the second: which of two runs on one day is newer (Table 1 cells are merged by it)
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{cpu}, {os.cpu_count()} cores" + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "commit": commit,
        "cpu_probe_ms": cpu_probe(),
    }


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 thread', '2 threads'; `many` where adding an s is wrong ('2 classes')."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def length(record: dict) -> tuple[str, int | None]:
    """A run's preset and epochs override (None for the preset's own): fits of one length may be
    averaged as seeds or replace each other's cells, fits of different lengths never."""
    return record.get("preset", "quick"), record.get("epochs") or None


def mean_std(values: list[float], digits: int = 3) -> str:
    """Mean, with ± the standard deviation where there are several values (seeds, classes)."""
    import statistics

    mean = f"{statistics.mean(values):.{digits}f}"
    return f"{mean} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else mean


def write(name: str, record: dict) -> Path:
    """Save a result as JSON under benchmarks/results/."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def keep(record: dict, name: str) -> None:
    """Save a long run's record as it goes, so an interrupted run keeps what it measured (a `--quick` one saves nothing)."""
    if not record.get("quick"):
        write(name, record)


def saved(pattern: str) -> list[dict]:
    """Every full (not `--quick`) result under results/ matching the glob `pattern`, by file name."""
    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(pattern))]
    return [r for r in records if not r.get("quick")]


@contextmanager
def throwaway_home(**env: str) -> Iterator[Path]:
    """A temporary WINNOW_HOME (and settings) for one benchmark: the user's own store is never
    touched, and the workers started in it are stopped afterwards."""
    old = {k: os.environ.get(k) for k in ("WINNOW_HOME", *env)}
    with tempfile.TemporaryDirectory(prefix="winnow-bench-", ignore_cleanup_errors=True) as home:
        os.environ.update({"WINNOW_HOME": home, **env})
        from core.jobs import worker
        from core.store import db

        db.reset_engines()
        try:
            yield Path(home)
        finally:
            worker.stop_workers(Path(home))
            db.reset_engines()
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


_DATASETS: dict = {}


def dataset(source: str, root: str | None):
    """`load_source(source, root)` read once per process: every cell a process fits reuses it."""
    from core.data.importers import load_source

    if (source, root) not in _DATASETS:
        _DATASETS[source, root] = load_source(source, root=root)
    return _DATASETS[source, root]


def _cell_process(parent: int) -> None:
    """Set up each spawned cell process: one torch thread; Ctrl-C is the parent's to handle; on
    Linux, the process is sent SIGTERM when its parent dies, however it dies (SIGKILL included)."""
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


def _stop(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def cell_map(jobs: int) -> Iterator:
    """`map` in this process for one job; else an ordered map over `jobs` spawned processes of one
    thread each (spawn, not fork: a forked torch may deadlock in its thread pool). Ended any way
    but cleanly (an error, Ctrl-C, SIGTERM), the cells not started are dropped and the processes
    stopped at once: hours of queued fits are never left running or waited for."""
    if jobs == 1:
        yield map
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import active_children, get_context

    before = set(active_children())
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_cell_process, initargs=(os.getpid(),))
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _stop) if main else None  # SIGTERM unwinds like Ctrl-C
    try:
        yield pool.map
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in set(active_children()) - before:
            child.terminate()
        raise
    else:
        pool.shutdown()
    finally:
        if main:
            signal.signal(signal.SIGTERM, old)


def run_cli(main) -> None:
    """Run a long benchmark's `main` from the command line: Ctrl-C ends it with one line, not a
    traceback (every cell that finished is already saved, in a file marked incomplete)."""
    try:
        main()
    except KeyboardInterrupt:
        print("\nstopped (Ctrl-C): the cells that finished are kept under benchmarks/results, in a file marked \"complete\": false (a --quick run saves nothing)", file=sys.stderr)
        sys.exit(130)


# Benchmark names for registry detectors with fixed hyperparameters: `aae` is Beggel et al.'s
# AAE baseline, `aae_itsr` without the refinement.
ALIASES = {"aae": ("aae_itsr", {"refine": False})}


def resolve(spec: str) -> tuple[str, dict]:
    """A detector spec → (registry name, fixed hyperparameters). A spec is a registry name or an
    alias, optionally with overrides of its preset: "aae_itsr:nu=0.02:hidden=512"."""
    base, *overrides = spec.split(":")
    real, fixed = ALIASES.get(base, (base, {}))
    fixed = dict(fixed)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{spec}: an override is key=value, got {item!r}")
        try:
            fixed[key] = json.loads(value)
        except json.JSONDecodeError:
            fixed[key] = value
    return real, fixed


def names_in(choices: Iterable[str]) -> Callable[[str], str]:
    """An argparse type: a comma-separated list of names from `choices`, kept as given."""

    def parse(text: str) -> str:
        bad = [n for n in text.split(",") if n not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(choices)}")
        return text

    return parse


def fractions(text: str) -> str:
    """An argparse type: comma-separated fractions in [0, 1) ("0.01,0.001"), kept as given."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give fractions such as 0.01,0.001 (not percentages)") from None
    if not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: each fraction must be at least 0 and below 1")
    return text


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more (jobs, epochs, a measuring interval)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


def fit_parser(doc: str | None, *, preset: str = "quick", epochs: str | None = "override every deep detector's epochs",
               jobs: str | None = "detectors", holds: str = "MNIST/raw and FashionMNIST/raw") -> argparse.ArgumentParser:
    """The parser a benchmark that fits detectors starts from: --preset, --epochs (when `epochs`
    names what it overrides), --jobs (when `jobs` names what runs at once) and --root, worded alike."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=preset, choices=["quick", "paper"])
    if epochs:
        ap.add_argument("--epochs", type=at_least_one, help=epochs)
    if jobs:
        ap.add_argument("--jobs", type=at_least_one, default=1, help=f"{jobs} fitted at once, each in a process of one thread")
    ap.add_argument("--root", default=str(SHARED_DATA), help=f"folder holding {holds}")
    return ap


def check_specs(parser, specs: str, preset: str, epochs: int | None = None) -> None:
    """Fail through `parser` on the first unknown detector or bad override in the comma-separated
    `specs`, or an `epochs` override a spec sets too: a typo stops the run now, not after hours of
    the other fits."""
    from core.models import registry

    for spec in specs.split(","):
        try:
            real, fixed = resolve(spec)
            registry.get(real).resolve_params(fixed, preset)
        except (KeyError, ValueError) as e:
            parser.error(f"--detectors {spec}: {e}")
        if epochs and "epochs" in fixed:  # one would silently win over the other
            parser.error(f"--detectors {spec} sets epochs itself: drop --epochs or the spec's epochs=")


def file_safe(text: str) -> str:
    """`text` with what a file name should not hold made "_": "aae_itsr:nu=0.02" → "aae_itsr_nu_0.02"."""
    return re.sub(r"[^\w.+-]", "_", text)


def make_detector(spec: str, images, preset: str, epochs: int | None):
    """The detector a spec names (see `resolve`) with `preset`, its overrides and `epochs` (where it
    trains in epochs), built for images shaped like `images` (N, H, W, C) and not yet fitted."""
    from core.models import registry
    from core.services import runs

    name, fixed = resolve(spec)
    cls = registry.get(name)
    params = runs.with_epochs([name], epochs, {name: fixed})[name]
    return cls(images.shape[3], images.shape[1], cls.resolve_params(params, preset))


def fit_detector(spec: str, images, train, preset: str, epochs: int | None, seed: int):
    """`make_detector`, fitted in this process on `images[train]`; returns (model, seconds)."""
    import time

    import torch

    torch.manual_seed(seed)
    model = make_detector(spec, images, preset, epochs)
    t = time.perf_counter()
    model.fit(images[train], seed=seed)
    return model, time.perf_counter() - t


def finish(record: dict, name: str, table: str) -> dict:
    """Print a benchmark's table; save the record under results/ (a `--quick` one is printed instead)."""
    print(table)
    if "cpu_probe_ms" in record:
        record["cpu_probe_end_ms"] = cpu_probe()  # a long run's machine can slow down under it
    if record.get("quick"):
        print(json.dumps(record))
    else:
        print(f"saved {write(name, record)}")
    return record


def pyplot():
    """matplotlib.pyplot on the Agg backend: the benchmarks draw PNGs and need no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Write `fig` to the PNG `path` (its folder made if need be), free it and return `path`."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
