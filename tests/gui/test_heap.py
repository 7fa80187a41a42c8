"""Garbage is collected on the GUI thread only, while a window is open.

A collection freeing a Qt object's wrapper in a worker thread (an ONNX export,
a training step) hung the app: the object's destructor waited for the
interpreter lock the collecting thread held.
"""

import gc
import threading

import pytest
from PySide6.QtCore import QObject

from layerloom.gui import heap
from tests.gui.test_window_helpers import make_window


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


class _Cycle:
    def __init__(self):
        self.me = self
        self.qt = QObject()  # freed with the cycle: must not happen in a worker thread


def _record_collections():
    threads = []

    def callback(phase, info):
        if phase == "start":
            threads.append(threading.get_ident())

    gc.callbacks.append(callback)
    return threads, callback


def test_a_worker_thread_never_collects_and_the_gui_thread_does(window, qtbot):
    assert heap.collects_on_gui_thread() and not gc.isenabled()
    gc.collect()
    threads, callback = _record_collections()
    try:
        def churn():
            for _ in range(20_000):  # far past every generation's threshold
                _Cycle()

        worker = threading.Thread(target=churn)
        worker.start()
        worker.join()
        assert threads == [], "no collection ran in the worker"
        assert gc.get_count()[0] > gc.get_threshold()[0], "garbage is due"
        qtbot.waitUntil(lambda: bool(threads), timeout=3 * heap.COLLECT_EVERY_MS)
        assert set(threads) == {threading.main_thread().ident}
        assert gc.get_count()[0] < gc.get_threshold()[0], "what was due is collected"
    finally:
        gc.callbacks.remove(callback)


def test_collect_due_collects_the_generations_due_and_nothing_while_quiet(window):
    gc.collect()
    assert heap.collect_due() == -1, "nothing due right after a collection"
    with heap.quiet():
        keep = [[] for _ in range(gc.get_threshold()[0] + 10)]  # containers count as allocations
        assert heap.collect_due() == -1, "no collection while a big graph is read"
    assert not gc.isenabled(), "quiet() leaves automatic collection off in the app"
    more = [[] for _ in range(gc.get_threshold()[0] + 10)]
    assert heap.collect_due() == 0
    assert keep and more
    heap.release()
