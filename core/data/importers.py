"""Importers: turn a source (built-in set, zip, folder, npz, idx files, torchvision set) into arrays.

Every importer ends in the same place: uint8 images of one square size, integer labels
indexing a class list, a name per image, and a list of the files that could not be read.
A source that cannot be imported at all raises DataError with a message naming the file.

Folders and zips share one layout rule: leading folders common to every image are ignored;
then the first folder level is the class, and images outside any class folder are
unlabelled (-1). So "mydata/cat/1.png, mydata/dog/2.png" has classes cat and dog, while
"mydata/1.png, mydata/2.png" (or one lone class folder) is an unlabelled set. A folder that
holds MNIST-style idx files is imported from those files alone.
"""
from __future__ import annotations

import gzip
import os
import re
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.data import images as img

# Archive limits: above these a zip is refused outright, not partly imported.
MAX_ENTRIES = 100_000
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_RATIO = 200  # uncompressed/compressed; only counted for entries above BOMB_MIN_BYTES
BOMB_MIN_BYTES = 1024**2

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_IDX_SETS = {"MNIST": MNIST_CLASSES, "FashionMNIST": FASHION_CLASSES}
_TORCHVISION = ("MNIST", "FashionMNIST", "CIFAR10")

_ARCHIVE_EXTENSIONS = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".npz")
_JUNK_NAMES = {"thumbs.db", "desktop.ini"}
_IDX_IMAGES = re.compile(r"^(?P<prefix>.*?)[-_.]?images[-_.]idx3[-_.]ubyte(?P<gz>\.gz)?$", re.IGNORECASE)
_UNKNOWN = "expected builtin:digits, torchvision:NAME, or a path to a .zip, .npz, idx file or folder"

Progress = Callable[[float, str], None]


class DataError(ValueError):
    """A source that cannot be imported at all; the message names the file and the problem."""


@dataclass
class Imported:
    images: np.ndarray  # uint8 (N, S, S, C), C in {1,3}
    labels: np.ndarray  # int64 (N,), index into classes, -1 = unlabelled
    classes: list[str]  # class names ([] when unlabelled)
    names: list[str]  # one per image: file path inside the source, or e.g. "train/00042"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason) per unreadable file
    source: str = ""


# ---------------------------------------------------------------- entry point


def load_source(
    source: str,
    *,
    root: str | None = None,
    size: int | None = None,
    progress: Progress | None = None,
    allow_download: bool = False,
) -> Imported:
    """Import `source` as uint8 square images with labels; raise DataError if it cannot be."""
    source = str(source).strip()
    _check_size(size)
    report = _Throttle(progress)
    kind = source_kind(source)
    if kind == "builtin":
        out = _load_builtin(source)
    elif kind == "torchvision":
        out = _load_torchvision(source, root, allow_download, report)
    elif kind == "zip":
        out = _load_zip(Path(source), size, report)
    elif kind == "folder":
        out = _load_folder(Path(source), size, report)
    elif kind == "npz":
        out = _load_npz(Path(source))
    elif kind == "idx":
        out = _load_idx_file(Path(source))
    else:
        raise DataError(f"unknown source {source!r}; {_UNKNOWN}")
    report(1.0, f"resizing {len(out.images)} images")
    result = out.finish(size, source)
    report(1.0, f"imported {len(result.images)} images", force=True)
    return result


def source_kind(source: str) -> str:
    """One of builtin, torchvision, zip, npz, idx, folder or unknown: what load_source would treat it as."""
    source = str(source).strip()
    if source.startswith("builtin:"):
        return "builtin"
    if source.startswith("torchvision:"):
        return "torchvision"
    kind = file_kind(source)
    if kind == "unknown" and source and Path(source).is_dir():
        return "folder"
    return kind


def file_kind(name: str) -> str:
    """zip, npz, idx or unknown, from a file's name alone (nothing on disk is looked at)."""
    lower = str(name).lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(".npz"):
        return "npz"
    if _IDX_IMAGES.match(Path(name).name):
        return "idx"
    return "unknown"


def _check_size(size: int | None) -> None:
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or int(size) not in img.SIZES:
        raise DataError(f"image size {size!r} is not supported; choose one of {', '.join(map(str, img.SIZES))}")


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value, so "2" comes before "10"."""
    parts = re.split(r"([0-9]+)", text)
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p.casefold()) for p in parts), text


# ---------------------------------------------------------------- collecting images


class _Throttle:
    """Calls the caller's progress at most ten times a second; its exceptions propagate (a cancel)."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.last = 0.0

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self.last >= 0.1:
            self.last = now
            self.progress(min(max(float(fraction), 0.0), 1.0), message)


class _Collector:
    """Decoded images, their labels and names, and the skipped files, before final sizing."""

    def __init__(self, size: int | None):
        self.size = size
        self.images: list[np.ndarray] = []
        self.shapes: list[tuple[int, int]] = []
        self.class_names: list[str | None] = []
        self.names: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        # For sets whose labels are already indices (idx, npz, torchvision).
        self.labels: list[int] = []
        self.fixed_classes: list[str] | None = None

    def add(self, image: np.ndarray, name: str, class_name: str | None = None) -> None:
        """One decoded image; shrunk at once when it can only end at one size, to bound memory."""
        h, w = image.shape[:2]
        self.shapes.append((h, w))
        target = self.size or (img.MAX_SIDE if max(h, w) > img.MAX_SIDE else None)
        self.images.append(img.resize_square(image, target) if target else image)
        self.class_names.append(class_name)
        self.names.append(name)

    def add_array(self, arr: np.ndarray, labels: np.ndarray | None, prefix: str) -> None:
        """A block of same-sized images (N,H,W[,C]) with integer labels (or none)."""
        width = max(5, len(str(len(arr) - 1)))
        for i in range(len(arr)):
            self.add(arr[i], f"{prefix}{i:0{width}d}")
        self.labels.extend((labels if labels is not None else np.full(len(arr), -1)).tolist())

    def finish(self, size: int | None, source: str) -> Imported:
        if not self.images:
            raise DataError(f"no images found in {source}")
        size = size or img.choose_size(self.shapes)
        labels, classes = self._labels()
        return Imported(
            images=img.to_common(self.images, int(size)),
            labels=labels,
            classes=classes,
            names=self.names,
            skipped=self.skipped,
            source=source,
        )

    def _labels(self) -> tuple[np.ndarray, list[str]]:
        if self.fixed_classes is not None:
            labels = np.asarray(self.labels, dtype=np.int64)
            return labels, (self.fixed_classes if (labels >= 0).any() else [])
        classes = sorted({c for c in self.class_names if c is not None}, key=natural_key)
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index.get(c, -1) if c is not None else -1 for c in self.class_names], dtype=np.int64)
        return labels, classes


# ---------------------------------------------------------------- built-in and torchvision sets


def _load_builtin(source: str) -> _Collector:
    if source != "builtin:digits":
        raise DataError(f"unknown built-in set {source!r}; the only one is builtin:digits")
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)  # values are 0..16
    out = _Collector(None)
    out.fixed_classes = list(MNIST_CLASSES)
    out.add_array(pixels, digits.target.astype(np.int64), "digits/")
    return out


def _load_torchvision(source: str, root: str | None, allow_download: bool, report: _Throttle) -> _Collector:
    wanted = source.split(":", 1)[1].strip()
    name = next((n for n in _TORCHVISION if n.lower() == wanted.lower()), None)
    if name is None:
        raise DataError(f"unsupported torchvision set {wanted!r}; supported: {', '.join(_TORCHVISION)}")
    if not root:
        raise DataError(f"{source} needs a root folder holding (or receiving) the {name} files")
    if name == "CIFAR10":
        return _load_cifar10(Path(root), allow_download, report)
    return _load_torchvision_idx(name, Path(root), allow_download, report)


def _load_torchvision_idx(name: str, root: Path, allow_download: bool, report: _Throttle) -> _Collector:
    raw = root / name / "raw"
    pairs = _torchvision_pairs(raw)
    if len(pairs) < 2 and allow_download:
        report(0.0, f"downloading {name} into {root}", force=True)
        _download(name, root)
        pairs = _torchvision_pairs(raw)
    if len(pairs) < 2:
        raise DataError(
            f"torchvision:{name}: train and t10k idx files not found in {raw} "
            f"(looked for train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]); "
            "allow download or point root at a folder that has them"
        )
    out = _Collector(None)
    out.fixed_classes = list(_IDX_SETS[name])
    for k, (images_path, labels_path, prefix) in enumerate(pairs):
        report(k / len(pairs), f"reading {images_path.name}")
        _add_idx_pair(out, images_path, labels_path, prefix)
    return out


def _torchvision_pairs(raw: Path) -> list[tuple[Path, Path | None, str]]:
    pairs = []
    for prefix in ("train", "t10k"):
        images_path = _first_existing(raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-images-idx3-ubyte.gz")
        labels_path = _first_existing(raw / f"{prefix}-labels-idx1-ubyte", raw / f"{prefix}-labels-idx1-ubyte.gz")
        if images_path and labels_path:
            pairs.append((images_path, labels_path, prefix))
    return pairs


def _first_existing(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _fetch(what: str, root: Path, fetch) -> None:
    """Every download goes through here: only on the user's explicit request (allow_download),
    refused under WINNOW_OFFLINE (set by the test suite), any failure reported as a DataError."""
    from core import config

    if config.offline():
        raise DataError(f"{what}: downloads are off on this machine (WINNOW_OFFLINE); put the files under the root folder instead")
    root.mkdir(parents=True, exist_ok=True)
    try:
        fetch()
    except Exception as e:  # network, checksum and archive failures arrive as many types
        raise DataError(f"{what}: download into {root} failed ({e})") from None


def _download(name: str, root: Path) -> None:
    """A torchvision set, fetched and checksummed by torchvision."""

    def fetch() -> None:
        import torchvision

        # Only on the user's request and never under WINNOW_OFFLINE (`_fetch`); MNIST-style sets are
        # idx files, checksummed by torchvision, and its legacy .pt path loads with weights_only=True.
        for train in (True, False):
            getattr(torchvision.datasets, name)(str(root), train=train, download=True)

    _fetch(f"torchvision:{name}", root, fetch)


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_BINARY_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # as published on the CIFAR page
_CIFAR_RECORD = 1 + 3 * 32 * 32  # a label byte, then the red, green and blue 32×32 planes


def _load_cifar10(root: Path, allow_download: bool, report: _Throttle) -> _Collector:
    """CIFAR-10's binary release (`cifar-10-batches-bin/`): plain bytes. The Python release is
    pickled, and Winnow never unpickles a file it did not write."""
    folder = root / "cifar-10-batches-bin"
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if not all((folder / n).is_file() for n in names) and allow_download:
        report(0.0, f"downloading CIFAR-10 (binary release) into {root}", force=True)
        _download_cifar10_binary(root)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        pickled = (root / "cifar-10-batches-py").is_dir()
        raise DataError(
            f"torchvision:CIFAR10: {', '.join(missing)} not found in {folder}; Winnow reads the binary release "
            f"({CIFAR10_BINARY_URL}), not the pickled Python one" + (" found beside it" if pickled else "")
        )
    out = _Collector(None)
    out.fixed_classes = list(CIFAR10_CLASSES)
    for k, n in enumerate(names):
        report(k / len(names), f"reading {n}")
        raw = np.fromfile(folder / n, dtype=np.uint8)
        if raw.size == 0 or raw.size % _CIFAR_RECORD:
            raise DataError(f"{n}: {raw.size} bytes is not a whole number of {_CIFAR_RECORD}-byte CIFAR-10 records (truncated?)")
        rec = raw.reshape(-1, _CIFAR_RECORD)
        labels = rec[:, 0].astype(np.int64)
        if labels.max() >= len(CIFAR10_CLASSES):
            raise DataError(f"{n}: label {int(labels.max())} is not a CIFAR-10 class (0–9)")
        pixels = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        out.add_array(np.ascontiguousarray(pixels), labels, "train/" if n.startswith("data") else "test/")
    return out


def _download_cifar10_binary(root: Path) -> None:
    """The binary release, checked against its published MD5, then unpacked."""
    archive = root / "cifar-10-binary.tar.gz"

    def fetch() -> None:
        import tarfile

        from torchvision.datasets.utils import download_url

        try:
            download_url(CIFAR10_BINARY_URL, str(root), archive.name, md5=CIFAR10_BINARY_MD5)  # raises on a mismatch
            with tarfile.open(archive) as tar:
                tar.extractall(root, filter="data")  # refuses paths outside root, links and devices
        finally:
            archive.unlink(missing_ok=True)

    _fetch("torchvision:CIFAR10", root, fetch)


# ---------------------------------------------------------------- idx files


def _load_idx_file(path: Path) -> _Collector:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    labels_path = _labels_beside(path)
    out = _Collector(None)
    _add_idx_pair(out, path, labels_path, idx_prefix(path))
    out.fixed_classes = _index_classes(out.labels)
    return out


def _labels_beside(images_path: Path) -> Path | None:
    """The labels file named like the images file (images->labels, idx3->idx1), gz or not."""
    base = re.sub(r"\.gz$", "", images_path.name, flags=re.IGNORECASE)
    base = re.sub("images", "labels", base, flags=re.IGNORECASE)
    base = re.sub("idx3", "idx1", base, flags=re.IGNORECASE)
    return _first_existing(images_path.with_name(base), images_path.with_name(base + ".gz"))


def idx_prefix(images_path: Path) -> str:
    """The set's prefix, e.g. "train/" for train-images-idx3-ubyte[.gz] ("images/" when the name has none)."""
    match = _IDX_IMAGES.match(images_path.name)
    prefix = match.group("prefix") if match else ""
    return (prefix or "images") + "/"


def _index_classes(labels: list[int]) -> list[str]:
    top = max(labels, default=-1)
    return [str(i) for i in range(top + 1)]


def _add_idx_pair(out: _Collector, images_path: Path, labels_path: Path | None, prefix: str) -> None:
    pixels = read_idx(images_path, ndim=3)
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path, ndim=1).astype(np.int64)
        if len(labels) != len(pixels):
            raise DataError(
                f"{labels_path.name} has {len(labels)} labels but {images_path.name} has {len(pixels)} images"
            )
    out.add_array(pixels, labels, prefix if prefix.endswith("/") else prefix + "/")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """A uint8 idx array (magic 0x0803 images, 0x0801 labels) from a raw or gzipped file."""
    data = _read_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] != ndim:
        found = data[:4].hex() if len(data) >= 4 else "a file shorter than 4 bytes"
        raise DataError(f"{path.name}: not an idx file of {ndim}-d unsigned bytes (expected magic 0000080{ndim}, found {found})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path.name}: truncated idx header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing data"
        raise DataError(f"{path.name}: {problem}: header says {'x'.join(map(str, dims))} ({expected} bytes), file has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_maybe_gzip(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        if head != b"\x1f\x8b":
            if path.stat().st_size > MAX_TOTAL_BYTES:
                raise DataError(f"{path.name}: larger than {MAX_TOTAL_BYTES:,} bytes")
            return path.read_bytes()
        with gzip.open(path, "rb") as f:
            data = f.read(MAX_TOTAL_BYTES + 1)  # bounded: a gzip bomb stops here
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path.name}: cannot be read ({e})") from None
    if len(data) > MAX_TOTAL_BYTES:
        raise DataError(f"{path.name}: unpacks to more than {MAX_TOTAL_BYTES:,} bytes")
    return data


def _find_idx_pairs(root: Path) -> list[tuple[Path, Path | None, str]]:
    """Idx image files anywhere under a folder (no symlinks), each with its labels file."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            path = Path(dirpath) / fn
            if _IDX_IMAGES.match(fn) and not path.is_symlink():
                key = str(path.relative_to(root)).removesuffix(".gz")
                # Where torchvision unpacked a .gz beside itself, the unpacked copy wins: it is faster.
                if key not in found or found[key].suffix == ".gz":
                    found[key] = path
    pairs = [(p, _labels_beside(p), idx_prefix(p)) for _, p in sorted(found.items(), key=lambda kv: natural_key(kv[0]))]
    return _dedupe_prefixes(pairs)


def _dedupe_prefixes(pairs: list[tuple[Path, Path | None, str]]) -> list[tuple[Path, Path | None, str]]:
    seen: dict[str, int] = {}
    out = []
    for images_path, labels_path, prefix in pairs:
        seen[prefix] = seen.get(prefix, 0) + 1
        if seen[prefix] > 1:
            prefix = f"{prefix.rstrip('/')}-{seen[prefix]}/"
        out.append((images_path, labels_path, prefix))
    return out


# ---------------------------------------------------------------- npz


def _load_npz(path: Path) -> _Collector:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    _check_npz_archive(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if "x" not in keys:
                raise DataError(f"{path.name}: no array named 'x' (it has: {', '.join(keys) or 'nothing'})")
            x = _npz_get(npz, "x", path)
            y = _npz_get(npz, "y", path) if "y" in keys else None
            names = _npz_get(npz, "classes", path) if "classes" in keys else None
    except DataError:
        raise
    except Exception as e:  # not an npz, or a damaged one
        raise DataError(f"{path.name}: not a readable .npz file ({e})") from None
    pixels = _npz_pixels(x, path.name)
    labels = _npz_labels(y, len(pixels), path.name) if y is not None else None
    out = _Collector(None)
    out.fixed_classes = _npz_classes(names, labels, path.name)
    out.add_array(pixels, labels, "x/")
    return out


def _check_npz_archive(path: Path) -> None:
    """An npz is a zip: refuse one whose members would unpack to a bomb before numpy reads them."""
    try:
        with zipfile.ZipFile(path) as zf:
            _check_archive_limits(zf.infolist(), path.name)
    except zipfile.BadZipFile:
        raise DataError(f"{path.name}: not a readable .npz file (not a zip archive)") from None
    except OSError as e:
        raise DataError(f"{path.name}: cannot be read ({e})") from None


def _npz_get(npz, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DataError(
                f"{path.name}: array {key!r} holds Python objects and needs pickle, which Winnow never loads from uploads"
            ) from None
        raise DataError(f"{path.name}: array {key!r} cannot be read ({e})") from None


def _npz_pixels(x: np.ndarray, fname: str) -> np.ndarray:
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[3] == 3)):
        raise DataError(f"{fname}: 'x' must have shape (N,H,W), (N,H,W,1) or (N,H,W,3), not {x.shape}")
    if len(x) == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataError(f"no images found in {fname}: 'x' has shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    if np.issubdtype(x.dtype, np.integer):
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{fname}: integer 'x' must lie in 0..255, found {lo}..{hi}")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        return _float_pixels(x, fname)
    raise DataError(f"{fname}: 'x' has unsupported type {x.dtype}; expected uint8 (or floats in [0,1] or [0,255])")


def _float_pixels(x: np.ndarray, fname: str) -> np.ndarray:
    """Floats in [0,1] scale by 255, floats in [0,255] are rounded; anything else is refused."""
    if not np.isfinite(x).all():
        raise DataError(f"{fname}: 'x' contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise DataError(f"{fname}: float 'x' must lie in [0,1] or [0,255], found {lo:g}..{hi:g}")
    scale = 255.0 if hi <= 1.0 else 1.0  # ambiguous all-dark [0,255] data reads as [0,1]
    return np.rint(x.astype(np.float64) * scale).astype(np.uint8)


def _npz_labels(y: np.ndarray, n: int, fname: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{fname}: 'y' has {y.shape[0] if y.ndim else 0} labels (shape {y.shape}) but 'x' has {n} images")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.equal(np.mod(y, 1), 0).all():
            raise DataError(f"{fname}: 'y' must hold whole-number labels")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{fname}: 'y' must hold integer labels, not {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < -1:
        raise DataError(f"{fname}: 'y' has label {int(y.min())}; labels must be >= 0 (or -1 for unlabelled)")
    return y


def _npz_classes(names: np.ndarray | None, labels: np.ndarray | None, fname: str) -> list[str]:
    if labels is None:
        return []
    top = int(labels.max()) if len(labels) else -1
    if names is None:
        return [str(i) for i in range(top + 1)]
    if names.dtype.kind == "S":
        names = np.char.decode(names, "utf-8", errors="replace")
    if names.dtype.kind != "U" or names.ndim != 1:
        raise DataError(f"{fname}: 'classes' must be a 1-d array of strings, not {names.dtype} {names.shape}")
    if len(names) <= top:
        raise DataError(f"{fname}: 'classes' names {len(names)} classes but 'y' uses label {top}")
    return [str(c) for c in names]


# ---------------------------------------------------------------- zip archives


def _load_zip(path: Path, size: int | None, report: _Throttle) -> _Collector:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_archive_limits(infos, path.name)
            return _read_zip_entries(zf, infos, path.name, size, report)
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DataError(f"{path.name}: not a readable zip archive ({e})") from None


def _check_archive_limits(infos: list[zipfile.ZipInfo], fname: str) -> None:
    if len(infos) > MAX_ENTRIES:
        raise DataError(f"{fname}: {len(infos):,} entries is more than the limit of {MAX_ENTRIES:,}")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise DataError(f"{fname}: unpacks to {total:,} bytes, more than the limit of {MAX_TOTAL_BYTES:,}")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > BOMB_MIN_BYTES and ratio > MAX_RATIO:
            raise DataError(
                f"{fname}: entry {_entry_name(info)!r} compresses {ratio:.0f}:1 "
                f"(limit {MAX_RATIO}:1); refusing a likely zip bomb"
            )


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name, repairing UTF-8 names that the zip did not flag as UTF-8."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:  # zipfile decoded unflagged names as cp437; many zippers wrote UTF-8 anyway
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _read_zip_entries(zf: zipfile.ZipFile, infos, fname: str, size: int | None, report: _Throttle) -> _Collector:
    out = _Collector(size)
    wanted: list[tuple[str, zipfile.ZipInfo]] = []
    for info in infos:
        if info.is_dir():
            continue
        name = _entry_name(info)
        reason = _zip_entry_problem(info, name)
        if reason is None:
            wanted.append((name, info))
        elif reason:
            out.skipped.append((name, reason))
    wanted.sort(key=lambda item: natural_key(item[0]))
    classes = _class_names([name for name, _ in wanted])
    for k, (name, info) in enumerate(wanted):
        report(k / len(wanted), f"decoding {name}")
        data = _read_entry(zf, info, name, out)
        if data is not None:
            _decode_into(out, data, name, classes[k])
    if not out.images:
        raise DataError(_nothing_found(fname, out.skipped))
    return out


def _zip_entry_problem(info: zipfile.ZipInfo, name: str) -> str | None:
    """Why an entry is not read: a reason to report, "" to ignore it silently, None to read it."""
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        return "unsafe path (absolute or containing '..'); not imported"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link; not imported"
    return _file_problem(parts, info.flag_bits & 0x1 != 0)


def _file_problem(parts: list[str], encrypted: bool = False) -> str | None:
    """Shared by zips and folders: junk is ignored, non-images and archives are reported."""
    if _is_junk(parts):
        return ""
    base = parts[-1].lower()
    if base.endswith(_ARCHIVE_EXTENSIONS):
        return "nested archives are not imported"
    if not img.is_image_name(base):
        return "not an image"
    if encrypted:
        return "encrypted entry; not imported"
    return None


def _is_junk(parts: list[str]) -> bool:
    """macOS resource forks, dotfiles and Windows thumbnails: never user data."""
    return any(p == "__MACOSX" or p.startswith(".") for p in parts if p not in ("", ".")) or parts[-1].lower() in _JUNK_NAMES


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, out: _Collector) -> bytes | None:
    try:
        with zf.open(info) as f:
            return f.read(info.file_size + 1)  # the declared size bounds what we unpack
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error, ValueError) as e:
        out.skipped.append((name, f"cannot be unpacked ({e})"))
        return None


def _decode_into(out: _Collector, data: bytes, name: str, class_name: str | None) -> None:
    try:
        out.add(img.decode_image(data, name), name, class_name)
    except img.ImageError as e:
        out.skipped.append((name, e.reason))


def _class_names(names: list[str]) -> list[str | None]:
    """Per image, its class (first folder level under the folders common to all) or None."""
    split = [re.split(r"[/\\]", n) for n in names]
    # "export/set/cat/1.png" and "export/set/dog/2.png": cat and dog are the classes
    # "export/set/cat/1.png" with "export/set/dog/2.png": cat and dog are the classes, while
    # one folder holding every image is a flat, unlabelled set.
    while split and all(len(parts) > 1 for parts in split) and len({parts[0] for parts in split}) == 1:
        split = [parts[1:] for parts in split]
    return [parts[0] if len(parts) > 1 else None for parts in split]


def _nothing_found(fname: str, skipped: list[tuple[str, str]]) -> str:
    if not skipped:
        return f"no images found in {fname}"
    first = "; ".join(f"{n}: {r}" for n, r in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return f"no images found in {fname}: {len(skipped)} files skipped ({first}{more})"


# ---------------------------------------------------------------- folders


def _load_folder(root: Path, size: int | None, report: _Throttle) -> _Collector:
    root = root.resolve()
    pairs = _find_idx_pairs(root)
    if pairs:
        return _load_idx_pairs(pairs, report)
    out = _Collector(size)
    files = _folder_files(root, out)
    classes = _class_names([rel for rel, _ in files])
    for k, (rel, path) in enumerate(files):
        report(k / len(files), f"decoding {rel}")
        try:
            data = path.read_bytes()
        except OSError as e:
            out.skipped.append((rel, f"cannot be read ({e.strerror or e})"))
            continue
        _decode_into(out, data, rel, classes[k])
    if not out.images:
        raise DataError(_nothing_found(str(root), out.skipped))
    return out


def _load_idx_pairs(pairs: list[tuple[Path, Path | None, str]], report: _Throttle) -> _Collector:
    out = _Collector(None)
    for k, (images_path, labels_path, prefix) in enumerate(pairs):
        report(k / len(pairs), f"reading {images_path.name}")
        _add_idx_pair(out, images_path, labels_path, prefix)
    out.fixed_classes = _index_classes(out.labels)
    return out


def _folder_files(root: Path, out: _Collector) -> list[tuple[str, Path]]:
    """Image files under root as (relative posix name, path), reporting what is left out."""
    files: list[tuple[str, Path]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for d in list(dirnames):
            if _is_junk([d]):
                dirnames.remove(d)
            elif (here / d).is_symlink():  # os.walk would not enter it; say so rather than drop it silently
                dirnames.remove(d)
                out.skipped.append(((here / d).relative_to(root).as_posix(), "symbolic link to a folder; not followed"))
        for fn in filenames:
            path = here / fn
            rel = path.relative_to(root).as_posix()
            reason = _file_problem(rel.split("/"))
            if reason is None:
                reason = _not_regular(path, root)
            if reason is None:
                files.append((rel, path))
                total += path.stat().st_size
            elif reason:
                out.skipped.append((rel, reason))
        if len(files) > MAX_ENTRIES or total > MAX_TOTAL_BYTES:
            raise DataError(
                f"{root}: more than {MAX_ENTRIES:,} images or {MAX_TOTAL_BYTES:,} bytes; import a smaller folder"
            )
    files.sort(key=lambda item: natural_key(item[0]))
    return files


def _not_regular(path: Path, root: Path) -> str | None:
    """A reason not to read a path: a symlink leading outside root, or no regular file (a FIFO would block)."""
    if not path.is_symlink():
        return None if path.is_file() else "not a regular file"
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "broken symbolic link"
    return None if target.is_relative_to(root) and target.is_file() else "symbolic link pointing outside the folder; not followed"
