"""``layerloom plot ... --image PNG_OR_NPY``: a picture of one's own as the sample.

Shared by the views of :mod:`layerloom.backend.views` (``plot.py``) and the
saliency and Grad-CAM of ``inspect_cmd.py``. The picture becomes a sample as in
:func:`layerloom.backend.datasets.own_image.read_image`: resized to the input's
height and width, made grey or colour, and scaled like the validation samples.
"""

from __future__ import annotations

from pathlib import Path

from layerloom.backend.cli import EXIT_UNREADABLE, CommandError

INSIGHT_SAMPLE_VIEWS = ("saliency", "gradcam")  # the views of inspect_cmd that explain one sample


def add_option(p) -> None:
    p.add_argument("--image", metavar="PNG_OR_NPY",
                   help="a picture of your own as the sample, in place of --sample (views of one sample of an "
                        "image model): a PNG/JPEG (bright on dark, resized to the input, made grey or colour) "
                        "or a .npy array (H, W), (C, H, W) or (H, W, C) in the dataset's own units")


def takes_image(args, view_needs_sample: bool) -> bool:
    """Whether ``--image`` was given, refusing it for a view that shows no sample."""
    if not getattr(args, "image", None):
        return False
    if not view_needs_sample:
        raise CommandError(f"--image gives the sample of a view of one sample (activations, attention, "
                           f"{', '.join(INSIGHT_SAMPLE_VIEWS)}); {args.view} shows no sample")
    return True


def own_sample(args, val, normalisation):
    """The ``--image`` file as a sample of ``val`` (``(C, H, W)`` float32)."""
    from layerloom.backend.datasets.own_image import ImageInputError, read_image

    try:
        return read_image(args.image, val, normalisation)
    except ImageInputError as exc:
        raise CommandError(str(exc), EXIT_UNREADABLE) from None


def own_name(args) -> str:
    return Path(args.image).name
