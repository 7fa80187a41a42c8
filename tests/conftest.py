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
def _collect_between_tests():
    """Once a window has turned the automatic collector off (collections then run
    on the GUI thread's timer), collect what is due after each test, so that tests
    which spin no event loop do not pile up garbage."""
    yield
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
