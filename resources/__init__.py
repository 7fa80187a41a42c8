"""Files LayerLoom needs at run time: example graphs, the stylesheet, icons, screenshots.

They are package data of ``layerloom.resources`` and are always found through
:mod:`importlib.resources`, so an installed LayerLoom runs from any folder and never
looks for a checkout.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = __name__
EXAMPLES = "examples"
STYLESHEET = "style.qss"
ICON = ("icons", "layerloom.svg")
SCREENSHOTS = "screenshots"
# The freedesktop application id: the .desktop file's name and the window's app id.
DESKTOP_ID = "layerloom"

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def resource(*parts: str) -> Traversable:
    """The packaged entry at ``parts`` (``resource("examples", "xor.loom")``)."""
    return resources.files(PACKAGE).joinpath(*parts)


def resource_path(*parts: str) -> Path:
    """A path on disk for the packaged entry at ``parts``.

    Installed as a folder (a wheel, an editable install) it is the file itself; from
    an archive it is extracted once and kept until the process ends.
    """
    entry = resource(*parts)
    if isinstance(entry, Path):
        return entry
    return _extracted.enter_context(resources.as_file(entry))


def examples_dir() -> Path:
    """The folder of example graphs (the templates)."""
    return resource_path(EXAMPLES)


def icon_path() -> Path:
    """The application icon (SVG)."""
    return resource_path(*ICON)
