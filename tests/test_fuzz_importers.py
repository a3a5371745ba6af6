"""Fuzzing the importers (Hypothesis): random bytes and random archive trees.

Whatever arrives, an import either succeeds with well-formed images or fails with `DataError`
(a ValueError naming the file and the problem): never another exception, never a file written
outside the home folder, never a half-made dataset in the store.
"""
from __future__ import annotations

import io
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.data.importers import DataError, load_source
from tests.conftest import home_at

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Duplicate name")]  # zipfile warns; duplicates are part of the fuzz
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _check(result) -> None:
    assert result.images.dtype == np.uint8 and result.images.ndim == 4 and len(result.images) > 0
    assert result.images.shape[1] == result.images.shape[2] and result.images.shape[3] in (1, 3)
    assert len(result.labels) == len(result.images) == len(result.names)


def _import(path: Path) -> None:
    try:
        _check(load_source(str(path)))
    except DataError as e:
        assert str(e)  # a message, not an empty error


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@FUZZ
@given(data=st.binary(max_size=4096), kind=st.sampled_from(["x.zip", "x.npz", "x-images-idx3-ubyte", "folder/a.png", "folder/b.jpg", "folder/c.gif"]))
def test_random_bytes_end_in_images_or_a_data_error(tmp_path_factory, data, kind):
    root = tmp_path_factory.mktemp("bytes")
    path = root / kind
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    before = _files(root)
    _import(path.parent if kind.startswith("folder/") else path)
    assert _files(root) == before  # nothing extracted or written beside the source


def _png(seed: int, size: int, mode: str) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "PNG")
    return buf.getvalue()


SEGMENT = st.one_of(
    st.sampled_from(["..", ".", "", "classA", "classB", "<b>x</b>", "naïve", "a b", "__MACOSX", ".hidden"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/\\"), min_size=1, max_size=12),
)
ENTRY_NAME = st.tuples(st.booleans(), st.lists(SEGMENT, min_size=1, max_size=4), st.sampled_from([".png", ".PNG", ".jpg", ".txt", ".zip", ""]))
CONTENT = st.one_of(
    st.tuples(st.just("png"), st.integers(0, 10_000), st.sampled_from([1, 8, 20, 33]), st.sampled_from(["L", "RGB"])),
    st.tuples(st.just("bytes"), st.binary(max_size=300)),
    st.tuples(st.just("zip"), st.integers(0, 10_000)),
)


def _content(spec) -> bytes:
    if spec[0] == "png":
        return _png(spec[1], spec[2], spec[3])
    if spec[0] == "zip":  # a nested archive holding an image
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("inner/a.png", _png(spec[1], 8, "L"))
        return buf.getvalue()
    return spec[1]


def _archive(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for (absolute, segments, suffix), content in entries:
            name = ("/" if absolute else "") + "/".join(segments) + suffix
            if not name.strip("/"):
                continue
            z.writestr(zipfile.ZipInfo(name), _content(content))
    return buf.getvalue()


@FUZZ
@given(entries=st.lists(st.tuples(ENTRY_NAME, CONTENT), max_size=12))
def test_random_archive_trees_end_in_images_or_a_data_error(tmp_path_factory, entries):
    root = tmp_path_factory.mktemp("trees")
    path = root / "upload.zip"
    path.write_bytes(_archive(entries))
    before = _files(root)
    _import(path)
    assert _files(root) == before


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One home for the upload fuzzing (a store per example would be slow)."""
    root = tmp_path_factory.mktemp("fuzzstore")
    with home_at(root / "home"):
        yield root


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(entries=st.lists(st.tuples(ENTRY_NAME, CONTENT), max_size=8), upload_name=st.sampled_from(["x.zip", "../../evil.zip", "/tmp/abs.zip", "<img src=x>.zip"]))
def test_uploads_add_a_whole_dataset_or_nothing_and_write_only_in_the_home(store, entries, upload_name):
    from core.services import datasets

    home = store / "home"
    outside = _files(store) - {p for p in _files(store) if p == "home" or p.startswith("home" + os.sep)}
    cwd = set(os.listdir("."))
    known = {d.name for d in datasets.list_datasets()}
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    try:
        ds = datasets.import_uploads([(upload_name, _archive(entries))], name)
        assert ds.n > 0 and len(datasets.images(ds.id)) == ds.n
        assert {d.name for d in datasets.list_datasets()} == known | {name}
    except ValueError as e:
        assert str(e)
        assert {d.name for d in datasets.list_datasets()} == known  # nothing half-made
    assert not any((home / "uploads").iterdir())  # the staging folder is always cleaned
    assert _files(store) - {p for p in _files(store) if p == "home" or p.startswith("home" + os.sep)} == outside
    assert set(os.listdir(".")) == cwd
