"""Importers and image decoding: every input is built in tmp_path; nothing is downloaded."""
from __future__ import annotations

import gzip
import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

import pytest
from PIL import Image

from core.data import images as images_mod
from core.data import importers
from core.data.images import ImageError, choose_size, decode_image, to_common
from core.data.importers import DataError, load_source
from tests.conftest import idx_bytes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------- helpers


def encode(arr: np.ndarray, fmt: str, mode: str | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(arr, mode) if mode else Image.fromarray(arr)
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def rgb(h=10, w=12, colour=(200, 30, 60)) -> np.ndarray:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[...] = colour
    return arr


def grey(h=10, w=12, value=100) -> np.ndarray:
    return np.full((h, w), value, np.uint8)


def png(arr) -> bytes:
    return encode(arr, "PNG")


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


# ---------------------------------------------------------------- decoding and sizing


@pytest.mark.parametrize(
    "shapes, side",
    [([(8, 8)], 16), ([(28, 28)], 32), ([(32, 32)], 32), ([(500, 20)], 128),
     ([(17, 3)], 32), ([(8, 8), (33, 10)], 64), ([(1, 1)], 16), ([(128, 128)], 128)],
)
def test_choose_size(shapes, side):
    assert choose_size(shapes) == side


def test_choose_size_needs_shapes():
    with pytest.raises(ValueError):
        choose_size([])


def test_to_common_promotes_grey_when_any_colour():
    out = to_common([grey(10, 20)[..., None], rgb(40, 8)], 16)
    assert out.shape == (2, 16, 16, 3) and out.dtype == np.uint8
    assert (out[0] == 100).all()  # grey replicated into all channels
    assert tuple(out[1, 8, 8]) == (200, 30, 60)


def test_to_common_keeps_grey():
    out = to_common([grey(), grey(5, 5)[..., None]], 32)
    assert out.shape == (2, 32, 32, 1)


def test_decode_modes():
    assert decode_image(png(grey()), "g.png").shape == (10, 12, 1)
    assert decode_image(encode(rgb(), "JPEG"), "c.jpg").shape == (10, 12, 3)
    # 1-bit becomes 0/255 grey
    bits = Image.new("1", (8, 8), 1)
    buf = io.BytesIO()
    bits.save(buf, "PNG")
    out = decode_image(buf.getvalue(), "b.png")
    assert out.shape == (8, 8, 1) and out.max() == 255


def test_decode_rgba_composites_onto_black():
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., :3] = 200
    arr[:2, :, 3] = 255  # top opaque, bottom transparent
    out = decode_image(encode(arr, "PNG"), "a.png")
    assert out.shape == (4, 4, 3)
    assert (out[:2] == 200).all() and (out[2:] == 0).all()


def test_decode_la_stays_grey():
    arr = np.stack([np.full((4, 4), 180, np.uint8), np.full((4, 4), 255, np.uint8)], axis=-1)
    out = decode_image(encode(arr, "PNG", "LA"), "la.png")
    assert out.shape == (4, 4, 1) and (out == 180).all()


def test_decode_palette_grey_and_colour():
    grey_p = Image.fromarray(grey()).convert("P")
    buf = io.BytesIO()
    grey_p.save(buf, "GIF")
    assert decode_image(buf.getvalue(), "g.gif").shape[2] == 1
    colour_p = Image.fromarray(rgb()).convert("P", palette=Image.Palette.ADAPTIVE)
    buf = io.BytesIO()
    colour_p.save(buf, "PNG")
    assert colour_p.mode == "P"
    assert decode_image(buf.getvalue(), "c.png").shape == (10, 12, 3)


def test_decode_16bit_scales_by_sensor_range():
    arr = np.zeros((4, 4), np.uint16)
    arr[0, 0] = 4095  # a 12-bit sensor: its maximum becomes white
    arr[1, 1] = 2048
    out = decode_image(encode(arr, "PNG"), "d.png")
    assert out.shape == (4, 4, 1)
    assert out[0, 0, 0] == 255 and out[1, 1, 0] == 128 and out[2, 2, 0] == 0
    full = np.full((2, 2), 65535, np.uint16)
    assert decode_image(encode(full, "PNG"), "f.png").max() == 255


def test_decode_cmyk_and_animated_gif():
    cmyk = Image.new("CMYK", (6, 5), (0, 255, 255, 0))  # red
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG")
    out = decode_image(buf.getvalue(), "k.jpg")
    assert out.shape == (5, 6, 3) and out[2, 2, 0] > 200 and out[2, 2, 1] < 60
    frames = [Image.fromarray(rgb(colour=c)) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    first = decode_image(buf.getvalue(), "anim.gif")
    assert first[0, 0, 0] > 200 and first[0, 0, 2] < 60


def test_exif_rotated_jpeg_comes_out_rotated():
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = (255, 0, 0)  # left red
    arr[:, 10:] = (0, 0, 255)  # right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    out = decode_image(encode(arr, "JPEG", exif=exif.tobytes(), quality=95), "r.jpg")
    assert out.shape == (20, 10, 3)
    assert out[3, 5, 0] > 200 and out[3, 5, 2] < 60  # left went to the top
    assert out[16, 5, 2] > 200 and out[16, 5, 0] < 60


@pytest.mark.parametrize("data", [b"hello, I am text", b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_decode_rejects_non_images(data):
    with pytest.raises(ImageError) as err:
        decode_image(data, "x.png")
    assert "x.png" in str(err.value) and err.value.reason


def test_decode_truncated_jpeg():
    data = encode(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8), "JPEG")
    with pytest.raises(ImageError):
        decode_image(data[: len(data) // 3], "t.jpg")


def test_decode_refuses_too_many_pixels(monkeypatch):
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 100)
    with pytest.raises(ImageError, match="pixels"):
        decode_image(png(grey(20, 20)), "big.png")


def test_pillow_bomb_warning_becomes_refusal(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 px: Pillow only warns here
    with pytest.raises(ImageError, match="pixels"):
        decode_image(png(grey(20, 20)), "warn.png")


# ---------------------------------------------------------------- built-in


def test_builtin_digits():
    got = load_source("builtin:digits")
    assert got.images.shape == (1797, 16, 16, 1) and got.images.dtype == np.uint8
    assert got.classes == [str(i) for i in range(10)]
    assert got.labels.dtype == np.int64 and set(got.labels.tolist()) == set(range(10))
    assert len(got.names) == 1797 and got.skipped == []
    assert got.images.max() == 255


def test_unknown_source_and_bad_size(tmp_path):
    with pytest.raises(DataError, match="unknown source"):
        load_source("ftp://example/x")
    with pytest.raises(DataError, match="unknown source"):
        load_source(str(tmp_path / "nothing-here"))
    with pytest.raises(DataError, match="size"):
        load_source("builtin:digits", size=48)
    with pytest.raises(DataError, match="builtin:digits"):
        load_source("builtin:faces")
    assert load_source("builtin:digits", size=64).images.shape == (1797, 64, 64, 1)


def test_progress_is_called():
    calls = []
    load_source("builtin:digits", progress=lambda f, m: calls.append((f, m)))
    assert calls and all(0.0 <= f <= 1.0 for f, _ in calls) and calls[-1][0] == 1.0


# ---------------------------------------------------------------- zip


def mixed_class_zip(tmp_path: Path) -> Path:
    rgba = np.zeros((9, 9, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    gif = io.BytesIO()
    Image.fromarray(rgb()).convert("P", palette=Image.Palette.ADAPTIVE).save(gif, "GIF")
    return make_zip(tmp_path / "pets.zip", {
        "mydata/cat/1.png": png(grey(8, 8)),
        "mydata/cat/2.JPG": encode(rgb(20, 30), "JPEG"),
        "mydata/dog/3.gif": gif.getvalue(),
        "mydata/dog/4.png": encode(rgba, "PNG"),
        "mydata/10/5.png": encode(np.full((6, 6), 1000, np.uint16), "PNG"),
        "mydata/2/6.png": png(grey()),
        "__MACOSX/mydata/cat/._1.png": b"junk",
        "mydata/.DS_Store": b"junk",
        "mydata/Thumbs.db": b"junk",
        "mydata/notes.txt": b"hello",
    })


def test_zip_with_class_folders(tmp_path):
    got = load_source(str(mixed_class_zip(tmp_path)))
    assert got.images.shape == (6, 32, 32, 3)
    assert got.classes == ["2", "10", "cat", "dog"]  # natural order
    by_name = dict(zip(got.names, got.labels.tolist()))
    assert by_name["mydata/cat/1.png"] == 2 and by_name["mydata/dog/4.png"] == 3
    assert by_name["mydata/10/5.png"] == 1 and by_name["mydata/2/6.png"] == 0
    assert got.skipped == [("mydata/notes.txt", "not an image")]  # junk is ignored silently
    first = got.names.index("mydata/cat/1.png")
    assert (got.images[first] == 100).all()  # grey replicated to 3 channels


def test_flat_zip_is_unlabelled(tmp_path):
    path = make_zip(tmp_path / "flat.zip", {f"top/{i}.png": png(grey(value=i)) for i in range(3)})
    got = load_source(str(path), size=16)
    assert got.images.shape == (3, 16, 16, 1)
    assert got.classes == [] and (got.labels == -1).all()
    assert got.names == ["top/0.png", "top/1.png", "top/2.png"]


def test_zip_slip_entry_skipped(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    path = make_zip(inner / "evil.zip", {
        "../evil.png": png(grey()),
        "/abs/evil.png": png(grey()),
        "ok/a.png": png(grey()),
    })
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(zipfile.ZipInfo("x/../../evil2.png"), png(grey()))
        zf.writestr(zipfile.ZipInfo("C:\\win\\evil3.png"), png(grey()))
    got = load_source(str(path))
    reasons = dict(got.skipped)
    assert len(reasons) == 4 and got.names == ["ok/a.png"]
    assert all("unsafe path" in r for r in reasons.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "evil2.png").exists()


def test_zip_symlink_and_nested_archive_skipped(tmp_path):
    path = make_zip(tmp_path / "s.zip", {"a.png": png(grey()), "inner.zip": b"PK\x05\x06" + b"\0" * 18})
    with zipfile.ZipFile(path, "a") as zf:
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    got = load_source(str(path))
    reasons = dict(got.skipped)
    assert reasons["inner.zip"] == "nested archives are not imported"
    assert "symbolic link" in reasons["link.png"]
    assert got.names == ["a.png"]


@pytest.mark.parametrize("content", [b"this is not a zip at all", b"PK\x03\x04garbage" * 10, b""])
def test_corrupt_zip_names_the_file(tmp_path, content):
    path = tmp_path / "broken-upload.zip"
    path.write_bytes(content)
    with pytest.raises(DataError, match="broken-upload.zip"):
        load_source(str(path))


def test_text_named_png_is_skipped(tmp_path):
    path = make_zip(tmp_path / "t.zip", {"a.png": png(grey()), "fake.png": b"I am text", "b.png": png(grey())})
    got = load_source(str(path))
    assert got.names == ["a.png", "b.png"]
    (name, reason), = got.skipped
    assert name == "fake.png" and "not a readable image" in reason


def test_zip_without_images(tmp_path):
    path = make_zip(tmp_path / "empty.zip", {"readme.txt": b"hi", "fake.png": b"text"})
    with pytest.raises(DataError, match="no images found in empty.zip"):
        load_source(str(path))


def test_zip_limits_refuse_whole_archive(tmp_path, monkeypatch):
    path = make_zip(tmp_path / "bomb.zip", {"a.png": png(grey()), "zeros.png": b"\0" * 200_000})
    monkeypatch.setattr(importers, "BOMB_MIN_BYTES", 100_000)
    with pytest.raises(DataError, match="bomb.zip.*zip bomb"):
        load_source(str(path))
    monkeypatch.setattr(importers, "BOMB_MIN_BYTES", 10**9)
    monkeypatch.setattr(importers, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(DataError, match="bomb.zip.*limit"):
        load_source(str(path))
    monkeypatch.setattr(importers, "MAX_TOTAL_BYTES", 10**9)
    monkeypatch.setattr(importers, "MAX_ENTRIES", 1)
    with pytest.raises(DataError, match="bomb.zip.*entries"):
        load_source(str(path))


def test_non_ascii_names_preserved(tmp_path):
    path = make_zip(tmp_path / "u.zip", {"données/café/été.png": png(grey()), "données/thé/日本.png": png(grey())})
    got = load_source(str(path))
    assert sorted(got.names) == ["données/café/été.png", "données/thé/日本.png"]
    assert got.classes == ["café", "thé"]


def test_unflagged_utf8_zip_name_repaired(tmp_path):
    path = tmp_path / "mac.zip"
    make_zip(path, {"PLACEHOLDER.png": png(grey())})
    # Rewrite the names as raw UTF-8 bytes without the UTF-8 flag, as some zippers do.
    raw = path.read_bytes().replace(b"PLACEHOLDER", "cafe\u0301s".encode("utf-8").ljust(11, b"x"))
    path.write_bytes(raw)
    got = load_source(str(path))
    assert got.names == ["cafe\u0301sxxxx.png"]


# ---------------------------------------------------------------- folders


def test_folder_with_classes_and_symlinks(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(grey()))
    root = tmp_path / "set"
    for cls in ("ok", "bad"):
        (root / cls).mkdir(parents=True)
        (root / cls / "a.png").write_bytes(png(rgb() if cls == "bad" else grey()))
    (root / "ok" / "leak.png").symlink_to(outside)
    (root / "ok" / "inside.png").symlink_to(root / "bad" / "a.png")
    (root / "linkdir").symlink_to(tmp_path)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes(png(grey()))
    got = load_source(str(root))
    assert got.classes == ["bad", "ok"]
    assert sorted(got.names) == ["bad/a.png", "ok/a.png", "ok/inside.png"]
    reasons = dict(got.skipped)
    assert "outside" in reasons["ok/leak.png"] and "not followed" in reasons["linkdir"]
    assert got.images.shape == (3, 16, 16, 3)


def test_folder_flat_unlabelled(tmp_path):
    for i in range(2):
        (tmp_path / f"{i}.bmp").write_bytes(encode(grey(), "BMP"))
    got = load_source(str(tmp_path))
    assert got.classes == [] and (got.labels == -1).all() and len(got.names) == 2


def test_folder_with_idx_pairs(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(rng.integers(0, 255, (n, 28, 28)))))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(n) % 4))
    got = load_source(str(tmp_path))
    assert got.images.shape == (8, 32, 32, 1)
    assert got.classes == ["0", "1", "2", "3"]
    assert {n.split("/")[0] for n in got.names} == {"train", "t10k"}
    assert "train/00004" in got.names


# ---------------------------------------------------------------- npz


def test_npz_ok(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 20, 20, 3), np.uint8), y=np.array([0, 1, 1, 0]), classes=np.array(["good", "bad"]))
    got = load_source(str(path))
    assert got.images.shape == (4, 32, 32, 3) and got.classes == ["good", "bad"]
    assert got.labels.tolist() == [0, 1, 1, 0]


def test_npz_float_unit_range_scaled(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, x=np.full((2, 8, 8), 0.5, np.float32))
    got = load_source(str(path))
    assert got.classes == [] and (got.images == 128).all()


def test_npz_object_array_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([np.zeros((2, 2)), "x"], dtype=object))
    with pytest.raises(DataError, match="obj.npz.*pickle, which Winnow never loads"):
        load_source(str(path))


def test_npz_label_length_mismatch(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(3, np.int64))
    with pytest.raises(DataError, match=r"m.npz.*3 labels.*4 images"):
        load_source(str(path))


def test_npz_nan_refused(tmp_path):
    path = tmp_path / "n.npz"
    x = np.zeros((2, 8, 8), np.float32)
    x[0, 0, 0] = np.nan
    np.savez(path, x=x)
    with pytest.raises(DataError, match="n.npz.*NaN"):
        load_source(str(path))


def test_npz_problems(tmp_path):
    cases = {
        "nox.npz": dict(images=np.zeros((2, 8, 8), np.uint8)),
        "shape.npz": dict(x=np.zeros((2, 8, 8, 2), np.uint8)),
        "range.npz": dict(x=np.full((2, 8, 8), 300.0)),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(DataError, match=name):
            load_source(str(tmp_path / name))
    (tmp_path / "text.npz").write_text("not an npz")
    with pytest.raises(DataError, match="text.npz"):
        load_source(str(tmp_path / "text.npz"))


# ---------------------------------------------------------------- idx


def test_idx_pair_gz(tmp_path):
    pixels = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28) % 256
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(pixels)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes([7, 2, 7])))
    got = load_source(str(tmp_path / "train-images-idx3-ubyte.gz"), size=32)
    assert got.images.shape == (3, 32, 32, 1)
    assert got.classes == [str(i) for i in range(8)] and got.labels.tolist() == [7, 2, 7]
    assert got.names == ["train/00000", "train/00001", "train/00002"]


def test_idx_without_labels_is_unlabelled(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((2, 10, 10))))
    got = load_source(str(path))
    assert got.classes == [] and (got.labels == -1).all()


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + b"\0" * 40)
    with pytest.raises(DataError, match="bad-images-idx3-ubyte.*magic"):
        load_source(str(path))


def test_idx_truncated(tmp_path):
    data = idx_bytes(np.zeros((5, 28, 28)))
    path = tmp_path / "short-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(DataError, match="short-images-idx3-ubyte.gz.*truncated"):
        load_source(str(path))
    path.write_bytes(gzip.compress(data)[:-30])  # a cut-off gzip stream
    with pytest.raises(DataError, match="short-images-idx3-ubyte.gz"):
        load_source(str(path))


def test_idx_label_count_mismatch(tmp_path):
    (tmp_path / "a-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 4, 4))))
    (tmp_path / "a-labels-idx1-ubyte").write_bytes(idx_bytes([1, 2]))
    with pytest.raises(DataError, match="2 labels.*3 images"):
        load_source(str(tmp_path / "a-images-idx3-ubyte"))


# ---------------------------------------------------------------- torchvision layout


def test_torchvision_missing_files_no_download(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "MNIST" / "raw")):
        load_source("torchvision:MNIST", root=str(tmp_path))
    with pytest.raises(DataError, match="root"):
        load_source("torchvision:MNIST")
    with pytest.raises(DataError, match="data_batch_1.bin, .* not found in .*nope/cifar-10-batches-bin; Winnow reads the binary release"):
        load_source("torchvision:CIFAR10", root=str(tmp_path / "nope"))
    with pytest.raises(DataError, match="unsupported"):
        load_source("torchvision:ImageNet", root=str(tmp_path))


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="shared MNIST files not present")
def test_torchvision_mnist_from_shared():
    got = load_source("torchvision:MNIST", root=str(SHARED))
    assert got.images.shape == (70000, 32, 32, 1)
    assert got.classes == [str(i) for i in range(10)]
    assert got.names[0] == "train/00000" and got.names[-1] == "t10k/09999"
    assert got.labels[:5].tolist() == [5, 0, 4, 1, 9]


@pytest.mark.parametrize(
    "names, classes",
    [
        (["a/b/cat/1.png", "a/b/dog/2.png"], ["cat", "dog"]),
        (["cat/1.png", "cat/2.png"], [None, None]),
        (["top/1.png", "top/cat/2.png"], [None, "cat"]),
        (["cat/x/1.png", "dog/2.png", "3.png"], ["cat", "dog", None]),
    ],
)
def test_class_layout(names, classes):
    assert importers._class_names(names) == classes


@pytest.mark.parametrize("fmt, ext", [("TIFF", "tif"), ("WEBP", "webp"), ("PPM", "pgm"), ("BMP", "bmp")])
def test_decode_other_formats(fmt, ext):
    assert decode_image(encode(grey(), fmt, **({"lossless": True} if fmt == "WEBP" else {})), f"g.{ext}").shape[:2] == (10, 12)


def test_decode_refuses_formats_outside_the_list():
    with pytest.raises(ImageError, match="unknown or unsupported"):
        decode_image(encode(grey(), "PCX"), "x.png")


def _cifar_batch(path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    planes = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    np.concatenate([labels[:, None], planes.reshape(n, -1)], axis=1).tofile(path)
    return labels, planes.transpose(0, 2, 3, 1)


def test_cifar10_binary_release_is_read_without_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    made = [_cifar_batch(folder / n, 4, i) for i, n in enumerate(names)]
    out = load_source("torchvision:CIFAR10", root=str(tmp_path), size=32)
    assert out.classes[:3] == ["airplane", "automobile", "bird"] and len(out.images) == 24
    np.testing.assert_array_equal(out.images[:4], made[0][1])  # channel planes become H×W×C
    np.testing.assert_array_equal(out.labels, np.concatenate([m[0] for m in made]).astype(np.int64))
    assert out.names[0].startswith("train/") and out.names[-1].startswith("test/")


def test_cifar10_python_release_is_refused_and_truncated_batches_named(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x04 a pickle")
    with pytest.raises(DataError, match="not the pickled Python one found beside it"):
        load_source("torchvision:CIFAR10", root=str(tmp_path))
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i, n in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        _cifar_batch(folder / n, 2, i)
    (folder / "test_batch.bin").write_bytes((folder / "test_batch.bin").read_bytes()[:-5])
    with pytest.raises(DataError, match=r"test_batch.bin: 6141 bytes is not a whole number of 3073-byte CIFAR-10 records"):
        load_source("torchvision:CIFAR10", root=str(tmp_path))


def test_the_suite_reaches_nothing_off_this_machine():
    """Behind WINNOW_OFFLINE, conftest refuses any connection off loopback: a fetch by a path we
    did not foresee fails loudly instead of downloading."""
    import socket

    with pytest.raises(ConnectionRefusedError, match="never reaches the network"):
        socket.create_connection(("93.184.216.34", 443), timeout=2)
    with pytest.raises(ConnectionRefusedError, match="never reaches the network"):
        socket.create_connection(("example.com", 443), timeout=2)
    with socket.socket() as server:  # loopback stays open: the suite's own servers live there
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=2).close()


@pytest.mark.parametrize("source", ["torchvision:MNIST", "torchvision:FashionMNIST", "torchvision:CIFAR10"])
def test_downloads_are_refused_offline_even_when_asked(tmp_path, source, monkeypatch):
    import urllib.request

    def no_network(*_a, **_k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(urllib.request, "urlretrieve", no_network)
    assert os.environ["WINNOW_OFFLINE"] == "1"  # conftest: the whole suite runs offline
    with pytest.raises(DataError, match="downloads are off on this machine \\(WINNOW_OFFLINE\\)"):
        load_source(source, root=str(tmp_path), allow_download=True)


def test_a_cifar_download_that_fails_its_checksum_is_refused_and_removed(tmp_path, monkeypatch):
    # A tampered or truncated archive of whole records would otherwise import silently.
    import io
    import tarfile

    from torchvision.datasets import utils

    def fake_archive(url, filename, *a, **k):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for n in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
                data = bytes(3073 * 2)
                info = tarfile.TarInfo(f"cifar-10-batches-bin/{n}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        Path(filename).write_bytes(buf.getvalue())

    import urllib.request

    def no_network(*_a, **_k):
        raise AssertionError("the network was reached")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)  # the archive comes from fake_archive only
    monkeypatch.setenv("WINNOW_OFFLINE", "0")
    monkeypatch.setattr(utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(utils, "_urlretrieve", fake_archive)
    with pytest.raises(DataError, match=r"torchvision:CIFAR10: download into .* failed \(File not found or corrupted.\)"):
        load_source("torchvision:CIFAR10", root=str(tmp_path), allow_download=True)
    assert not (tmp_path / "cifar-10-batches-bin").exists() and not list(tmp_path.glob("*.tar.gz"))
