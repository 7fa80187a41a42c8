"""What a GAN run is made of: its two networks found in the graph, the checks made
before the first step, the two losses, its events and the collapse watch.

A GAN project is one ``.loom`` file whose graph reads, left to right::

    Noise (Input) -> generator (block node) -> discriminator (block node) -> Output

and whose ``"training"`` section says ``"task": "gan"``. The two block nodes are
instances of two block definitions, so the user edits each network as a block
(double-click it); the graph itself says how they meet. The noise size is the
Input node's shape; the generator's output must be one real sample (the shape the
discriminator's own Input node declares, and the dataset's); the discriminator
gives one score (a logit, no sigmoid) per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from layerloom.backend.training.checks import TrainingError
from layerloom.graph import Graph, fmt_shape

LAYOUT = "Noise Input -> generator block -> discriminator block -> Output"
COLLAPSE_LOSS = 0.05  # a discriminator loss below this ...
COLLAPSE_STEPS = 200  # ... for this many steps in a row is a collapse


class GanError(TrainingError):
    """A GAN project that cannot train; the message names the nodes and shapes."""


@dataclass(frozen=True)
class GanNetworks:
    """The nodes of a GAN project and the shapes where they meet."""

    noise_id: str
    generator_id: str
    discriminator_id: str
    output_id: str
    noise_shape: tuple[int, ...]
    sample_shape: tuple[int, ...]  # what the generator makes
    generator: str  # the block node's title, for messages
    discriminator: str


def find_networks(graph: Graph) -> GanNetworks:
    """The generator and discriminator of ``graph`` and their shapes.

    Raises
    ------
    GanError
        When the graph is not laid out as :data:`LAYOUT`, when the generator's
        output does not fit the discriminator's input (naming both shapes), or when
        the discriminator does not give one score per sample.
    """
    inputs, outputs = graph.inputs(), graph.outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise GanError(f"a GAN project reads {LAYOUT}; this graph has {len(inputs)} Input and "
                       f"{len(outputs)} Output node(s)")
    noise, out = inputs[0], outputs[0]
    gen = _only_successor(graph, noise.id, "the noise Input")
    disc = _only_successor(graph, gen.id, "the generator")
    if not gen.is_block or not disc.is_block:
        wrong = gen if not gen.is_block else disc
        raise GanError(f"a GAN project reads {LAYOUT}; {wrong.title!r} is a {wrong.spec.name} "
                       "layer, not a block: select the network's layers and make them a block "
                       "(Ctrl+G)")
    last = _only_successor(graph, disc.id, "the discriminator")
    if last.id != out.id:
        raise GanError(f"a GAN project reads {LAYOUT}; the discriminator {disc.title!r} feeds "
                       f"{last.title!r} instead of the Output node")
    analysis = graph.analysis()
    if noise.params["dtype"] != "float":
        raise GanError(f"the noise Input {noise.title!r} must give float values, not "
                       f"{noise.params['dtype']}; set its dtype to float")
    g_info = analysis.nodes[gen.id]
    if g_info.error or not g_info.outputs:
        raise GanError(f"the generator {gen.title!r} cannot work: {g_info.message or 'no output'}")
    made = tuple(g_info.out.shape)
    d_def = graph.blocks[disc.params["block"]]
    d_inputs = d_def.port_nodes("in")
    if len(d_inputs) != 1 or len(d_def.port_nodes("out")) != 1:
        raise GanError(f"the discriminator block {d_def.name!r} must have one input and one "
                       f"output port; it has {len(d_inputs)} and {len(d_def.port_nodes('out'))}")
    takes = tuple(d_inputs[0].params["shape"])
    if made != takes:
        raise GanError(
            f"the generator {gen.title!r} makes samples of shape {fmt_shape(made)} but the "
            f"discriminator {disc.title!r} takes {fmt_shape(takes)} (its Input node "
            f"{d_inputs[0].title!r}): make the generator's last layers give {fmt_shape(takes)} "
            f"(units, channels, a Reshape), or set the discriminator's Input to {fmt_shape(made)}")
    d_info = analysis.nodes[disc.id]
    if d_info.error or not d_info.outputs:
        raise GanError(f"the discriminator {disc.title!r} cannot take the generator's samples "
                       f"{fmt_shape(made)}: {d_info.message or 'no output'}")
    score = tuple(d_info.out.shape)
    if math.prod(score) != 1:
        raise GanError(f"the discriminator {disc.title!r} gives {fmt_shape(score)} per sample; "
                       "it must give one score (a logit: Dense with 1 unit, no activation)")
    analysis.raise_if_invalid()
    return GanNetworks(noise.id, gen.id, disc.id, out.id, tuple(noise.params["shape"]), made,
                       gen.title, disc.title)


def _only_successor(graph: Graph, node_id: str, what: str):
    targets = {e.target for e in graph.edges if e.source == node_id}
    if len(targets) != 1:
        raise GanError(f"a GAN project reads {LAYOUT}; {what} feeds {len(targets)} nodes "
                       "instead of one")
    return graph.node(targets.pop())


def check_data(nets: GanNetworks, data) -> None:
    """The dataset's samples are what the generator makes, as floats."""
    if len(data) == 0:
        raise GanError(f"the training set of {data.name!r} is empty; add data or lower val_split")
    if data.input_dtype != "float":
        raise GanError(f"a GAN learns real-valued samples; {data.name!r} gives token ids")
    if tuple(data.input_shape) != nets.sample_shape:
        raise GanError(
            f"the dataset {data.name!r} gives samples of shape {fmt_shape(data.input_shape)} but "
            f"the generator {nets.generator!r} makes {fmt_shape(nets.sample_shape)} (and the "
            f"discriminator {nets.discriminator!r} takes it): make both "
            f"{fmt_shape(data.input_shape)}")


def network_modules(model, nets: GanNetworks) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The generator's and the discriminator's sub-modules of the compiled graph."""
    by_node = {nid: name for name, nid in model.module_nodes.items()}
    return (model.get_submodule(by_node[nets.generator_id]),
            model.get_submodule(by_node[nets.discriminator_id]))


# ------------------------------------------------------------------ the losses
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-[log D(x) + log(1 - D(G(z)))]`` averaged over each batch, from logits:
    ``softplus(-real) + softplus(fake)`` (both terms, summed: about 1.39 at a draw)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """``minimax``: ``log(1 - D(G(z)))`` (= ``-softplus(fake)``), which the generator
    lowers; ``non_saturating``: ``-log D(G(z))`` (= ``softplus(-fake)``)."""
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; use non_saturating or minimax")


class CollapseWatch:
    """Tells once when the discriminator's loss has stayed below :data:`COLLAPSE_LOSS`
    for :data:`COLLAPSE_STEPS` steps in a row: it tells real from generated samples
    perfectly, and the generator learns little more."""

    def __init__(self, threshold: float = COLLAPSE_LOSS, steps: int = COLLAPSE_STEPS):
        self.threshold = threshold
        self.steps = steps
        self.run = 0
        self.message: str | None = None

    def update(self, d_loss: float, step: int, loss_kind: str) -> str | None:
        """The message the first time the run collapses, else ``None``."""
        self.run = self.run + 1 if d_loss < self.threshold else 0
        if self.message is not None or self.run < self.steps:
            return None
        hint = ("switch gan_loss to non_saturating, " if loss_kind == "minimax" else "")
        self.message = (
            f"the run collapsed: the discriminator's loss has stayed below {self.threshold:g} "
            f"for {self.steps} steps (up to step {step}), so it tells every generated sample "
            f"apart and the generator's gradient fades. Try: {hint}a lower discriminator "
            "learning rate (d_lr), a smaller discriminator, or dropout in it")
        return self.message


# ------------------------------------------------------------------ its events
@dataclass(frozen=True)
class GanProgress:
    """Both losses and the discriminator's accuracy on real and generated samples,
    averaged over the steps since the last report; ``d_steps``/``g_steps`` count
    each network's updates so far."""

    epoch: int
    step: int
    d_loss: float
    g_loss: float
    real_accuracy: float
    fake_accuracy: float
    d_steps: int
    g_steps: int
    kind: str = field(default="gan", init=False)


@dataclass(frozen=True)
class GanSamples:
    """What the generator makes from the run's fixed noise: ``count`` samples of
    ``shape``, flat in ``values`` (in the data's normalised units); ``real`` holds as
    many real samples, flat, for 2-D data (drawn under the generated points)."""

    epoch: int
    step: int
    shape: tuple[int, ...]
    count: int
    values: tuple[float, ...]
    real: tuple[float, ...] = ()
    kind: str = field(default="gan_samples", init=False)

    def array(self):
        """The samples as a NumPy array ``(count, *shape)``."""
        import numpy as np

        return np.asarray(self.values, np.float32).reshape(self.count, *self.shape)
