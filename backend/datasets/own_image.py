"""A sample of one's own for a model of images: drawn in the app or read from a file.

The app's drawing pad and ``layerloom plot --image`` both turn a picture into a
sample the model can take, scaled the way the validation samples are. A picture
is an *intensity* in 0..1 per channel and pixel (0 the background, dark; 1 ink,
bright). Intensity 0 becomes the darkest value the validation set holds in that
channel and 1 its brightest (both after the run's normalisation), so a stroke of
full ink on the 8x8 digits is as bright as the brightest stroke of a real digit,
whatever the normalisation (standard, min-max or none). Every built-in image set
(digits, the 28x28 sets, shapes) draws bright shapes on a dark background, like
the pad.

A NumPy file instead holds values in the dataset's own units (before
normalisation), a sample as the dataset stores it; the run's normalisation is
applied to it as to the data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from layerloom.backend.datasets.base import Dataset, Normalisation

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_FILE_PIXELS = 50_000_000  # a larger picture is not a sample


class ImageInputError(Exception):
    """A file that cannot become a sample: the message names the file and says why."""


def image_shape(data: Dataset | None) -> tuple[int, int, int] | None:
    """``(C, H, W)`` where ``data`` holds float images of 1 or 3 channels, else ``None``."""
    if data is None or data.input_dtype != "float" or len(data.input_shape) != 3:
        return None
    c, h, w = data.input_shape
    return (c, h, w) if c in (1, 3) else None


def not_an_image(data: Dataset | None, what: str = "Drawing") -> str:
    """One line saying why a drawn sample (``what``) does not apply to ``data`` (``""`` when it does)."""
    if data is None:
        return f"{what} needs a model trained on images: train one first"
    if image_shape(data) is not None:
        return ""
    shape = "x".join(map(str, data.input_shape))
    if data.input_dtype != "float":
        return f"{what} needs an image input; this model takes token ids ({shape})"
    if len(data.input_shape) == 3:
        return f"{what} needs an image input of 1 or 3 channels; this one has {data.input_shape[0]} ({shape})"
    return f"{what} needs an image input (channels, height, width); this model takes ({shape})"


@dataclass(frozen=True)
class InkRange:
    """Per channel, the sample values of intensity 0 (``low``) and 1 (``high``): the
    validation set's darkest and brightest values, as the model sees them."""

    low: np.ndarray  # (C, 1, 1)
    high: np.ndarray

    @classmethod
    def of(cls, data: Dataset) -> InkRange:
        x = np.asarray(data.x, np.float32)
        axes = (0, 2, 3)
        low = x.min(axis=axes).reshape(-1, 1, 1)
        high = x.max(axis=axes).reshape(-1, 1, 1)
        high = np.where(high > low, high, low + 1.0)
        return cls(low.astype(np.float32), high.astype(np.float32))

    def to_sample(self, intensity: np.ndarray) -> np.ndarray:
        """``(C, H, W)`` intensities in 0..1 as a sample (float32)."""
        v = np.clip(np.asarray(intensity, np.float32), 0.0, 1.0)
        return (self.low + v * (self.high - self.low)).astype(np.float32)

    def to_intensity(self, sample: np.ndarray) -> np.ndarray:
        """A sample ``(C, H, W)`` as intensities in 0..1 (to draw over a real one)."""
        v = (np.asarray(sample, np.float32) - self.low) / (self.high - self.low)
        return np.clip(v, 0.0, 1.0).astype(np.float32)


def own_set(data: Dataset, x: np.ndarray) -> Dataset:
    """``data`` with the one sample ``x`` (``(C, H, W)``) in place of its samples.

    Its target is a placeholder (a copy of the first label) so that the set stays
    well-formed; whoever shows it says the sample has no true target.
    """
    x = np.asarray(x, np.float32).reshape((1, *data.input_shape))
    return replace(data, x=np.ascontiguousarray(x), y=data.y[:1].copy(), test=None)


def read_image(path: str | Path, data: Dataset, normalisation: Normalisation | None = None) -> np.ndarray:
    """The picture in ``path`` as a sample of ``data`` (``(C, H, W)``, float32).

    Parameters
    ----------
    path
        An image (PNG, JPEG, ...: pixel values 0..255, dark background, bright
        ink; resized to the input's height and width, turned grey or colour as
        the input wants) or a ``.npy`` array ``(H, W)``, ``(C, H, W)`` or
        ``(H, W, C)`` in the dataset's own units.
    data
        The validation set (normalised as training did): its input shape and range.
    normalisation
        What training applied, for ``.npy`` values; ``None``: taken as they are.

    Raises
    ------
    ImageInputError
        No such file, not an image, a shape or channel count that cannot fit.
    """
    path = Path(path)
    shape = image_shape(data)
    if shape is None:
        raise ImageInputError(not_an_image(data, f"--image {path.name}"))
    if not path.is_file():
        raise ImageInputError(f"--image {path}: no such file")
    c, h, w = shape
    if path.suffix.lower() == ".npy":
        values = _channels_first(_read_npy(path), c, path)
        values = _resized(values, h, w)
        if normalisation is not None:
            values = normalisation.apply(values[None])[0]
        return np.asarray(values, np.float32)
    picture = _read_picture(path, c)  # (C, H0, W0) in 0..1
    return InkRange.of(data).to_sample(_resized(picture, h, w))


def _read_npy(path: Path) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ImageInputError(f"--image {path.name}: not a readable NumPy array ({exc})") from None
    if not isinstance(values, np.ndarray) or not np.issubdtype(values.dtype, np.number) \
            or np.issubdtype(values.dtype, np.complexfloating):
        raise ImageInputError(f"--image {path.name}: expected an array of numbers, got {values.dtype}")
    if not np.isfinite(values).all():
        raise ImageInputError(f"--image {path.name}: the array holds NaN or infinite values")
    return values.astype(np.float32)


def _channels_first(values: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` as ``(channels, H, W)``."""
    if values.ndim == 2:
        values = values[None]
    elif values.ndim == 3:
        if values.shape[0] not in (1, 3) and values.shape[-1] in (1, 3):
            values = values.transpose(2, 0, 1)
    else:
        raise ImageInputError(f"--image {path.name}: an array of shape {values.shape} is not an image; "
                              "give (H, W), (C, H, W) or (H, W, C)")
    have = values.shape[0]
    if have == channels:
        return values
    if have == 1:
        return np.repeat(values, channels, axis=0)
    if have == 3 and channels == 1:
        return values.mean(axis=0, keepdims=True)
    raise ImageInputError(f"--image {path.name}: {have} channels (shape {values.shape}); the model takes "
                          f"{channels}; give 1 (grey) or 3 (RGB) channels")


def _read_picture(path: Path, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            if picture.width * picture.height > MAX_FILE_PIXELS:
                raise ImageInputError(f"--image {path.name}: {picture.width}x{picture.height} pixels is too "
                                      "large for a sample")
            picture.load()
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                rgba = picture.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))  # transparent: background
                picture = Image.alpha_composite(background, rgba)
            picture = picture.convert("L" if channels == 1 else "RGB")
    except UnidentifiedImageError:
        kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
        raise ImageInputError(f"--image {path.name}: not an image file (PNG, JPEG, ... or .npy; "
                              f"read as: {kinds})") from None
    except OSError as exc:
        raise ImageInputError(f"--image {path.name}: cannot read it ({exc})") from None
    values = np.asarray(picture, np.float32) / 255.0
    return values[None] if values.ndim == 2 else values.transpose(2, 0, 1)


def _resized(values: np.ndarray, h: int, w: int) -> np.ndarray:
    """Each channel resized to ``h`` x ``w`` (area average down, bilinear up)."""
    if values.shape[1:] == (h, w):
        return values
    from PIL import Image

    shrink = values.shape[1] >= h and values.shape[2] >= w
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(ch, np.float32)).resize((w, h), method))
           for ch in values]
    return np.stack(out).astype(np.float32)
