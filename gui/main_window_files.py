"""The main window's file life: start-up, New / Open / Import / Save / Save As,
the question before anything would be lost (the graph's unsaved edits and its
trained models), and recovery of autosaved work (a mixin of
:class:`~layerloom.gui.main_window.MainWindow`, kept apart so each file stays
readable). Questions and file dialogs go through the window's ``ask_*`` methods,
which tests replace.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from layerloom.graph import SUFFIX, Graph, GraphFileError, load_graph
from layerloom.graph.fileio import describe_write_error
from layerloom.gui.autosave import Recovery
from layerloom.gui.file_loading import is_big
from layerloom.resources import examples_dir


class FileActions:
    """Opening, saving and recovering the document of a main window."""

    def start(self, path: Path | None = None, sample: Path | None = None) -> None:
        """After the window shows: offer recovery, then open ``path`` or ``sample``."""
        QTimer.singleShot(0, lambda: self.open_startup(path, sample))

    def open_startup(self, path: Path | None, sample: Path | None) -> None:
        if self.offer_recovery():
            return
        if path is not None:
            self.load(path)
        elif sample is not None:
            try:
                self.document.open_copy(sample)
            except GraphFileError as exc:
                self.show_error("Cannot open the sample project", str(exc))
        self.view.fit_to_view(readable=True)

    def commit_pending_edit(self) -> None:
        """Finish a value being typed in the inspector (its editor commits when it
        loses focus), so that saving or the unsaved-changes check includes it."""
        focused = QApplication.focusWidget()
        if focused is not None and self.isAncestorOf(focused):
            focused.clearFocus()

    def maybe_save(self) -> bool:
        """True when it is safe to drop the current content (saved, discarded): its
        graph, and the runs that trained it (a run going on, weights in no file)."""
        self.commit_pending_edit()
        if not self.training_dock.may_drop_runs():
            return False
        if not self.document.is_modified:
            return True
        answer = self.ask_save_discard_cancel()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_document(self) -> bool:
        if not self.maybe_save():
            return False
        self.document.new()
        self.view.fit_to_view()  # an empty graph: 100 % at the origin, not the last graph's zoom
        self.statusBar().showMessage("New graph", 3000)
        return True

    def new_from_template(self) -> bool:
        if not self.maybe_save():
            return False
        path = self.ask_template()
        if path is None:
            return False
        try:
            self.document.open_copy(path)
        except GraphFileError as exc:
            self.show_error("Cannot open the template", str(exc))
            return False
        self.view.fit_to_view(readable=True)
        return True

    def open_file(self, path: str | Path | None = None) -> bool:
        """Open ``path`` (or ask for one) after the unsaved-changes question."""
        if not self.maybe_save():
            return False
        if path is None:
            path = self.ask_open_path()
            if not path:
                return False
        return self.load(Path(path))

    def import_model(self, path: str | Path | None = None) -> bool:
        """File ▸ Import Model…: a PyTorch or ONNX model as a new graph, imported in
        the background (see :mod:`layerloom.gui.importing`). True when an import started."""
        return self.model_import.begin(path)

    def load(self, path: Path) -> bool:
        """Read ``path`` into the document; a bad file shows the loader's message
        and leaves the current document untouched.

        A file over ``file_loading.BACKGROUND_BYTES`` is read in the background
        (see :mod:`layerloom.gui.file_loading`): then True means that the open has
        started, and ``file_load.loadFinished`` tells how it ended. A shipped
        example opens as an untitled copy, so that Save asks for a name instead of
        changing the example for every later user.
        """
        path = Path(path)
        if is_big(path):
            self.file_load.start(path.name, partial(load_graph, path), partial(self._opened, path),
                                 partial(self._open_failed, path))
            return True
        try:
            graph = load_graph(path)
        except GraphFileError as exc:
            self._open_failed(path, str(exc))
            return False
        self._opened(path, graph)
        return True

    def _open_failed(self, path: Path, message: str) -> None:
        self.show_error("Cannot open file", message)
        if not path.exists():
            self.recent.remove(path)

    def _show_new_graph(self) -> None:
        """Fit a graph opened into the view; a big one still being drawn shows its
        beginning at 100 %, so that the window stays quick while the rest comes."""
        if self.scene.builder.busy:
            self.view.show_beginning()
        else:
            self.view.fit_to_view(readable=True)

    def _opened(self, path: Path, graph: Graph) -> None:
        """``graph``, read from ``path``, becomes the document."""
        example = _is_example(path)
        self.document.take(graph, None if example else path)
        self._show_new_graph()
        if example:
            self.statusBar().showMessage(
                f"Opened the example {Path(path).name} as a new graph; Save asks where to keep it", 8000
            )
        else:
            self.recent.add(self.document.path)
            self.statusBar().showMessage(f"Opened {self.document.path}", 5000)

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        if not path:
            return False
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(SUFFIX)
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        self.commit_pending_edit()
        try:
            saved = self.document.save(path)
        except OSError as exc:
            problem = describe_write_error(exc, str(path))
            self.show_error(
                "Cannot save",
                f"{problem[:1].upper()}{problem[1:]}. The graph is not saved; "
                "free some space or choose another folder with Save As.",
            )
            return False
        self.recent.add(saved)
        self.statusBar().showMessage(f"Saved {saved}", 5000)
        return True

    def _autosave_failed(self, problem: str) -> None:
        self.statusBar().showMessage(
            f"Autosave failed: {problem}. Save the graph (Ctrl+S) to keep your changes.", 15000)

    def offer_recovery(self) -> bool:
        """Offer the autosave of a LayerLoom that crashed; True when restored."""
        orphan = self.autosaver.find_orphan()
        if orphan is None:
            return False
        if not self.ask_restore(orphan):
            orphan.discard()
            return False
        if is_big(orphan.graph_file):
            self.file_load.start("the recovered graph", orphan.load, partial(self._recovered, orphan),
                                 partial(self._recovery_failed, orphan))
            return True
        try:
            graph = orphan.load()
        except GraphFileError as exc:
            self._recovery_failed(orphan, str(exc))
            return False
        self._recovered(orphan, graph)
        return True

    def _recovery_failed(self, orphan: Recovery, message: str) -> None:
        self.show_error("Cannot recover", f"The recovered copy is damaged: {message}")
        orphan.discard()

    def _recovered(self, orphan: Recovery, graph: Graph) -> None:
        self.document.restore(graph, orphan.original_path)
        self.autosaver.save_if_modified()  # our own copy, before the old one goes
        orphan.discard()
        self._show_new_graph()
        self.statusBar().showMessage("Restored unsaved work; save it to keep it", 8000)


def _is_example(path: str | Path) -> bool:
    """True for a file inside the shipped examples folder."""
    try:
        Path(path).resolve().relative_to(examples_dir().resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False
    return True
