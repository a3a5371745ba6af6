"""Datasets: import into the store, list, and read images and labels back."""
from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import select

from core import config
from core.data.images import is_image_name
from core.data.importers import DataError, file_kind, idx_prefix, load_source
from core.store import arrays, db
from core.store.tables import Dataset


def check_new_name(name: str, table) -> str:
    """A stripped, non-empty name not yet used in `table`."""
    name = (name or "").strip()
    if not name:
        raise ValueError("a name is required")
    if len(name) > 200:
        raise ValueError("a name may have at most 200 characters")
    with db.session() as s:
        if s.scalar(select(table.id).where(table.name == name)) is not None:
            raise ValueError(f"the name {name!r} is already taken; choose another")
    return name


def import_dataset(
    source: str,
    name: str,
    *,
    root: str | None = None,
    size: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    allow_download: bool = False,
    recorded_as: str | None = None,
) -> Dataset:
    """Read `source` and store it as dataset `name`; either all of it lands or none of it."""
    name = check_new_name(name, Dataset)
    data = load_source(source, root=root, size=size, progress=progress, allow_download=allow_download)
    staging = config.home() / "datasets" / f".staging-{uuid.uuid4().hex}"
    try:
        arrays.save(staging / "images.npy", data.images)
        arrays.save(staging / "labels.npy", data.labels.astype(np.int64))
        arrays.save(staging / "names.npy", np.asarray(data.names, dtype=str))
        counts = [int((data.labels == i).sum()) for i in range(len(data.classes))]
        with db.session() as s:
            row = Dataset(
                name=name,
                source=recorded_as or str(source),
                n=len(data.images),
                size=int(data.images.shape[1]),
                channels=int(data.images.shape[3]),
                classes=list(data.classes),
                class_counts=counts,
                skipped=[list(x) for x in data.skipped],
            )
            s.add(row)
            s.flush()
            target = config.home() / "datasets" / str(row.id)
            if target.exists():  # left by an earlier failed import with a rolled-back id
                shutil.rmtree(target)
            staging.rename(target)
        return row
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def list_datasets() -> list[Dataset]:
    with db.session() as s:
        return list(s.scalars(select(Dataset).order_by(Dataset.id)))


def get_dataset(ref: int | str) -> Dataset:
    """A dataset by id or name."""
    return db.fetch(Dataset, ref, "dataset")


def images(dataset_id: int, idx: np.ndarray | None = None) -> np.ndarray:
    """uint8 (N,H,W,C) images of a dataset, all or those at `idx`."""
    arr = arrays.load(db.folder("datasets", dataset_id) / "images.npy", mmap=True)
    return np.asarray(arr if idx is None else arr[np.asarray(idx)])


def labels(dataset_id: int) -> np.ndarray:
    return arrays.load(db.folder("datasets", dataset_id) / "labels.npy")


def names(dataset_id: int) -> np.ndarray:
    return arrays.load(db.folder("datasets", dataset_id) / "names.npy")


def class_indices(ds: Dataset, chosen: list[str]) -> list[int]:
    """Indices of class names in `ds.classes`, with a message naming any unknown one."""
    out = []
    for c in chosen:
        c = str(c).strip()
        if c not in ds.classes:
            raise ValueError(f"unknown class {c!r} in dataset {ds.name!r}; its classes are: {', '.join(ds.classes) or '(none: unlabelled)'}")
        out.append(ds.classes.index(c))
    return out


def preview(ds: Dataset, per_class: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Up to `per_class` random images of each class (or of the whole set when unlabelled)."""
    lab = labels(ds.id)
    rng = np.random.default_rng(seed)
    groups = {c: np.flatnonzero(lab == i) for i, c in enumerate(ds.classes)} or {"all": np.arange(ds.n)}
    out = {}
    for c, idx in groups.items():
        if len(idx):
            pick = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
            out[c] = images(ds.id, pick)
    return out


def suggest_name(file_names: list[str]) -> str:
    """A dataset name for uploaded files: "train" for train-images-idx3-ubyte, else the first file's stem."""
    idx = [fn for fn in file_names if file_kind(fn) == "idx"]
    if idx:
        return idx_prefix(Path(idx[0])).rstrip("/")
    return Path(file_names[0]).name.split(".")[0] if file_names else ""


def import_uploads(files: list[tuple[str, bytes]], name: str, *, size: int | None = None, progress=None) -> Dataset:
    """Import browser uploads: one archive/array file, or several files (e.g. an idx pair)."""
    if not files:
        raise ValueError("no file uploaded")
    # Only the base name, so an upload can never place a file outside the staging folder.
    safe = [Path(raw.replace("\\", "/")).name.lstrip(".") or "upload" for raw, _ in files]
    twice = sorted(n for n, k in Counter(safe).items() if k > 1)  # Counter: a folder's worth of loose images is thousands
    if twice:  # one would overwrite the other in staging
        raise DataError(f"{', '.join(twice)}: two uploaded files share this name; rename one and upload again")
    whole = [n for n in safe if file_kind(n) in ("zip", "npz")]
    if whole and len(files) > 1:
        raise DataError(f"{', '.join(whole)}: a .zip or .npz is a whole dataset, so upload it on its own, without other files")
    if len(files) == 1 and file_kind(safe[0]) == "unknown":
        # several loose images are a flat folder; one alone is not a dataset
        what = "one image is not a dataset" if is_image_name(safe[0]) else "not a file Winnow imports"
        raise DataError(
            f"{safe[0]}: {what}; upload several loose images at once, a .zip of class folders (or of loose images), "
            "an .npz with x and y, or an idx images + labels pair"
        )
    staging = config.home() / "uploads" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        for fname, (_, data) in zip(safe, files):
            (staging / fname).write_bytes(data)
        source = staging if len(files) > 1 else staging / safe[0]
        try:
            return import_dataset(str(source), name, size=size, progress=progress, recorded_as="upload: " + ", ".join(safe))
        except DataError as e:
            # The staging folder is the server's business: name the user's files instead.
            raise DataError(str(e).replace(f"{staging}{os.sep}", "").replace(str(staging), "the uploaded files")) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
