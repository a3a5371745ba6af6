"""Training and scoring throughput of every detector (images/s), and its peak memory, at one size and batch.

    .venv/bin/python -m benchmarks.speed [--size 32] [--channels 1] [--batch 64] [--n 2048] [--device cpu] [--quick]

Training throughput is measured over one epoch of `n` images after a warm-up, with the
`paper` preset's widths at `--batch` (the authors' reference design) and with the `quick`
preset as it is (its own batch size); "quick on 5,000" extrapolates the quick preset's
whole training time on 5,000 images from that throughput and its epoch count. Peak memory
is what building and training the paper preset adds (weights, optimiser state, activations):
on a GPU torch's peak allocation, on a CPU the growth of the process's peak resident set (each detector is measured in a fresh process,
so one detector's high-water mark does not hide the next one's). `--quick` (CI): 16 px,
256 images, every detector, nothing saved.
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import environment, finish
from core.models import registry


def images(n: int, size: int, channels: int) -> np.ndarray:
    """Smooth random blobs: cheap, and not the degenerate all-noise case."""
    rng = np.random.default_rng(0)
    low = rng.integers(0, 256, size=(n, size // 4, size // 4, channels)).astype(np.uint8)
    return low.repeat(4, axis=1).repeat(4, axis=2)


# A detector trained in phases runs each phase once here: the fewest epochs its fit allows.
SHORTEST = {"aae_itsr": {"pretrain_epochs": 1, "refine_epochs": 1, "refinements": 1}}


def _peak_rss(reset: bool = False) -> int:
    """This process's peak resident set in bytes (VmHWM); `reset` first lowers the peak to the current size.

    Not ru_maxrss: Linux carries the parent's high-water mark across exec, so a process spawned
    by a large one (pytest after many tests) would report the parent's size."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (Linux ≥ 4.0)
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure(name: str, preset: str, x: np.ndarray, batch: int | None, device: str) -> dict:
    """Images/s training and scoring; `batch` None keeps the preset's own batch size."""
    cls = registry.get(name)
    cuda = device.startswith("cuda")
    # the baseline before the model exists: peak memory counts weights, optimiser state and activations
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _peak_rss(reset=True)
    torch.manual_seed(0)
    given = {"epochs": 1, **SHORTEST.get(name, {})} | ({"batch_size": batch} if batch else {}) if cls.deep else {}
    params = cls.resolve_params(given, preset)
    batch = params.get("batch_size", 256)  # the pixel baselines fit in one go
    model = cls(x.shape[3], x.shape[1], params).to(device)
    epochs = model.total_epochs(len(x))
    model.fit(x[: batch * 2], seed=0)  # warm-up: allocator, kernels, lazy init
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    t = time.perf_counter()
    model.fit(x, seed=0)
    sync()
    train = epochs * len(x) / (time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() if cuda else _peak_rss()
    t = time.perf_counter()
    model.infer(x, batch_size=max(batch, 256))
    sync()
    score = len(x) / (time.perf_counter() - t)
    return {"train_img_s": train, "score_img_s": score, "peak_mb": max(peak - before, 0) / 2**20, "epochs_on_5000": cls(x.shape[3], x.shape[1], cls.resolve_params({}, preset)).total_epochs(5000)}


def measure_apart(name: str, preset: str, x: np.ndarray, batch: int | None, device: str) -> dict:
    """`measure` in a fresh spawned process (a clean memory high-water mark, and no CUDA in this one)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, name, preset, x, batch, device).result()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--detectors", default=",".join(registry.NAMES))
    ap.add_argument("--quick", action="store_true", help="CI: 16 px, 256 images, nothing saved")
    a = ap.parse_args(argv)
    if a.quick:
        a.size, a.n = 16, 256
    x = images(a.n, a.size, a.channels)
    rows = []
    for name in a.detectors.split(","):
        paper = measure_apart(name, "paper", x, a.batch, a.device)
        quick = measure_apart(name, "quick", x, None, a.device)
        row = {
            "detector": name,
            "paper train img/s": round(paper["train_img_s"]),
            "paper score img/s": round(paper["score_img_s"]),
            "quick train img/s": round(quick["train_img_s"]),
            "quick score img/s": round(quick["score_img_s"]),
            "quick on 5,000 (min)": round(5000 * quick["epochs_on_5000"] / quick["train_img_s"] / 60, 1),
            "paper peak memory (MB)": round(paper["peak_mb"]),
        }
        rows.append(row)
        print(row, flush=True)
    record = {"benchmark": "speed", "quick": a.quick, "size": a.size, "channels": a.channels, "batch": a.batch, "n": a.n, "device": a.device, **environment(), "rows": rows}
    return finish(record, f"speed-{a.device.split(':')[0]}-{a.size}px-b{a.batch}", table(record))


def table(record: dict) -> str:
    """The README's markdown table for one speed record."""
    cols = list(record["rows"][0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in record["rows"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
