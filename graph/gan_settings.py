"""The training settings of a GAN project, declared once like every other setting.

A ``.loom`` file whose ``"training"`` section says ``"task": "gan"`` trains its two
block nodes as a generator and a discriminator that compete (see
:mod:`layerloom.backend.training.gan`); these settings say how. They join
:data:`layerloom.graph.settings.TRAINING`, so the file loader, the set-up form (under
More) and ``layerloom train`` read them from this one place. The noise size is not
a setting: it is the shape of the graph's noise Input node, so the file says it once.
"""

from __future__ import annotations

from layerloom.graph.params import Choice, Float, Int, Param

TASKS = ("supervised", "gan")
GAN_LOSSES = ("non_saturating", "minimax")
SAME = "same"  # a per-network optimizer equal to the run's
MAX_D_STEPS = 100


def gan_settings(optimizers: tuple[str, ...]) -> tuple[Param, ...]:
    """The GAN settings; ``optimizers`` are the names the ``optimizer`` setting allows."""
    return (
        Choice("task", "supervised", TASKS,
               "supervised: the graph learns the dataset's targets; gan: its generator block (fed "
               "by the noise Input) and discriminator block (fed by the generator) compete",
               form="more", flag="--task supervised|gan"),
        Choice("gan_loss", "non_saturating", GAN_LOSSES,
               "For a GAN: minimax, the generator minimises log(1 - D(G(z))); non_saturating, it "
               "maximises log D(G(z)), which keeps its gradient alive while D wins",
               label="GAN loss", form="more"),
        Int("d_steps", 1, "Discriminator steps per generator step (a GAN)", minimum=1,
            maximum=MAX_D_STEPS, label="discriminator steps", form="more", flag="--d-steps N"),
        Float("g_lr", 0.0, "The generator's learning rate in a GAN (0: the learning rate)",
              minimum=0.0, maximum=1e3, label="generator lr", form="more"),
        Float("d_lr", 0.0, "The discriminator's learning rate in a GAN (0: the learning rate)",
              minimum=0.0, maximum=1e3, label="discriminator lr", form="more"),
        Choice("g_optimizer", SAME, (SAME, *optimizers),
               "The generator's optimizer in a GAN (same: the optimizer setting)", form=""),
        Choice("d_optimizer", SAME, (SAME, *optimizers),
               "The discriminator's optimizer in a GAN (same: the optimizer setting)", form=""),
    )
