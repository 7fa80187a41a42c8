"""What a GAN run's view shows, kept in the run's record: both losses, the
discriminator's accuracy on real and generated samples (bounded curves), the
latest samples from fixed noise, and the step counts. No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from layerloom.gui.training.views.series import BoundedSeries

CURVES = ("d_loss", "g_loss", "real_accuracy", "fake_accuracy")


@dataclass
class GanRecord:
    """Folded ``gan`` and ``gan_samples`` events of one run."""

    curves: dict[str, BoundedSeries] = field(default_factory=lambda: {k: BoundedSeries() for k in CURVES})
    samples: Any = None  # the latest GanSamples event
    latest: Any = None  # the latest GanProgress event

    def add_progress(self, event) -> str:
        self.latest = event
        for name in CURVES:
            value = getattr(event, name)
            self.curves[name].append(event.step, value if math.isfinite(value) else math.nan)
        return "gan"

    def add_samples(self, event) -> str:
        self.samples = event
        return "gan_samples"


def gan_of(run) -> GanRecord:
    """The run's record of GAN events, made on the first one."""
    if run.gan is None:
        run.gan = GanRecord()
    return run.gan
