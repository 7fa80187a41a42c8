"""Settings for the whole suite.

The suite runs on small models on shared 2-core machines, where torch's default of
one thread per core makes tiny steps many times slower (threads fight over the
cores). One intra-op thread keeps the tests fast and their timings steady; the
variable is inherited by the subprocesses some tests start.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _free_between_tests():
    """After each test: delete the widgets pytest-qt closed, and collect garbage.

    pytest-qt closes a test's widgets with ``deleteLater``, which only the event
    loop acts on, and the suite never runs one at the top level: without this every
    window of every test stayed alive, with its timers, and each new test's set-up
    grew slower (1 s for the first window of a file, 12 s for the twentieth).
    Once a window has turned the automatic collector off (collections then run on
    the GUI thread's timer), what is due is collected here too, so that tests that
    spin no event loop do not pile up garbage."""
    yield
    import sys

    if "PySide6.QtCore" in sys.modules:
        from PySide6.QtCore import QCoreApplication, QEvent

        if QCoreApplication.instance() is not None:
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if "layerloom.gui.heap" in sys.modules:
        from layerloom.gui import heap

        if heap.collects_on_gui_thread():
            heap.collect_due()


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a folder on a fresh tmpfs of ``size`` (``"64k"``), to fill
    the disk under a writer. Needs mount rights (root, as in CI); skipped elsewhere."""
    mounts = []

    def make(size: str = "64k") -> Path:
        mount = tmp_path / f"disk{len(mounts)}"
        mount.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
        mounts.append(mount)
        return mount

    yield make
    for mount in mounts:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
