"""What a finished ``layerloom train`` run leaves behind: ``model.safetensors`` (and
the best epoch's weights), ``metrics.json``, the summary lines, the run kept beside
the graph (``NAME.runs/run-NNN``) and, for a VAE with a 2-D code, ``latent_grid.png``.
"""

from __future__ import annotations

import json
import sys

from layerloom.backend.cli import CommandError, finetune
from layerloom.backend.cli.prepare import Prepared
from layerloom.graph.fileio import describe_write_error, write_atomic

EXIT_STOPPED = 130


def _write_outputs(args, p: Prepared, trainer, final, extra: dict | None = None, history=None) -> int:
    """Write the model and metrics.json, print the summary; returns the exit status."""
    from layerloom.backend.export import save_weights
    from layerloom.backend.text_generation import vocabulary_metadata

    graph, settings, data, out = p.graph, p.settings, p.data, p.out
    test = trainer.evaluate(data.test) if data.test is not None and final.reason != "stopped" else None
    meta = {"layerloom.normalisation": json.dumps(data.normalisation.to_dict()),
            **vocabulary_metadata(data.train.vocabulary)}
    model_path = save_weights(graph, trainer.model, out / "model.safetensors", meta).path
    best_path = finetune.write_best(p, trainer, meta)
    report = {
        "graph": str(args.file),
        "dataset": p.data_settings.to_dict(),
        "device": str(trainer.device),
        "settings": settings.to_dict(),
        "epochs": trainer.history,
        "final": final.metrics,
        "test": test,
        "stop_reason": final.reason,
        "steps": final.steps,
        "wall_time": round(final.wall_time, 4),
        "normalisation": data.normalisation.to_dict(),
        "processes": trainer.world_size,
        "best": final.best or None,
        **(extra or {}),
    }
    metrics_path = out / "metrics.json"
    try:
        write_atomic(metrics_path, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise CommandError(describe_write_error(exc, str(metrics_path))) from None
    values = ", ".join(f"{k} {v:.4g}" for k, v in final.metrics.items())
    where = f"{trainer.world_size} processes ({trainer.device.type})" if trainer.world_size > 1 \
        else str(trainer.device)
    print(f"{final.reason} after {final.epochs} epoch(s), {final.steps} steps in "
          f"{final.wall_time:.1f} s on {where}: {values or 'no metrics yet'}", flush=True)
    if test:
        print("test: " + ", ".join(f"{k} {v:.4g}" for k, v in test.items()))
    if final.best:
        print(f"kept the weights of epoch {final.best['epoch']} (best {final.best['metric']} "
              f"{final.best['value']:.4g}) in {model_path.name}"
              + (f" and {best_path.name}" if best_path else ""))
    print(f"wrote {model_path}, {metrics_path}{', ' + str(best_path) if best_path else ''} "
          f"and {out / 'checkpoint'}")
    _record_run(args, p, history, trainer, meta, test, final.best)
    _write_latent_grid(graph, trainer.model, out)
    if final.reason == "stopped":
        print(f"stopped: continue with --resume {out / 'checkpoint'}", file=sys.stderr)
        return EXIT_STOPPED
    return 0


def _record_run(args, p: Prepared, history, trainer, metadata: dict | None, test=None,
                best: dict | None = None) -> None:
    """Keep the run beside the graph (``NAME.runs/run-NNN``) unless ``--no-record``;
    a run that cannot be kept says why on stderr without failing the command (its
    outputs are written already)."""
    from layerloom.backend.runs import NewRun, RunsError, write_run
    from layerloom.backend.runs.history import recorder_curves

    if getattr(args, "no_record", False) or history is None:
        return
    new = NewRun(p.graph, p.settings.to_dict(), p.data_settings.to_dict(), history.status, "cli",
                 history.failure or "", history.final, test, history.steps, history.epochs,
                 history.wall_time, str(trainer.device), recorder_curves(history),
                 best=dict(best or {}))
    model = trainer.model if metadata is not None else None
    try:
        stored = write_run(args.file, new, model, metadata)
    except RunsError as exc:
        print(f"warning: the run is not kept with the graph: {exc}", file=sys.stderr)
        return
    print(f"kept as {stored.id} in {stored.folder.parent} (layerloom runs {args.file})")


def _write_latent_grid(graph, model, out) -> None:
    """A VAE with a 2-D code: its latent space as a grid of decoded samples."""
    from layerloom.backend.generative import LatentError, write_latent_grid

    try:
        path = write_latent_grid(graph, model, out / "latent_grid.png")
    except (LatentError, OSError) as exc:
        print(f"note: no latent grid: {exc}", file=sys.stderr)
        return
    if path is not None:
        print(f"wrote {path} (the latent space: decoded codes from -2 to 2 on both axes)")
