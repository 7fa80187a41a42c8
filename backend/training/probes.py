"""What the live views need from the model, measured in the training thread.

The trainer calls its consumer between two steps; there the app's training
worker asks a :class:`LiveProbe` for gradient norms, one layer's weight
histogram, dead-unit shares and the decision-boundary grid, at most a few times a
second (the caller throttles by the clock, not by steps, so a fast model is not
probed a thousand times a second). Everything here is bounded in cost: histograms use a random
sample of at most ``HIST_SAMPLE`` weights counted with ``torch.histc`` on the
training device, dead units are measured on one probe batch, and the grid is one
forward pass of ``GRID * GRID`` points in eval mode (then the model goes back to
train mode, so dropout and batch norm see no difference).

Results are plain values and NumPy arrays (never tensors), like the trainer's own
events, so the GUI thread can keep them without touching torch.

Pure torch, no Qt. Importing this module imports torch, so the app imports it
only where torch is loaded already (the training worker, Try it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from layerloom.backend.training.events import NodeStats, Stats
from layerloom.backend.training.stats import HIST_BINS, HIST_SAMPLE, PROBE_SAMPLES, StatsCollector

HIST_OTHERS = 3  # layers besides the one on screen whose histogram each measurement adds, in turn
GRID = 64  # decision-boundary grid: GRID x GRID points
GRID_MARGIN = 0.15  # share of the data's range added on each side


@dataclass(frozen=True)
class Boundary:
    """Model outputs over a grid covering 2-D inputs (normalised units).

    ``values`` is ``(GRID, GRID, C)``: class probabilities for classification (C
    classes, rows are y and columns x), or the single predicted value for a
    regression. ``x_range``/``y_range`` are the grid's extent.
    """

    step: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    values: np.ndarray
    kind: str = field(default="boundary", init=False)


def histogram_bins(n: int) -> int:
    """Bins for ``n`` values: the Rice rule ``2 n^(1/3)`` between 6 and
    ``HIST_BINS`` (a 2x16 layer's 32 weights in 30 bins would be mostly empty)."""
    return int(min(HIST_BINS, max(6, round(2 * n ** (1 / 3)))))


def class_probabilities(loss_name: str, single_output: bool, out: torch.Tensor) -> torch.Tensor:
    """Per-class probabilities ``(N, C)`` from a classifier's raw outputs.

    Follows how the loss reads the outputs: softmax of logits for cross-entropy,
    ``exp`` of log-probabilities for NLL, a sigmoid for binary cross-entropy, and
    the clipped outputs themselves for a regression loss on one-hot targets. A
    single output becomes two columns ``[1 - p, p]``.
    """
    out = out.detach().float()
    if single_output:
        col = out[..., 0]
        p = torch.sigmoid(col) if loss_name == "bce_with_logits" else col.clamp(0.0, 1.0)
        return torch.stack([1.0 - p, p], dim=-1)
    if loss_name == "cross_entropy":
        return torch.softmax(out, dim=-1)
    if loss_name == "nll":
        probs = out.exp()
    elif loss_name == "bce_with_logits":
        probs = torch.sigmoid(out)
    else:
        probs = out.clamp(0.0, 1.0)
    total = probs.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, probs / total.clamp_min(1e-12), torch.full_like(probs, 1.0 / probs.shape[-1]))


class LiveProbe(StatsCollector):
    """Statistics for the live views, at a cost that does not grow with the model.

    Parameters
    ----------
    model : torch.nn.Module
        The compiled graph being trained (not a ``torch.compile`` wrapper).
    module_nodes : dict
        Submodule name -> graph node id.
    node_order : list of str
        Graph node ids in graph (topological) order; statistics come in this order.
    probe : torch.Tensor
        A batch of inputs on the training device (dead units, boundary extent).
    objective : backend.training.Objective
        The run's loss, to read outputs as probabilities.
    task : str
        The dataset's task.
    seed : int
        Seed of the weight-sampling generator (independent of the run's).
    """

    def __init__(self, model: nn.Module, module_nodes: dict[str, str], node_order: list[str],
                 probe: torch.Tensor, objective, task: str, seed: int = 0):
        super().__init__(model, module_nodes, seed)
        rank = {nid: i for i, nid in enumerate(node_order)}
        self.groups = dict(sorted(self.groups.items(),
                                  key=lambda kv: rank.get(self.module_nodes[kv[0]], len(rank))))
        self.probe = probe[:PROBE_SAMPLES]
        self.objective = objective
        self.task = task
        self.grid = self._grid(probe) if self._wants_grid(probe) else None
        self._hist_turn = 0  # where the round of the other layers' histograms goes on

    # ------------------------------------------------------------- statistics
    def live_stats(self, epoch: int, step: int, hist_node: str | None, others: int = HIST_OTHERS) -> Stats:
        """Gradient and weight norms of every layer, dead-unit shares after ReLUs,
        and weight histograms: of ``hist_node`` (the layer on screen) every time, and
        of ``others`` more layers in turn, so that every layer's history grows (a
        small model's layers are all measured every time) at a bounded cost."""
        dead = self._dead_units(self.probe) if self.relu_modules else {}
        measured = self._hist_nodes(hist_node, others)
        out = []
        with torch.no_grad():
            for module, params in self.groups.items():
                node_id = self.module_nodes[module]
                norms = torch.stack([torch.linalg.vector_norm(p.detach().float()) for _, p in params])
                grads = [p.grad for _, p in params if p.grad is not None]
                grad_norm = None
                if grads:
                    grad_norm = float(torch.linalg.vector_norm(torch.stack(
                        [torch.linalg.vector_norm(g.detach().float()) for g in grads])))
                counts, edges = (), ()
                if node_id in measured:
                    counts, edges = self._histogram(params)
                out.append(NodeStats(node_id, counts, edges, float(torch.linalg.vector_norm(norms)),
                                     grad_norm, dead.get(module)))
        return Stats(epoch, step, tuple(out))

    def _hist_nodes(self, hist_node: str | None, others: int) -> set[str]:
        """``hist_node`` and the next ``others`` layers of the round."""
        nodes = [self.module_nodes[m] for m in self.groups]
        rest = [nid for nid in nodes if nid != hist_node]
        chosen = {hist_node} if hist_node in nodes else set()
        if len(rest) <= others:
            return chosen | set(rest)
        for i in range(others):
            chosen.add(rest[(self._hist_turn + i) % len(rest)])
        self._hist_turn = (self._hist_turn + others) % len(rest)
        return chosen

    def _histogram(self, params) -> tuple[tuple[float, ...], tuple[float, ...]]:
        weights = [p for n, p in params if "weight" in n.rsplit(".", 1)[-1]] or [p for _, p in params]
        sizes = [w.numel() for w in weights]
        total = sum(sizes)
        if total <= HIST_SAMPLE:
            sample = torch.cat([w.detach().reshape(-1).float() for w in weights])
        else:  # draw indices without concatenating every weight of a large layer
            idx = torch.randint(total, (HIST_SAMPLE,), generator=self.generator).sort().values
            parts, start = [], 0
            for w, size in zip(weights, sizes, strict=True):
                mask = (idx >= start) & (idx < start + size)
                if mask.any():
                    local = (idx[mask] - start).to(w.device)
                    parts.append(w.detach().reshape(-1)[local].float())
                start += size
            sample = torch.cat(parts)
        sample = sample[torch.isfinite(sample)]
        if not sample.numel():
            return (), ()
        lo, hi = float(sample.min()), float(sample.max())
        if not lo < hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = histogram_bins(sample.numel())
        counts = torch.histc(sample, bins=bins, min=lo, max=hi)
        edges = np.linspace(lo, hi, bins + 1)
        return tuple(counts.cpu().tolist()), tuple(edges.tolist())

    # ------------------------------------------------------- decision boundary
    def _wants_grid(self, probe: torch.Tensor) -> bool:
        if probe.dim() != 2 or probe.shape[1] != 2 or not probe.is_floating_point():
            return False
        if self.task == "classification":
            return True
        return self.task == "regression" and tuple(self.objective.output_shape) == (1,)

    def _grid(self, points: torch.Tensor):
        lo = points.min(dim=0).values.float().cpu()
        hi = points.max(dim=0).values.float().cpu()
        span = torch.clamp(hi - lo, min=1e-3)
        lo, hi = lo - GRID_MARGIN * span, hi + GRID_MARGIN * span
        xs = torch.linspace(float(lo[0]), float(hi[0]), GRID)
        ys = torch.linspace(float(lo[1]), float(hi[1]), GRID)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        flat = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).to(points.device)
        return flat, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))

    def boundary(self, step: int) -> Boundary | None:
        """The model's outputs over the grid, or ``None`` for data that is not 2-D."""
        if self.grid is None:
            return None
        flat, x_range, y_range = self.grid
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                out = self.model(flat)
        finally:
            self.model.train(was_training)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if self.task == "classification":
            values = class_probabilities(self.objective.name, self.objective.single_output, out)
        else:
            values = out.detach().float().reshape(-1, 1)
        values = values.cpu().numpy().reshape(GRID, GRID, -1).astype(np.float32)
        return Boundary(step, x_range, y_range, values)


def predict(model: nn.Module, x: np.ndarray, loss_name: str, single_output: bool,
            task: str) -> np.ndarray:
    """Outputs of ``model`` (on the CPU, eval mode) for a batch ``x``.

    Classification, sequence and segmentation tasks give probabilities, classes
    last (``(N, C)``, ``(N, T, V)``, ``(N, H, W, C)``), regressions the raw values.
    """
    tensor = torch.as_tensor(x)
    model.eval()
    with torch.no_grad():
        out = model(tensor)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if task == "regression":
        return out.detach().float().numpy()
    if task == "segmentation":  # (N, C, H, W): the classes move last, as for the other tasks
        out = out.movedim(1, -1)
    return class_probabilities(loss_name, single_output, out).numpy()
