"""Write the README screenshots of the Saliency, Landscape and Embedding tabs.

Usage::

    QT_QPA_PLATFORM=offscreen python -m benchmarks.inspect_screenshots [OUT_DIR]

Trains ``cnn_digits`` (3 epochs), ``mlp_two_moons``, ``single_neuron_line`` and ``word_embeddings`` headless with
their own settings (recording the training path), hands each run to the real views as
the dock would, and grabs them at a fixed size.
"""

from __future__ import annotations

import sys
from pathlib import Path

from layerloom.resources import SCREENSHOTS, resource_path

SIZE = (760, 520)


def trained_run(name: str, epochs: int | None = None):
    from layerloom.backend.templates import load_template
    from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data
    from layerloom.gui.training.runs.run_record import Run, graph_signature

    graph = load_template(name)
    settings = TrainSettings.from_dict(graph.training).replace(device="cpu")
    if epochs:
        settings = settings.replace(epochs=epochs)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    trainer = Trainer(graph, data.train, data.val, settings, record_path=True)
    trainer.run()
    run = Run(1, graph, settings.to_dict(), dict(graph.dataset), graph_signature(graph), "#2563eb",
              status="finished")
    run.model = trainer.model.cpu().eval()
    run.val, run.normalisation = data.val, data.normalisation
    run.train_sample = data.train.subset(range(min(len(data.train), 1024)))
    run.weight_path = trainer.weight_path
    return run


def grab(app, view, path: Path) -> None:
    from PySide6.QtGui import QImage

    view.resize(*SIZE)
    view.show()
    for _ in range(10):
        app.processEvents()
    view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32).save(str(path), "PNG", 9)
    print(f"wrote {path}")


def settle(app, view) -> None:
    """Wait for the Saliency tab's background calls to end and be drawn."""
    while view.job is not None or view._pending:
        if view.job is not None:
            view.job.wait()
        app.processEvents()


def landscape(app, run, grid: int, directions: str, path: Path) -> None:
    from layerloom.gui.training.views.landscape_view import LandscapeView

    view = LandscapeView()
    view.set_run(run)
    view.grid.setValue(grid)
    view.directions.setCurrentIndex(view.directions.findData(directions))
    job = view.compute()
    job.wait()
    for _ in range(10):
        app.processEvents()
    grab(app, view, path)


def main(argv: list[str]) -> int:
    from PySide6.QtWidgets import QApplication

    from layerloom.gui.training.views.saliency_view import SaliencyView

    out = Path(argv[0]) if argv else resource_path(SCREENSHOTS)
    app = QApplication.instance() or QApplication([])
    cnn = trained_run("cnn_digits", epochs=3)
    view = SaliencyView()
    view.set_run(cnn)
    view.sample.setValue(7)
    settle(app, view)
    grab(app, view, out / "inspect_saliency.png")
    view.method.setCurrentText("Grad-CAM")
    settle(app, view)
    grab(app, view, out / "inspect_gradcam.png")
    landscape(app, trained_run("single_neuron_line"), 41, "auto", out / "inspect_landscape_neuron.png")
    landscape(app, trained_run("mlp_two_moons", epochs=10), 25, "pca", out / "inspect_landscape_mlp.png")
    from layerloom.gui.training.views.embedding_view import EmbeddingView

    view = EmbeddingView()
    view.set_run(trained_run("word_embeddings"))
    grab(app, view, out / "inspect_embedding.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
