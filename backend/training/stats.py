"""Per-layer weight, gradient and dead-unit statistics for the live views.

Computed every ``stats_every`` steps, never per step. Each is bounded in cost: the
histogram uses at most :data:`HIST_SAMPLE` weights drawn with a generator of its
own (so asking for statistics never changes the run's random numbers, and a run
with statistics has the same losses as one without), and dead units are measured on
one probe batch of at most :data:`PROBE_SAMPLES` samples.
"""

from __future__ import annotations

import torch
import torch.fx as fx
from torch import nn

from layerloom.backend.training.events import NodeStats

HIST_BINS = 30
HIST_SAMPLE = 4096
PROBE_SAMPLES = 256
_RELU_FUNCTIONS = {torch.relu, torch.nn.functional.relu, torch.relu_}
_RELU_MODULES = (nn.ReLU, nn.ReLU6)


def relu_followed(model: fx.GraphModule, module_nodes: dict[str, str]) -> list[str]:
    """Submodule names whose every user in the fx graph is a ReLU (function or module).

    Those are the layers whose units can die: a unit whose pre-activation is never
    positive outputs zero for every sample and receives no gradient.
    """
    found = []
    modules = dict(model.named_modules())
    for node in model.graph.nodes:
        if node.op != "call_module" or node.target not in module_nodes or not node.users:
            continue
        if all(_is_relu(user, modules) for user in node.users):
            found.append(node.target)
    return found


def _is_relu(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_function":
        return node.target in _RELU_FUNCTIONS
    if node.op == "call_module":
        return isinstance(modules.get(node.target), _RELU_MODULES)
    return False


class StatsCollector:
    """Collects :class:`NodeStats` for every graph node with parameters.

    Parameters
    ----------
    model : fx.GraphModule
        The compiled graph (not a ``torch.compile`` wrapper).
    module_nodes : dict
        Submodule name -> graph node id (``CompiledGraph.module_nodes``).
    seed : int
        Seed of the sampling generator.
    """

    def __init__(self, model: fx.GraphModule, module_nodes: dict[str, str], seed: int = 0):
        self.model = model
        self.module_nodes = dict(module_nodes)
        self.generator = torch.Generator().manual_seed(seed + 7919)
        self.groups: dict[str, list[tuple[str, nn.Parameter]]] = {}
        for name, param in model.named_parameters():
            top = name.split(".", 1)[0]
            if top in self.module_nodes:
                self.groups.setdefault(top, []).append((name, param))
        self.relu_modules = [m for m in relu_followed(model, self.module_nodes) if m in self.groups]

    def collect(self, probe: torch.Tensor | None = None) -> tuple[NodeStats, ...]:
        """Statistics now; ``probe`` (a batch of inputs) enables dead-unit shares."""
        dead = self._dead_units(probe) if probe is not None and self.relu_modules else {}
        out = []
        with torch.no_grad():
            for module, params in self.groups.items():
                weights = [p for n, p in params if "weight" in n.rsplit(".", 1)[-1]] or [p for _, p in params]
                flat = torch.cat([w.detach().reshape(-1).float() for w in weights])
                sample = self._sample(flat)
                sample = sample[torch.isfinite(sample)]
                if sample.numel() == 0:
                    sample = torch.zeros(1)
                lo, hi = float(sample.min()), float(sample.max())
                if not (lo < hi):
                    lo, hi = lo - 0.5, hi + 0.5
                counts = torch.histc(sample, bins=HIST_BINS, min=lo, max=hi)
                edges = torch.linspace(lo, hi, HIST_BINS + 1)
                weight_norm = float(torch.linalg.vector_norm(torch.stack(
                    [torch.linalg.vector_norm(p.detach().float()) for _, p in params])))
                grads = [p.grad for _, p in params if p.grad is not None]
                grad_norm = None
                if grads:
                    grad_norm = float(torch.linalg.vector_norm(torch.stack(
                        [torch.linalg.vector_norm(g.detach().float()) for g in grads])))
                out.append(NodeStats(
                    node_id=self.module_nodes[module],
                    hist_counts=tuple(counts.cpu().tolist()),
                    hist_edges=tuple(edges.tolist()),
                    weight_norm=weight_norm,
                    grad_norm=grad_norm,
                    dead_fraction=dead.get(module),
                ))
        return tuple(out)

    def _sample(self, flat: torch.Tensor) -> torch.Tensor:
        if flat.numel() <= HIST_SAMPLE:
            return flat.cpu()
        idx = torch.randint(flat.numel(), (HIST_SAMPLE,), generator=self.generator)
        return flat[idx.to(flat.device)].cpu()

    def _dead_units(self, probe: torch.Tensor) -> dict[str, float]:
        """Share of units of each ReLU-followed layer that are never positive."""
        alive: dict[str, torch.Tensor] = {}
        modules = dict(self.model.named_modules())

        def hook_for(name: str):
            def hook(module, args, output):
                if not isinstance(output, torch.Tensor) or output.dim() < 2:
                    return
                # units: the last dim for Linear, the channel dim (1) for conv-like layers
                dim = output.dim() - 1 if isinstance(module, nn.Linear) else 1
                positive = (output > 0).movedim(dim, -1).reshape(-1, output.shape[dim]).any(0)
                alive[name] = positive

            return hook

        handles = [modules[name].register_forward_hook(hook_for(name)) for name in self.relu_modules]
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                self.model(probe[:PROBE_SAMPLES])
        finally:
            self.model.train(was_training)
            for handle in handles:
                handle.remove()
        return {name: 1.0 - float(positive.float().mean()) for name, positive in alive.items()}
