"""The devices a run can train on, as the device combo lists them."""

from __future__ import annotations


def torch_devices(torch) -> list[tuple[str, str]]:
    """``(label, device name)`` of every device this PyTorch can train on."""
    out = [("Auto (best available)", "auto"), ("CPU", "cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"CUDA {i}: {torch.cuda.get_device_name(i)}", f"cuda:{i}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("Apple GPU (MPS)", "mps"))
    return out
