"""Quitting after a copy must not crash (PySide6 and a clipboard that outlives Qt)."""

import os
import subprocess
import sys

from PySide6.QtCore import QMimeData
from PySide6.QtWidgets import QApplication

from layerloom.gui.app import release_clipboard
from layerloom.gui.clipboard import MIME_TYPE

SCRIPT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from layerloom.gui.app import configure_application
from layerloom.gui.clipboard import to_mime
app = QApplication([])
configure_application(app)
QApplication.clipboard().setMimeData(to_mime({"nodes": [], "edges": []}))
QTimer.singleShot(0, app.quit)
sys.exit(app.exec())
"""


def test_quit_with_layers_on_the_clipboard_exits_cleanly():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_release_keeps_other_programs_data(qapp):
    mime = QMimeData()
    mime.setText("someone else's text")
    QApplication.clipboard().setMimeData(mime)
    release_clipboard()
    if not QApplication.clipboard().ownsClipboard():
        assert QApplication.clipboard().text() == "someone else's text"
    ours = QMimeData()
    ours.setData(MIME_TYPE, b"{}")
    QApplication.clipboard().setMimeData(ours)
    release_clipboard()
    left = QApplication.clipboard().mimeData()
    assert left is None or not left.hasFormat(MIME_TYPE)
