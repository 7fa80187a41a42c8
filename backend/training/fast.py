"""The fast path: what the ``compile`` training setting turns on, and where.

Measured with ``benchmarks/train_overhead.py`` (the two-moons MLP, digits CNN and
sine LSTM templates on one CPU thread):

- a fused optimizer (one kernel updates every parameter, see
  :func:`~layerloom.backend.training.optim.build_optimizer`) pays everywhere: the
  update of a small model is most of its step's Python work;
- ``torch.compile`` of the model pays on CUDA, where it also captures the step in
  CUDA graphs (``mode="reduce-overhead"``: one launch instead of one per kernel, which
  is what bounds a small model on a GPU); on a CPU it took 6–20 s to compile the
  templates and then ran their steps slower than the same eager steps with the
  fused optimizer (the CNN and LSTM slower than plain eager PyTorch too), so the
  fast path leaves it out there (:func:`compile_pays`).

A compilation that fails (no C++ compiler, an operation Dynamo cannot trace, a
platform torch.compile does not support) never ends the run: the trainer trains on
without it and says so in a ``note`` event (:func:`fallback_message`).
"""

from __future__ import annotations

import torch


def compile_pays(device: torch.device) -> bool:
    """Whether the fast path compiles the model on ``device`` (CUDA only: see above)."""
    return device.type == "cuda"


def uses_cuda_graphs(device: torch.device) -> bool:
    """Whether a compiled model also runs as CUDA graphs on ``device``."""
    return device.type == "cuda"


def compile_model(model: torch.nn.Module, device: torch.device, cuda_graphs: bool = True):
    """``(forward, problem)``: ``torch.compile(model)`` (with CUDA graphs on CUDA,
    unless ``cuda_graphs`` is false) and ``None``, or ``model`` itself and the
    message of why it cannot be compiled here."""
    try:
        mode = "reduce-overhead" if cuda_graphs and uses_cuda_graphs(device) else None
        return torch.compile(model, mode=mode), None
    except Exception as exc:  # unsupported platform or Python version
        return model, fallback_message(exc)


def is_compile_failure(exc: BaseException) -> bool:
    """Whether ``exc`` came from torch.compile (Dynamo, AOTAutograd, Inductor or the
    C++ compiler it calls), not from the model itself."""
    where = type(exc).__module__
    if where.startswith(("torch._dynamo", "torch._inductor", "torch._functorch")):
        return True
    text = str(exc)
    return "torch._dynamo" in text or "inductor" in text.lower()


def fallback_message(exc: BaseException) -> str:
    """The note a run gives when it trains on without torch.compile."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (f"torch.compile is not available for this model here ({type(exc).__name__}: "
            f"{first}); training without it, with the fused optimizer")
