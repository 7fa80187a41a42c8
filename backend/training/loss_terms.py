"""Losses as part of the graph: several outputs with a loss each, and loss nodes.

A graph trains on *loss terms* when an Output node sets a loss of its own (its
``loss``, ``target`` or ``weight`` differ from the defaults), when it has several
Outputs, or when it holds loss nodes (:mod:`layerloom.graph.layers.losses`). The
training loss is then the weighted sum of the terms::

    total = Σ weight_i · term_i

and every term is reported beside it, unweighted, as ``loss_<name>`` (the name is
the node's label, or its id): in the epoch metrics, the live loss plot and
``layerloom train``. A graph with one Output whose settings are the defaults
trains exactly as before, on the training settings' loss.

The model a run trains is the ordinary compiled graph; training calls it through a
view that also returns what the terms need (see ``compile_graph(...,
with_losses=True)``) and shares its weights, so checkpoints, exports and
predictions see the model as always, without loss nodes.

For a package that builds on this (a GAN's trainer, say), the parts are
:func:`has_loss_terms`, :func:`plan_terms` (a graph and a dataset -> a
:class:`LossTerms`), :func:`training_forward` (the model -> the view) and
:func:`term_value` (one term's value from tensors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F

from layerloom.backend.training.losses import (
    Objective,
    ObjectiveError,
    default_loss,
    describe_shapes,
)
from layerloom.graph import fmt_shape
from layerloom.graph.layers.losses import has_loss_terms

__all__ = ["LossTerms", "Term", "has_loss_terms", "plan_terms", "term_value", "training_forward"]

# Loss node type -> the loss it computes (BCELoss: by its ``logits`` param).
NODE_KINDS = {"mse_loss": "mse", "cross_entropy_loss": "cross_entropy", "kl_divergence": "kl"}
ELEMENTWISE = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "bce": F.binary_cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
}


def term_value(kind: str, pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """One term's value on a batch, a scalar.

    Parameters
    ----------
    kind : str
        ``mse``, ``l1``, ``bce`` (``pred`` holds probabilities),
        ``bce_with_logits``, ``cross_entropy`` (scores on the last dim, ``target``
        class indices) or ``kl`` (``pred`` the mean, ``target`` the log-variance of
        a normal distribution; its divergence from N(0, I)).
    reduction : str
        ``mean``: the mean over every value; ``sum``: the sum over each sample's
        values, then the mean over the batch (the VAE's convention; ``kl`` always
        sums over a sample's dims).
    """
    if kind == "kl":
        mean, logvar = pred.float(), target.float()
        per_value = -0.5 * (1 + logvar - mean.square() - logvar.exp())
        return per_value.reshape(len(per_value), -1).sum(1).mean()
    if kind == "cross_entropy":
        scores = pred.float()
        return F.cross_entropy(scores.movedim(-1, 1) if scores.dim() > 2 else scores, target)
    per_value = ELEMENTWISE[kind](pred.float(), target.float(), reduction="none")
    if reduction == "sum":
        return per_value.reshape(len(per_value), -1).sum(1).mean()
    return per_value.mean()


@dataclass(frozen=True)
class Term:
    """One term of the loss.

    ``pred`` and ``target`` index the training view's results; ``target`` is
    ``None`` for the dataset's targets, which ``objective`` then turns into what
    the loss compares (one-hot rows for an MSE on labels, ...).
    """

    key: str  # reported as loss_<key>
    node_id: str
    kind: str
    weight: float
    pred: int
    target: int | None = None
    reduction: str = "mean"
    objective: Objective | None = None

    def value(self, results, y: torch.Tensor) -> torch.Tensor:
        pred = results[self.pred]
        if self.target is not None:
            return term_value(self.kind, pred, results[self.target], self.reduction)
        target = self.objective.loss_targets(y)
        if self.kind == "bce":
            return F.binary_cross_entropy(pred.float(), target.float())
        return self.objective(pred, target)


class LossTerms:
    """The loss of a run on loss terms, in the place of an :class:`Objective`.

    Called as ``terms(results, y)`` with the training view's results and the
    dataset's targets of the batch, it returns the weighted total and counts each
    term's value (on the device, read once per pass): :meth:`reset` starts a pass,
    :meth:`term_means` gives ``{"loss_<key>": mean}`` over it. A pass with
    gradients is the training pass, one without (``torch.no_grad``) evaluation.

    Metrics (accuracy, R²) score the first Output compared with the dataset's
    targets; with none (a VAE), ``task`` is ``"none"`` and only losses are reported.
    """

    name = "terms"

    def __init__(self, terms: list[Term], task: str, metric: int | None, metric_objective: Objective | None,
                 output_shape: tuple[int, ...]):
        self.terms = terms
        self.metric = metric
        self._metric_objective = metric_objective
        self.task = task if metric_objective is not None else "none"
        self.num_classes = metric_objective.num_classes if metric_objective else None
        self.output_shape = output_shape
        self.single_output = bool(metric_objective and metric_objective.single_output)
        self.threshold = metric_objective.threshold if metric_objective else 0.5
        self.huber_delta = metric_objective.huber_delta if metric_objective else 1.0
        self.keys = [f"loss_{t.key}" for t in terms]
        self._weights: torch.Tensor | None = None
        self._sums: dict[str, torch.Tensor | None] = {"train": None, "eval": None}
        self._counts = {"train": 0, "eval": 0}

    def describe(self) -> str:
        """``total = 1·loss_recon + 0.5·loss_kl``: what a run adds up."""
        return "total = " + " + ".join(f"{t.weight:g}·loss_{t.key}" for t in self.terms)

    # ------------------------------------------------- the Objective interface
    def loss_targets(self, y: torch.Tensor) -> torch.Tensor:
        return y  # each term turns its batch of targets itself

    def __call__(self, results, y: torch.Tensor) -> torch.Tensor:
        values = torch.stack([t.value(results, y) for t in self.terms])
        if self._weights is None or self._weights.device != values.device:
            self._weights = torch.tensor([t.weight for t in self.terms], device=values.device)
        phase = "train" if torch.is_grad_enabled() else "eval"
        counted = values.detach().double() * len(y) if values.device.type != "mps" else values.detach() * len(y)
        self._sums[phase] = counted if self._sums[phase] is None else self._sums[phase] + counted
        self._counts[phase] += len(y)
        return (values * self._weights).sum()

    def scored(self, results):
        """The output that metrics score (the first of the view's results when none is)."""
        return results[self.metric if self.metric is not None else 0]

    def reset(self, phase: str) -> None:
        self._sums[phase], self._counts[phase] = None, 0

    def term_means(self, phase: str) -> dict[str, float]:
        sums, n = self._sums[phase], self._counts[phase]
        if sums is None or not n:
            return {}
        return {key: value / n for key, value in zip(self.keys, sums.cpu().tolist(), strict=True)}

    def predictions(self, out: torch.Tensor) -> torch.Tensor:
        return self._metric_objective.predictions(out)


# ----------------------------------------------------------------- planning
def _layout(graph, order: list[str]):
    """Where each value sits in the training view's results (compile's order)."""
    nodes = [graph.node(nid) for nid in order]
    outputs = [n.id for n in nodes if n.spec.is_output]
    losses = [(n.id, port) for n in nodes if n.spec.loss for port in n.input_ports()]
    inputs = [n.id for n in nodes if n.spec.is_input]
    index = {("output", nid): i for i, nid in enumerate(outputs)}
    index.update({key: len(outputs) + i for i, key in enumerate(losses)})
    index.update({("input", nid): len(outputs) + len(losses) + i for i, nid in enumerate(inputs)})
    return outputs, index


def _keys(graph, ids: list[str]) -> dict[str, str]:
    """Node id -> a short, unique key from its label (``Reconstruction`` -> ``reconstruction``)."""
    keys, taken = {}, {"total"}
    for nid in ids:
        node = graph.node(nid)
        base = re.sub(r"[^0-9a-z]+", "_", (node.label or nid).lower()).strip("_") or nid
        key, i = base, 2
        while key in taken:
            key, i = f"{base}_{i}", i + 1
        taken.add(key)
        keys[nid] = key
    return keys


def _data_objective(where: str, kind: str, out_shape, data, settings) -> Objective:
    """The objective of a term compared with the dataset's targets; ObjectiveError
    naming ``where`` when it cannot."""
    problem = describe_shapes(out_shape, data.task, data.num_classes, tuple(data.target_shape))
    if problem:
        raise ObjectiveError(f"{where}: {problem}")
    try:
        return Objective("bce_with_logits" if kind == "bce" else kind, data.task, data.num_classes,
                         out_shape, settings.huber_delta)
    except ObjectiveError as exc:
        raise ObjectiveError(f"{where}: {exc}") from None


def _check_unit_range(where: str, data) -> None:
    """BCE compares with values in [0, 1]: the (normalised) inputs must lie there."""
    x = data.x
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ObjectiveError(
            f"{where}: binary cross-entropy compares with values in [0, 1], but the inputs of "
            f"{data.name!r} range from {lo:.3g} to {hi:.3g} after normalisation; set the dataset's "
            "normalise to minmax (or none for data already in [0, 1]), or use mse"
        )


def plan_terms(graph, analysis, data, settings) -> LossTerms:
    """The loss terms of ``graph`` trained on ``data``, checked.

    Raises
    ------
    ObjectiveError
        Naming the Output or loss node whose loss cannot work on this data (a
        reconstruction of another shape than the input, a BCE against inputs
        outside [0, 1], an output that does not fit the dataset's targets), or
        when nothing is trained at all.
    """
    outputs, index = _layout(graph, analysis.order)
    loss_nodes = [nid for nid in analysis.order if graph.node(nid).spec.loss]
    keys = _keys(graph, [nid for nid in outputs if graph.node(nid).params["loss"] != "none"] + loss_nodes)
    (input_id,) = [n.id for n in graph.inputs()]
    input_spec = analysis.nodes[input_id].out
    terms: list[Term] = []
    metric, metric_objective = None, None
    for nid in outputs:
        node, p = graph.node(nid), graph.node(nid).params
        if p["loss"] == "none":
            continue
        shape = tuple(analysis.nodes[nid].inputs["in"].shape)
        where = f"Output {node.title!r}"
        if p["target"] == "input":
            kind = "mse" if p["loss"] == "auto" else p["loss"]
            if shape != tuple(input_spec.shape):
                raise ObjectiveError(
                    f"{where} is compared with the model's input {fmt_shape(input_spec.shape)} but "
                    f"gives {fmt_shape(shape)}; end the decoder with that shape (a Reshape), or set "
                    "its target to data")
            if input_spec.dtype != "float" or kind == "cross_entropy":
                raise ObjectiveError(f"{where}: a {kind} loss cannot compare with the model's input; "
                                     "use mse, l1, bce or bce_with_logits")
            if kind == "bce":
                _check_unit_range(where, data)
            terms.append(Term(keys[nid], nid, kind, p["weight"], index[("output", nid)],
                              index[("input", input_id)]))
            continue
        kind = (settings.loss if settings.loss != "auto" else default_loss(data.task)) \
            if p["loss"] == "auto" else p["loss"]
        objective = _data_objective(where, kind, shape, data, settings)
        terms.append(Term(keys[nid], nid, kind, p["weight"], index[("output", nid)], objective=objective))
        if metric is None:
            metric, metric_objective = index[("output", nid)], objective
    for nid in loss_nodes:
        node, p = graph.node(nid), graph.node(nid).params
        where = f"{node.title} ({node.spec.name})"
        ports = node.input_ports()
        kind = p["kind"] if node.type == "reconstruction_loss" else NODE_KINDS.get(node.type)
        if node.type == "bce_loss":
            kind = "bce_with_logits" if p["logits"] else "bce"
        first = index[(nid, ports[0])]
        if len(ports) == 2:
            terms.append(Term(keys[nid], nid, kind, p["weight"], first, index[(nid, ports[1])],
                              p.get("reduction", "mean")))
        else:
            shape = tuple(analysis.nodes[nid].inputs["pred"].shape)
            terms.append(Term(keys[nid], nid, kind, p["weight"], first,
                              objective=_data_objective(where, kind, shape, data, settings)))
    if not terms:
        raise ObjectiveError("nothing to train: every Output's loss is none and the graph has no loss "
                             "node; set an Output's loss, or add a loss node")
    first_shape = tuple(analysis.nodes[outputs[0]].inputs["in"].shape)
    return LossTerms(terms, data.task, metric, metric_objective,
                     tuple(analysis.nodes[outputs[metric]].inputs["in"].shape) if metric is not None
                     else first_shape)


def training_forward(model: torch.nn.Module, graph, objective) -> torch.nn.Module:
    """What a run calls to train ``model``: the model itself, or, for loss terms, a
    view of it (the same weights) that also returns the values the terms need."""
    if not isinstance(objective, LossTerms):
        return model
    view = compile_view(graph)
    return fx.GraphModule(model, view.graph, class_name="LayerLoomTraining")


def compile_view(graph):
    """The graph compiled with its loss inputs (its own weights are not used)."""
    from layerloom.backend.compile import compile_graph

    return compile_graph(graph, seed=0, with_losses=True)
