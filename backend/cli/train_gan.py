"""``layerloom train FILE`` for a GAN project (``"task": "gan"``, or ``--task gan``).

The same command and options as any run (:mod:`layerloom.backend.cli.train`); the
run trains the generator and the discriminator in turns
(:class:`~layerloom.backend.training.gan.GanTrainer`) in one process and writes into
``--out``:

``samples/epoch_000.png`` ...
    What the generator makes from the run's fixed noise before training and after
    each epoch: a grid of images, or for 2-D data its points (orange) over real
    ones (grey).
``model.safetensors``
    Both networks' weights with the graph; ``layerloom export model.safetensors
    --network generator -o generator.onnx`` writes the generator alone.
``metrics.json``
    Per-epoch losses and the discriminator's accuracy on real and generated
    samples, the coverage measures, and a collapse, if the run had one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from layerloom.backend.cli import EXIT_INVALID, CommandError

SAMPLES = "samples"


def is_gan_run(args) -> bool:
    """Whether ``args`` train a GAN project: ``--task gan``, or the file says so
    (read as plain data; a file that cannot be read is left to the usual path,
    which reports it)."""
    task = getattr(args, "task", None)
    if task is not None:
        return task == "gan"
    from layerloom.graph.fileformat import parse

    try:
        data = parse(Path(args.file).read_bytes(), str(args.file))
    except Exception:
        return False
    training = data.get("training") if isinstance(data, dict) else None
    return isinstance(training, dict) and training.get("task") == "gan"


def check(args) -> None:
    """Refuse what a GAN run cannot do, and a graph whose networks do not meet,
    naming the shapes, before the data loads; raises :class:`CommandError`."""
    from layerloom.backend.training.gan_parts import GanError, find_networks
    from layerloom.graph import GraphFileError, load_graph

    if args.resume:
        raise CommandError("--resume: GAN runs do not write checkpoints yet; start a new run")
    if (args.nproc or 1) > 1:
        raise CommandError(f"--nproc {args.nproc}: a GAN project trains in one process")
    try:
        find_networks(load_graph(args.file))
    except GraphFileError as exc:
        raise CommandError(str(exc)) from None
    except GanError as exc:
        raise CommandError(f"{args.file}: {exc}", EXIT_INVALID) from None


def make_trainer(args, prepared, events, report_every: float):
    """The trainer of the prepared run (``layerloom train``'s ``Prepared``), its
    events going to ``events`` through a :class:`SampleWriter`."""
    from layerloom.backend.training.gan import GanTrainer
    from layerloom.backend.training.gan_parts import GanError, check_data, find_networks

    settings = prepared.settings.replace(task="gan")
    try:
        check_data(find_networks(prepared.graph), prepared.data.train)
    except GanError as exc:
        raise CommandError(f"{args.file}: {exc}", EXIT_INVALID) from None
    if settings.processes > 1:
        print(f"note: processes {settings.processes} ignored: a GAN trains in one process",
              file=sys.stderr)
    samples = prepared.out / SAMPLES
    samples.mkdir(parents=True, exist_ok=True)
    writer = SampleWriter(samples, events)
    trainer = GanTrainer(prepared.graph, prepared.data.train, settings, on_event=writer,
                         min_step_interval=report_every)
    return trainer, writer


def finish(args, prepared, trainer, final, writer) -> int:
    """After the run: the outputs, or the reason it failed."""
    if writer.error:
        raise CommandError(writer.error)
    if final.kind == "failed":
        raise CommandError(final.message, EXIT_INVALID)
    return _write_outputs(args, prepared, trainer, final, writer)


class SampleWriter:
    """Passes every event on, and writes each ``gan_samples`` event as a PNG."""

    def __init__(self, folder: Path, events):
        self.folder = folder
        self.events = events
        self.written: list[Path] = []
        self.error: str | None = None

    def __call__(self, event) -> None:
        if event.kind == "gan_samples":
            from layerloom.backend.training.gan_images import sample_picture, write_png

            path = self.folder / f"epoch_{event.epoch:03d}.png"
            try:
                self.written.append(write_png(sample_picture(event), path))
            except OSError as exc:
                self.error = f"cannot write {path}: {exc.strerror or exc}"
                raise
            return
        if event.kind == "gan":
            return  # the progress bar shows the step events; metrics.json the epochs
        self.events(event)


def _write_outputs(args, p, trainer, final, writer: SampleWriter) -> int:
    from layerloom.backend.export import save_weights
    from layerloom.graph.fileio import describe_write_error, write_atomic

    out = p.out
    measures = trainer.class_spread() if final.reason != "stopped" else {}
    meta = {"layerloom.normalisation": json.dumps(p.data.normalisation.to_dict())}
    model_path = save_weights(p.graph, trainer.model.cpu(), out / "model.safetensors", meta).path
    report = {
        "graph": str(args.file), "task": "gan", "dataset": p.data_settings.to_dict(),
        "device": str(trainer.device), "settings": trainer.settings.to_dict(),
        "epochs": trainer.history, "final": {**final.metrics, **measures},
        "generator_steps": trainer.g_steps, "discriminator_steps": trainer.step,
        "collapse": trainer.collapse, "stop_reason": final.reason, "steps": final.steps,
        "wall_time": round(final.wall_time, 4), "samples": [str(w) for w in writer.written],
        "normalisation": p.data.normalisation.to_dict(),
    }
    metrics_path = out / "metrics.json"
    try:
        write_atomic(metrics_path, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise CommandError(describe_write_error(exc, str(metrics_path))) from None
    values = ", ".join(f"{k} {v:.4g}" for k, v in {**final.metrics, **measures}.items())
    print(f"{final.reason} after {final.epochs} epoch(s), {trainer.step} discriminator and "
          f"{trainer.g_steps} generator steps in {final.wall_time:.1f} s on {trainer.device}: "
          f"{values or 'no metrics yet'}", flush=True)
    if trainer.collapse:
        print(f"warning: {trainer.collapse}", file=sys.stderr)
    print(f"wrote {model_path}, {metrics_path} and {len(writer.written)} sample pictures in "
          f"{writer.folder}")
    return 130 if final.reason == "stopped" else 0
