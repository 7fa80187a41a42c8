"""Runs kept next to their graph (``NAME.runs/run-NNN/``): written by the app and
``layerloom train``, listed, compared and deleted by both (``layerloom runs``).
No torch at import time: weights are read and written only when asked for."""

from layerloom.backend.runs.compare import (
    Comparison,
    compare_runs,
    graph_changes,
    graph_signature,
    signature_hash,
)
from layerloom.backend.runs.history import Curve, HistoryRecorder
from layerloom.backend.runs.store import (
    FORMAT_VERSION,
    NewRun,
    RunsError,
    StoredRun,
    delete_run,
    find_run,
    list_runs,
    next_number,
    read_run,
    runs_folder,
    write_run,
)

__all__ = ["FORMAT_VERSION", "Comparison", "Curve", "HistoryRecorder", "NewRun", "RunsError", "StoredRun",
           "compare_runs", "delete_run", "find_run", "graph_changes", "graph_signature", "list_runs",
           "next_number",
           "read_run", "runs_folder", "signature_hash", "write_run"]
