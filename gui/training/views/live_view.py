"""What every view of the training dock offers, so the dock can drive them all
through one table (:data:`layerloom.gui.training.dock.VIEWS`).

A live view shows one run at a time (:meth:`LiveView.set_run`) and redraws from
that run's record when the dock tells it what changed (:meth:`LiveView.refresh`).
It reads the run; it never touches the training thread.
"""

from __future__ import annotations

import importlib
from collections.abc import Set
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from layerloom.gui.training.runs.run_record import Run


@runtime_checkable
class LiveView(Protocol):
    """A view of the shown run in the training dock.

    Attributes
    ----------
    title : str
        The view's name, the title of its tab.
    """

    title: ClassVar[str]

    def set_run(self, run: Run | None) -> None:
        """Show ``run`` (the newest run, or the one picked in the Runs tab)."""

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Redraw from the shown run.

        Parameters
        ----------
        changed : set of str, optional
            What the run's latest events changed (the names :meth:`Run.apply`
            returns: ``"loss"``, ``"epoch"``, ``"status"``, ...); ``None`` when not
            known (the view was just brought to the front): draw whatever is new.
        full : bool
            Draw everything now and fit the ranges, ignoring the rate limits (the
            run has just ended).
        """


class ViewRow(NamedTuple):
    """One row of the dock's table of views.

    ``view`` names the class (``module.Class``: the dock imports the views once
    it first shows, as they import pyqtgraph); the dock's ``_build`` makes one and keeps
    it as ``dock.<attribute>``, in a tab (``tab``, titled with the view's
    ``title``) or beside the set-up panel, always in view. Every view implements
    :class:`~layerloom.gui.training.views.live_view.LiveView`.
    """

    view: str
    attribute: str
    tab: bool

    def load(self) -> type:
        module, _, name = self.view.rpartition(".")
        return getattr(importlib.import_module(module), name)
