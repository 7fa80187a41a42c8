"""Training a GAN project: a generator and a discriminator in alternating steps.

The graph (see :mod:`layerloom.backend.training.gan_parts`) is compiled once, as for
any run; the generator and the discriminator are its two block nodes' sub-modules,
each with an optimizer of its own (``g_optimizer``/``g_lr`` and
``d_optimizer``/``d_lr``, falling back to ``optimizer``/``lr``). Every batch of real
samples is one step: the discriminator learns to score it as real and a batch of
generated samples (from fresh noise, the generator untouched) as fake; after every
``d_steps`` such steps the generator takes one step through the discriminator
(whose weights stay as they are) with the ``gan_loss`` setting's loss.

Like :class:`~layerloom.backend.training.trainer.Trainer` it runs in the calling
thread, reports through events (``started``, ``step`` with the discriminator's loss,
``gan`` with both losses and the discriminator's accuracy on real and fake, and
``gan_samples``, what the generator makes from fixed noise, ``epoch``, ``note``,
``finished`` or ``failed``), and honours pause, resume and stop between steps. A
discriminator that wins outright for :data:`~.gan_parts.COLLAPSE_STEPS` steps is
reported in a ``note`` with what to try (:class:`~.gan_parts.CollapseWatch`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import Dataset
from layerloom.backend.training.checks import describe_failure, resolve_device
from layerloom.backend.training.control import StepControl
from layerloom.backend.training.events import (
    Consumer,
    Epoch,
    Failed,
    Finished,
    Note,
    Paused,
    Resumed,
    Started,
    Step,
)
from layerloom.backend.training.gan_measures import class_spread, mode_coverage
from layerloom.backend.training.gan_parts import (
    CollapseWatch,
    GanError,
    GanProgress,
    GanSamples,
    check_data,
    discriminator_loss,
    find_networks,
    generator_loss,
    network_modules,
)
from layerloom.backend.training.optim import build_optimizer
from layerloom.backend.training.settings import TrainSettings
from layerloom.graph import Graph

IMAGE_SAMPLES = 64  # fixed-noise samples drawn as a grid ...
POINT_SAMPLES = 512  # ... or as points, for 2-D data
COVERAGE_SAMPLES = 2000  # generated points the mode coverage counts


def is_gan(training: dict[str, Any]) -> bool:
    """Whether a file's ``"training"`` section makes it a GAN project."""
    return isinstance(training, dict) and training.get("task") == "gan"


def network_settings(settings: TrainSettings, which: str) -> TrainSettings:
    """The settings of the generator (``"g"``) or discriminator (``"d"``) optimizer."""
    optimizer = getattr(settings, f"{which}_optimizer")
    lr = getattr(settings, f"{which}_lr")
    return settings.replace(optimizer=settings.optimizer if optimizer == "same" else optimizer,
                            lr=lr or settings.lr)


class GanTrainer(StepControl):
    """Trains the GAN project ``graph`` on the real samples of ``train``.

    Parameters
    ----------
    graph : Graph
        Laid out as :data:`~.gan_parts.LAYOUT`; copied.
    train : Dataset
        The real samples (their labels only serve the coverage measures).
    settings : TrainSettings
        With ``task`` ``"gan"``; ``epochs`` passes over ``train`` in batches of
        ``batch_size``.
    on_event : callable, optional
        Receives every event, in the training thread.
    min_step_interval : float
        Seconds at least between two ``step``/``gan`` reports (0: every step).
    sample_every : float
        Seconds at least between two ``gan_samples`` events during an epoch (0:
        one at the end of each epoch only, and one before the first step).
    """

    def __init__(self, graph: Graph, train: Dataset, settings: TrainSettings | None = None, *,
                 on_event: Consumer | None = None, min_step_interval: float = 0.0,
                 sample_every: float = 0.0):
        self.graph = graph.copy()
        self.train_data = train
        self.settings = settings or TrainSettings(task="gan")
        self.on_event = on_event
        self.min_step_interval = max(0.0, float(min_step_interval))
        self.sample_every = max(0.0, float(sample_every))
        self.model: torch.nn.Module | None = None
        self.device: torch.device | None = None
        self.state = "idle"
        self.epoch = 0  # epochs completed
        self.step = 0  # discriminator steps (one per real batch)
        self.g_steps = 0
        self.history: list[dict[str, Any]] = []
        self.collapse: str | None = None
        self.result: Finished | Failed | None = None
        self.exception: BaseException | None = None
        self._batch = 0
        self._init_control()
        self.world_size = 1

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    # ---------------------------------------------------------------- run
    def run(self) -> Finished | Failed:
        """Train until done, stopped or failed; returns the final event (never raises)."""
        self._t0 = time.perf_counter()
        if self.state != "idle":
            return self._end(Failed("this trainer has already run; start a new one"))
        self.state = "running"
        try:
            self._setup()
            reason = self._loop()
            self.state = "stopped" if reason == "stopped" else "finished"
            final = Finished(reason, self.final_metrics(), self.elapsed, self.epoch, self.step)
        except KeyboardInterrupt:
            self.state = "stopped"
            final = Finished("stopped", self.final_metrics(), self.elapsed, self.epoch, self.step)
        except Exception as exc:  # every failure becomes an event, never a traceback
            self.exception = exc
            self.state = "failed"
            final = Failed(describe_failure(exc, self), self.epoch + (1 if self._batch else 0), self.step)
        return self._end(final)

    def _end(self, final):
        self.result = final
        try:
            self._emit(final)
        except Exception:
            pass
        return final

    def _emit(self, event: Any) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _setup(self) -> None:
        s = self.settings
        self.nets = nets = find_networks(self.graph)
        check_data(nets, self.train_data)
        self.device = device = resolve_device(s.device)
        self.model = compile_graph(self.graph, seed=s.seed).to(device)
        self.generator, self.discriminator = network_modules(self.model, nets)
        self.g_params = [p for p in self.generator.parameters() if p.requires_grad]
        self.d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        if not self.g_params or not self.d_params:
            which = "generator" if not self.g_params else "discriminator"
            raise GanError(f"the {which} has no weights to learn; give it a layer with weights")
        self.g_settings, self.d_settings = network_settings(s, "g"), network_settings(s, "d")
        self.g_opt = build_optimizer(self.g_settings, self.g_params)
        self.d_opt = build_optimizer(self.d_settings, self.d_params)
        torch.manual_seed(s.seed)
        self._x = torch.as_tensor(np.ascontiguousarray(self.train_data.x), dtype=torch.float32).to(device)
        n = len(self._x)
        self._bs = min(s.batch_size or n, n)
        self.steps_per_epoch = math.ceil(n / self._bs)
        self.total_steps = s.epochs * self.steps_per_epoch
        self.order_gen = torch.Generator().manual_seed(s.seed)
        self.noise_gen = torch.Generator(device=device).manual_seed(s.seed + 1)
        points = nets.sample_shape == (2,)
        self.fixed_noise = self.noise((POINT_SAMPLES if points else IMAGE_SAMPLES),
                                      torch.Generator(device=device).manual_seed(s.seed + 2))
        self._real_points: tuple[float, ...] = ()
        labels = self.train_data.y
        self._coverage = points and self.train_data.task == "classification" and labels is not None
        if points:
            pick = np.random.default_rng(s.seed).permutation(n)[:POINT_SAMPLES]
            self._real_points = tuple(float(v) for v in np.asarray(self.train_data.x)[pick].ravel())
        self.collapse_watch = CollapseWatch()
        self._reset_report()
        self._last_samples = time.perf_counter()
        self._t0 = time.perf_counter()
        count = sum(p.numel() for p in self.model.parameters())
        notes = [f"GAN: generator {nets.generator!r} ({sum(p.numel() for p in self.g_params):,} "
                 f"weights) against discriminator {nets.discriminator!r} "
                 f"({sum(p.numel() for p in self.d_params):,}), {s.gan_loss} loss, {s.d_steps} "
                 f"discriminator step(s) per generator step"]
        self._emit(Started(steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                           epochs=s.epochs, device=str(device), parameter_count=count, train_size=n,
                           val_size=0, batch_size=self._bs, notes=tuple(notes)))
        self._emit(self.samples())

    def noise(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` noise vectors of the noise Input's shape, standard normal."""
        return torch.randn((count, *self.nets.noise_shape), generator=generator or self.noise_gen,
                           device=self.device)

    # --------------------------------------------------------------- steps
    def discriminator_step(self, real: torch.Tensor) -> tuple[float, float, float]:
        """One update of the discriminator; returns its loss and its accuracy on the
        real and on the generated batch."""
        with torch.no_grad():
            fake = self.generator(self.noise(len(real)))
        real_logits = self.discriminator(real).reshape(-1)
        fake_logits = self.discriminator(fake).reshape(-1)
        loss = discriminator_loss(real_logits, fake_logits)
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        self._clip(self.d_params)
        self.d_opt.step()
        real_acc = (real_logits > 0).float().mean().item()
        fake_acc = (fake_logits < 0).float().mean().item()
        return float(loss.item()), real_acc, fake_acc

    def generator_step(self, count: int) -> float:
        """One update of the generator through the discriminator, whose weights
        get no gradient and do not change."""
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            logits = self.discriminator(self.generator(self.noise(count))).reshape(-1)
            loss = generator_loss(logits, self.settings.gan_loss)
            self.g_opt.zero_grad(set_to_none=True)
            loss.backward()
            self._clip(self.g_params)
            self.g_opt.step()
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        self.g_steps += 1
        return float(loss.item())

    def _clip(self, params) -> None:
        if self.settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.settings.grad_clip)

    # ---------------------------------------------------------------- loop
    def _loop(self) -> str:
        s = self.settings
        while self.epoch < s.epochs:
            perm = torch.randperm(len(self._x), generator=self.order_gen).to(self.device)
            sums = np.zeros(5)  # d_loss, g_loss, real acc, fake acc, generator steps
            self._batch = 0
            for b in range(self.steps_per_epoch):
                if not self._control():
                    return "stopped"
                real = self._x[perm[b * self._bs:(b + 1) * self._bs]]
                d_loss, real_acc, fake_acc = self.discriminator_step(real)
                if not math.isfinite(d_loss):
                    raise _diverged("discriminator", self.step + 1)
                self.step += 1
                self._batch = b + 1
                g_loss = math.nan
                if self.step % s.d_steps == 0:
                    g_loss = self.generator_step(len(real))
                    if not math.isfinite(g_loss):
                        raise _diverged("generator", self.step)
                    sums[1] += g_loss
                    sums[4] += 1
                sums[[0, 2, 3]] += (d_loss, real_acc, fake_acc)
                self._report(d_loss, g_loss, real_acc, fake_acc, len(real))
                note = self.collapse_watch.update(d_loss, self.step, s.gan_loss)
                if note:
                    self.collapse = note
                    self._emit(Note(self.step, note))
            self.epoch += 1
            self._flush_report()
            steps = self.steps_per_epoch
            metrics = {"d_loss": sums[0] / steps, "g_loss": sums[1] / max(sums[4], 1),
                       "real_accuracy": sums[2] / steps, "fake_accuracy": sums[3] / steps}
            metrics.update(self.coverage())
            metrics = {k: float(v) for k, v in metrics.items()}
            self.history.append({"epoch": self.epoch, "step": self.step, "train": metrics})
            self._emit(Epoch(self.epoch, self.step, metrics, None, self.d_opt.param_groups[0]["lr"],
                             self.elapsed))
            self._emit(self.samples())
        return "completed"

    def _control(self) -> bool:
        """Between steps: apply a new rate, wait while paused; False to stop."""
        lr = self._take_lr()
        if lr is not None:
            for opt in (self.g_opt, self.d_opt):
                for group in opt.param_groups:
                    group["lr"] = lr
        if not self._go.is_set() and not self._stop.is_set():
            self._flush_report()
            self.state = "paused"
            self._emit(Paused(self.step))
            paused_at = time.perf_counter()
            self._go.wait()
            self._t0 += time.perf_counter() - paused_at
            self.state = "running"
            if not self._stop.is_set():
                self._emit(Resumed(self.step, self.d_opt.param_groups[0]["lr"]))
        if self._stop.is_set():
            self._flush_report()
            return False
        if self.sample_every and time.perf_counter() - self._last_samples >= self.sample_every:
            self._emit(self.samples())
        return True

    # ------------------------------------------------------------- reports
    def _reset_report(self) -> None:
        self._rep = np.zeros(6)  # d_loss, g_loss, real acc, fake acc, steps, g steps
        self._rep_samples = 0
        self._rep_t0 = self._last_report = time.perf_counter()

    def _report(self, d_loss, g_loss, real_acc, fake_acc, batch: int) -> None:
        rep = self._rep
        rep[[0, 2, 3, 4]] += (d_loss, real_acc, fake_acc, 1)
        if math.isfinite(g_loss):
            rep[1] += g_loss
            rep[5] += 1
        self._rep_samples += batch
        if time.perf_counter() - self._last_report >= self.min_step_interval:
            self._flush_report()

    def _flush_report(self) -> None:
        rep, steps = self._rep, int(self._rep[4])
        if not steps:
            return
        now = time.perf_counter()
        epoch = self.epoch + (1 if self._batch and self._batch < self.steps_per_epoch else 0)
        epoch = max(epoch, 1)
        rate = self._rep_samples / max(now - self._rep_t0, 1e-9)
        g_loss = rep[1] / rep[5] if rep[5] else math.nan
        self._emit(Step(epoch, self.step, rep[0] / steps, self.d_opt.param_groups[0]["lr"], rate, steps))
        self._emit(GanProgress(epoch, self.step, rep[0] / steps, float(g_loss), rep[2] / steps,
                               rep[3] / steps, self.step, self.g_steps))
        self._reset_report()

    # ------------------------------------------------------------ samples
    @torch.no_grad()
    def generate(self, noise: torch.Tensor) -> np.ndarray:
        """What the generator makes from ``noise``, in eval mode, as NumPy."""
        was = self.generator.training
        self.generator.eval()
        try:
            return self.generator(noise).float().cpu().numpy()
        finally:
            self.generator.train(was)

    def samples(self) -> GanSamples:
        """The ``gan_samples`` event of the fixed noise, now."""
        self._last_samples = time.perf_counter()
        made = self.generate(self.fixed_noise)
        return GanSamples(self.epoch, self.step, tuple(self.nets.sample_shape), len(made),
                          tuple(float(v) for v in made.ravel()), self._real_points)

    def coverage(self) -> dict[str, float]:
        """``modes_covered`` and ``good_share`` for labelled 2-D data (else nothing)."""
        if not self._coverage:
            return {}
        gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 3)
        made = self.generate(self.noise(COVERAGE_SAMPLES, gen))
        found = mode_coverage(made, self.train_data.x, self.train_data.y)
        return {"modes_covered": float(found.covered), "good_share": found.good_share}

    def class_spread(self, count: int = 1000) -> dict[str, float]:
        """For labelled image data: ``classes_covered`` and ``confident_share`` of
        ``count`` generated samples, by a classifier trained on the real ones."""
        data = self.train_data
        if self.model is None or data.task != "classification" or self.nets.sample_shape == (2,):
            return {}
        gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 4)
        found = class_spread(self.generate(self.noise(count, gen)), data.x, data.y)
        return {"classes_covered": float(found.covered), "confident_share": found.confident_share,
                "classifier_accuracy": found.real_accuracy}

    def final_metrics(self) -> dict[str, float]:
        return dict(self.history[-1]["train"]) if self.history else {}


def _diverged(which: str, step: int) -> Exception:
    from layerloom.backend.training.checks import TrainingError

    return TrainingError(f"the {which}'s loss became NaN or infinite at step {step}: lower the "
                         "learning rates (g_lr, d_lr) or set a gradient clip")
