"""One worker for every slow call off the GUI thread (datasets, exports, imports):
its result or one line of message comes back through a signal."""

from __future__ import annotations

import pytest

from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.importing import ImportFailed, ImportRequest, import_worker


class Expected(Exception):
    pass


def _raise(exc: BaseException):
    raise exc


def _outcome(call: BackgroundCall) -> list:
    got: list = []
    call.succeeded.connect(lambda value: got.append(("ok", value)))
    call.failed.connect(lambda message: got.append(("failed", message)))
    call.run()  # the thread's body, on the test's thread
    return got


@pytest.mark.parametrize("fn,args,what,outcome", [
    (sum, ([1, 2, 3],), "", ("ok", 6)),
    (_raise, (Expected("the file has no header row"),), "", ("failed", "the file has no header row")),
    (_raise, (ValueError("bad\nsecond line"),), "", ("failed", "ValueError: bad")),
    (_raise, (RuntimeError(),), "", ("failed", "RuntimeError")),
    (_raise, (SystemExit(2),), "importing model.py:Net", ("failed", "importing model.py:Net failed with SystemExit: 2")),
])
def test_a_call_reports_its_result_or_one_line(qtbot, fn, args, what, outcome):
    assert _outcome(BackgroundCall(fn, *args, expected=(Expected,), what=what)) == [outcome]


def test_a_keyboard_interrupt_is_not_swallowed(qtbot):
    with pytest.raises(KeyboardInterrupt):
        _outcome(BackgroundCall(_raise, KeyboardInterrupt()))


def test_the_import_runs_in_a_background_call(qtbot, tmp_path, monkeypatch):
    import layerloom.gui.importing as importing

    request = ImportRequest(tmp_path / "model.py", "Net")
    worker = import_worker(request)
    assert isinstance(worker, BackgroundCall)
    monkeypatch.setattr(worker, "fn", lambda r: _raise(ImportFailed(f"{r.origin}: no class Net")))
    assert _outcome(worker) == [("failed", "model.py:Net: no class Net")]
    assert importing.run_import is import_worker(request).fn


def test_the_keeper_waits_for_its_calls(qtbot):
    keeper = CallKeeper()
    call = BackgroundCall(sum, [1, 2])
    with qtbot.waitSignal(call.finished, timeout=5000):  # listening before it starts
        keeper.start(call)
    keeper.wait_all()
    assert not keeper.busy
