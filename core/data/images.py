"""Decoding single image files to arrays, and bringing many of them to one square size.

Conventions, chosen for anomaly-detection data:
- Grey stays 1 channel; colour is RGB. A set with any colour image becomes all RGB.
- Alpha is dropped by compositing onto black (transparent areas read as background 0).
- 16-bit and 32-bit grey is scaled to 8 bit by the smallest common sensor range
  (8, 10, 12, 14 or 16 bit) that holds the image's maximum, so 12-bit camera data
  is not rendered almost black and images of one sensor keep their relative brightness.
- CMYK is converted naively (no ICC profile); animated images give their first frame.
- Sizing is a square stretch (no crop, no padding): every image becomes size x size.
"""
from __future__ import annotations

import functools
import io
import warnings
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Larger images are refused: decoding them costs memory out of all proportion to a
# 128-pixel training image, and it is how decompression bombs attack.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})

# Only these Pillow decoders may run on uploads: the file's content, not its name, picks
# the decoder, and some (EPS via Ghostscript, for one) should never see untrusted data.
_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "GIF", "TIFF", "WEBP", "PPM")


@functools.cache
def _open_formats() -> tuple[str, ...]:
    """The allowed decoders this Pillow has (some versions open MPO through JPEG)."""
    Image.init()
    return tuple(f for f in _FORMATS if f in Image.OPEN)

MIN_SIDE = 16
MAX_SIDE = 128
SIZES = (16, 32, 64, 128)

_SENSOR_BITS = (8, 10, 12, 14, 16)


class ImageError(ValueError):
    """An image file that cannot be decoded; `reason` says why, without the file name."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the recognised image extensions (any case)."""
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode image bytes to uint8 (H,W,1) grey or (H,W,3) colour, or raise ImageError."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse it all.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_open_formats()) as img:
                _check_pixels(img, name)
                img.seek(0)  # animated: the first frame
                img.load()
                return _to_array(ImageOps.exif_transpose(img))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(name, "too many pixels (over the decompression-bomb limit)") from None
    except UnidentifiedImageError:
        raise ImageError(name, "not a readable image (unknown or unsupported format)") from None
    except MemoryError:
        raise ImageError(name, "too large to decode in memory") from None
    except Exception as e:  # Pillow's decoders raise a wide zoo of types on malformed data
        raise ImageError(name, f"cannot be decoded ({_describe(e)})") from None


def _describe(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _check_pixels(img: Image.Image, name: str) -> None:
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ImageError(name, f"{w}x{h} is more than {MAX_PIXELS:,} pixels")
    if w < 1 or h < 1:
        raise ImageError(name, f"has no pixels ({w}x{h})")


def _to_array(img: Image.Image) -> np.ndarray:
    """An opened image as uint8 (H,W,1) or (H,W,3), following the module's conventions."""
    mode = img.mode
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"))[..., None]
    if mode == "RGB":
        return np.asarray(img)
    if mode in ("LA", "La"):
        return _drop_alpha(np.asarray(img.convert("LA")))
    if mode in ("RGBA", "RGBa", "PA"):
        return _drop_alpha(np.asarray(img.convert("RGBA")))
    if mode == "P":
        return _from_palette(img)
    if mode.startswith("I") or mode.startswith("F"):
        return _wide_grey_to_8bit(img)
    return np.asarray(img.convert("RGB"))  # CMYK, YCbCr, LAB, HSV


def _drop_alpha(arr: np.ndarray) -> np.ndarray:
    """Composite onto black: colour times alpha, rounded."""
    colour = arr[..., :-1].astype(np.uint16)
    alpha = arr[..., -1:].astype(np.uint16)
    return ((colour * alpha + 127) // 255).astype(np.uint8)


def _from_palette(img: Image.Image) -> np.ndarray:
    """Palette images become grey when every pixel is grey, else RGB."""
    has_alpha = "transparency" in img.info
    arr = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    if has_alpha:
        arr = _drop_alpha(arr)
    if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
        return np.ascontiguousarray(arr[..., :1])
    return arr


def _wide_grey_to_8bit(img: Image.Image) -> np.ndarray:
    """16/32-bit or float grey to 8 bit by the sensor range that holds the image's maximum."""
    try:
        arr = np.asarray(img)
    except Exception:  # rare packed modes numpy cannot view directly
        arr = np.asarray(img.convert("F"))
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    arr = np.clip(arr, 0.0, None)
    top = float(arr.max()) if arr.size else 0.0
    if img.mode.startswith("F") and top <= 1.0:
        scale = 1.0  # float data already in [0, 1]
    else:
        scale = float(2 ** next((b for b in _SENSOR_BITS if top < 2**b), 32) - 1)
    out = np.rint(np.clip(arr / scale, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out.reshape(out.shape[0], out.shape[1], 1)


def choose_size(shapes: Iterable[tuple[int, int]]) -> int:
    """The smallest power-of-two side >= 16 that holds the largest side, capped at 128."""
    largest = max((max(int(h), int(w)) for h, w in shapes), default=0)
    if largest <= 0:
        raise ValueError("choose_size needs at least one image shape")
    side = MIN_SIDE
    while side < largest and side < MAX_SIDE:
        side *= 2
    return side


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """One uint8 (H,W,C) image stretched to (size,size,C) with Pillow."""
    img = _as_hwc(img)
    h, w, c = img.shape
    if h == size and w == size:
        return img
    # BOX averages whole source areas when shrinking (no aliasing); bilinear when enlarging.
    method = Image.Resampling.BOX if h >= size and w >= size else Image.Resampling.BILINEAR
    pil = Image.fromarray(img[..., 0] if c == 1 else img, mode="L" if c == 1 else "RGB")
    out = np.asarray(pil.resize((size, size), method))
    return out[..., None] if c == 1 else out


def to_common(images: list[np.ndarray], size: int) -> np.ndarray:
    """Stack images as uint8 (N,size,size,C): all RGB if any is colour, each stretched square."""
    channels = 3 if any(_as_hwc(im).shape[2] == 3 for im in images) else 1
    out = np.empty((len(images), size, size, channels), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = resize_square(im, size)  # a grey image broadcasts into all three channels
    return out


def _as_hwc(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H,W), (H,W,1) or (H,W,3) image, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {img.dtype}")
    return img
