"""The "Processes" field of the set-up panel: train on several GPUs at once.

A run with more than one process is data-parallel (DistributedDataParallel, see
:mod:`layerloom.backend.training.distributed`): one process per GPU, each training on its
share of every batch. In the app the field is for machines with several CUDA
GPUs: it is enabled only when the chosen device is a GPU (Auto with GPUs
present, or CUDA) and the machine has more than one, and its tooltip says why
when it is not. On the CPU one process already uses every core, so the app
keeps CPU runs in one process; ``layerloom train FILE --nproc N`` offers several
CPU processes on the command line (gloo).

The value is the ``"processes"`` key of the graph's ``training`` section (saved
in the ``.loom`` file, the default of ``layerloom train --nproc``), edited
through the panel's undoable settings command like every other setting.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QWidget

from layerloom.graph import Param
from layerloom.graph.settings import MAX_PROCESSES
from layerloom.gui.param_editors import make_editor
from layerloom.gui.qt_util import signals_blocked

CLI_HINT = "On the command line, layerloom train FILE --nproc N trains on N processes, CPU ones included."
ABOUT = ("Processes that train together, one per GPU (data-parallel with torch.distributed); "
         "the batch size stays the whole batch, split between them. 1 trains inside the app.")


def gpu_count() -> int:
    """CUDA GPUs this PyTorch can train on (0 without CUDA). Imports torch: call
    it once the dock has loaded torch."""
    import torch

    if not torch.cuda.is_available():
        return 0
    from layerloom.backend.training import device_count

    return device_count("cuda")


def on_gpu(device: str, gpus: int) -> bool:
    """Whether ``device`` trains on CUDA GPUs on a machine with ``gpus`` of them."""
    return gpus > 0 and (device == "auto" or device.startswith("cuda"))


def process_limit(device: str, gpus: int) -> int:
    """The most processes a run in the app may use: one per GPU on CUDA, else 1."""
    return min(gpus, MAX_PROCESSES) if on_gpu(device, gpus) and gpus > 1 else 1


def why_disabled(device: str, gpus: int) -> str:
    """Why the field is off for ``device`` with ``gpus`` GPUs (empty when it is on)."""
    if process_limit(device, gpus) > 1:
        return ""
    if gpus == 0:
        reason = "Training on several processes needs several GPUs; this machine has none."
    elif gpus == 1:
        reason = "Training on several processes needs several GPUs; this machine has one."
    else:
        reason = (f"Training on several processes uses the GPUs (this machine has {gpus}); "
                  f"choose device Auto or CUDA to use them.")
    return f"{reason}\n{CLI_HINT}"


def processes_for_run(training: dict, gpus: int) -> tuple[int, str]:
    """``(processes, note)``: how many processes the app starts for a run with the
    ``training`` settings on this machine, and what to tell the user when that is
    fewer than the file asks for (a file saved on a machine with more GPUs)."""
    wanted = training.get("processes", 1)
    wanted = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0 else 1
    device = str(training.get("device", "auto"))
    count = min(wanted, process_limit(device, gpus))
    if count == wanted:
        return count, ""
    where = f"{gpus} GPUs" if gpus > 1 and on_gpu(device, gpus) else \
        "one GPU" if gpus == 1 else "no GPU" if gpus == 0 else f"device {device}"
    how = "one process" if count == 1 else f"{count} processes"
    return count, (f"the file asks for {wanted} processes; with {where} here the app trains on {how} "
                   f"(layerloom train --nproc {wanted} runs them on the command line)")


class ProcessesField(QWidget):
    """The spin box (objectName ``param_processes``) and its rules, as one row.

    Parameters
    ----------
    param : Param
        The ``processes`` setting's declaration (:mod:`graph.settings`).

    Signals
    -------
    edited(int)
        The user chose a number of processes (the panel stores it).
    """

    edited = Signal(int)

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.gpus = 0  # until the dock has loaded torch (set_gpus)
        self.editor = make_editor(replace(param, help=ABOUT))
        self.editor.edited.connect(lambda value: self.edited.emit(int(value)))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor)
        self._device, self._wanted = "auto", 1
        self.show_settings("auto", 1)

    def set_gpus(self, gpus: int) -> None:
        """How many CUDA GPUs this machine has (the dock asks torch)."""
        self.gpus = max(0, int(gpus))
        self.show_settings(self._device, self._wanted)

    def show_settings(self, device: str, processes: int) -> None:
        """Show the stored ``processes`` for ``device``: the range, the state and
        the tooltip follow this machine (signals blocked, no edit is made)."""
        self._device, self._wanted = device, processes
        limit = process_limit(device, self.gpus)
        editor = self.editor
        with signals_blocked(editor):
            editor.setRange(1, limit)
        editor.set_value(min(processes, limit))
        editor.setEnabled(limit > 1)
        reason = why_disabled(device, self.gpus)
        if reason:
            tip = reason
        else:
            tip = f"{ABOUT}\nAllowed: 1 … {limit} (one per GPU on this machine)."
        count, note = processes_for_run({"processes": processes, "device": device}, self.gpus)
        if note:
            tip += f"\nThis file asks for {processes}; runs here use {count}."
        editor.setToolTip(tip)
        self.setToolTip(tip)

    @property
    def enabled(self) -> bool:
        return self.editor.isEnabled()
