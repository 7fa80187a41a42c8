"""One forward pass that remembers what the views need: each node's output and the
attention weights computed inside each node.

The compiled model (:func:`layerloom.backend.compile.compile_graph`) names the
result of every node after the node (:func:`~layerloom.backend.compile.node_names`),
so an ``fx.Interpreter`` that keeps the values of those names gives every node's
output from one pass. Attention is found wherever it is computed, whatever layer
computes it: a ``TorchFunctionMode`` sees every call of
``F.scaled_dot_product_attention`` (whose weights it recomputes from q, k and the
mask), of ``F.multi_head_attention_forward`` (asked for the per-head weights) and
of a softmax over the last axis of a 4-d ``(N, heads, T, S)`` tensor (attention
written out by hand, as in the ViT encoder block); each is filed under the
top-level node being run. The pass runs with gradients enabled so that torch's
fused inference paths, which skip those calls, are not taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from layerloom.backend.compile import node_names

_SDPA = {F.scaled_dot_product_attention, torch._C._nn.scaled_dot_product_attention}
_SOFTMAX = {F.softmax, torch.softmax, torch.Tensor.softmax}


@dataclass
class Recording:
    """What one pass gave: ``outputs`` node id -> ``np.ndarray`` (the sample's,
    batch axis removed); ``attention`` node id -> list of ``(heads, T, S)`` arrays,
    one per attention computed inside that node, in the order they ran."""

    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    attention: dict[str, list[np.ndarray]] = field(default_factory=dict)
    result: object = None


class _AttentionSpy(TorchFunctionMode):
    def __init__(self, recording: Recording):
        super().__init__()
        self.recording = recording
        self.node: str | None = None

    def _keep(self, weights: torch.Tensor) -> None:
        if self.node is not None:
            self.recording.attention.setdefault(self.node, []).append(
                weights.detach()[0].float().cpu().numpy())

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _SDPA:
            self._keep(sdpa_weights(*args[:3], **{k: v for k, v in kwargs.items()
                                                  if k in ("attn_mask", "is_causal", "scale")},
                                    mask=args[3] if len(args) > 3 else None))
            return func(*args, **kwargs)
        if func is F.multi_head_attention_forward:
            wanted, average = kwargs.get("need_weights", True), kwargs.get("average_attn_weights", True)
            kwargs.update(need_weights=True, average_attn_weights=False)
            out, weights = func(*args, **kwargs)
            if weights is not None and weights.dim() == 4:
                self._keep(weights)
            if not wanted:
                weights = None
            elif average and weights is not None:
                weights = weights.mean(dim=1)
            return out, weights
        result = func(*args, **kwargs)
        if func in _SOFTMAX and isinstance(result, torch.Tensor) and result.dim() == 4:
            dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
            if dim in (-1, 3):
                self._keep(result)
        return result


def sdpa_weights(q, k, v=None, attn_mask=None, is_causal=False, scale=None, mask=None) -> torch.Tensor:
    """The attention weights ``softmax(q kᵀ · scale + mask)`` that
    ``F.scaled_dot_product_attention`` uses (``(..., T, S)``)."""
    attn_mask = attn_mask if attn_mask is not None else mask
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q.float() @ k.float().transpose(-2, -1)) * scale
    if is_causal:
        hidden = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(hidden, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)
    while weights.dim() < 4:
        weights = weights.unsqueeze(1)
    return weights


class _Recorder(fx.Interpreter):
    def __init__(self, module, names: dict[str, str], spy: _AttentionSpy | None):
        super().__init__(module)
        self.by_name = {name: nid for nid, name in names.items()}
        self.spy = spy
        self.values: dict[str, torch.Tensor] = {}
        # a node's code is contiguous and ends with its named result: the values made
        # on the way (a repeated block's first copies) belong to the next named one
        self.owner: dict[str, str] = {}
        pending: list[str] = []
        for n in module.graph.nodes:
            pending.append(n.name)
            if n.name in self.by_name:
                self.owner.update(dict.fromkeys(pending, self.by_name[n.name]))
                pending = []

    def run_node(self, n):
        nid = self.by_name.get(n.name)
        if self.spy is not None:
            self.spy.node = self.owner.get(n.name)
        result = super().run_node(n)
        if nid is not None and isinstance(result, torch.Tensor):
            self.values[nid] = result
        return result


def record(model, graph, x: np.ndarray, attention: bool = False) -> Recording:
    """Run ``model`` (CPU, eval mode) on a batch of one, ``x`` with its batch axis,
    and keep every node's output (and, with ``attention``, the attention weights).

    An Output node's entry is its input's value; a node with several outputs
    gives its first.
    """
    if len(getattr(model, "input_names", ())) != 1:
        from layerloom.backend.views.base import NotApplicable

        raise NotApplicable("the views run models with one input; this one has "
                            f"{len(model.input_names)}")
    names = node_names(graph)
    recording = Recording()
    spy = _AttentionSpy(recording) if attention else None
    recorder = _Recorder(model, names, spy)
    tensor = torch.as_tensor(x)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad() if attention else torch.no_grad():
            if spy is not None:
                with spy:
                    result = recorder.run(tensor)
            else:
                result = recorder.run(tensor)
    finally:
        model.train(was_training)
    recording.result = result
    _keep_outputs(recording, recorder, graph)
    return recording


def _keep_outputs(recording: Recording, recorder: _Recorder, graph) -> None:
    for nid, value in recorder.values.items():
        recording.outputs[nid] = value.detach()[0].float().cpu().numpy()
    for node in graph.nodes:
        if node.spec.is_output:
            incoming = graph.incoming(node.id)
            sources = [e.source for e in incoming.values()]
            if sources and sources[0] in recording.outputs:
                recording.outputs[node.id] = recording.outputs[sources[0]]


def record_block(model, graph, x: np.ndarray, path) -> tuple[object, Recording, str]:
    """Every output inside a block instance for a batch of one, ``x``.

    ``path`` names the block node and, for a block inside a block, the block node
    inside it, and so on (``["layer1"]``). One pass of ``model`` gives the block's
    module its input (its first copy's, where it repeats); that module then runs
    again, node by node, keeping each inner node's output. Returns the instance's
    graph (the block's inside, node ids as in its definition), the recording and
    a note (which copy, or ``""``); raises :class:`NotApplicable` when a path step
    is not a block node or shares another's weights (its module runs for both).
    """
    from layerloom.backend.views.base import NotApplicable

    names_path, notes, g = [], [], graph
    for nid in path:
        if not g.has_node(nid) or not g.node(nid).is_block:
            raise NotApplicable(f"{nid!r} is not a block node of the graph shown")
        node = g.node(nid)
        if node.params["shares_weights_with"]:
            raise NotApplicable(f"{node.title} shares the weights of {node.params['shares_weights_with']}: "
                                "open that block to see the outputs inside it")
        names_path.append(node_names(g)[nid] + (".0" if node.params["repeat"] > 1 else ""))
        if node.params["repeat"] > 1:
            notes.append(f"the first of the {node.params['repeat']} copies of {node.title}")
        g = g.blocks.instance(node.params["block"], node.params, g.analysis().nodes[nid].inputs).graph
    module = model.get_submodule(".".join(names_path))
    captured: list = []
    handle = module.register_forward_pre_hook(lambda _m, args: None if captured else captured.append(args))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.as_tensor(x))
            if not captured:
                raise NotApplicable("the block did not run in the model's forward pass")
            recorder = _Recorder(module, node_names(g), None)
            recording = Recording(result=recorder.run(*captured[0]))
    finally:
        handle.remove()
        model.train(was_training)
    _keep_outputs(recording, recorder, g)
    return g, recording, "; ".join(notes)
