"""Every failure ends in one `failed` event with a clear message; nothing escapes run()."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import Dataset, load_dataset
from layerloom.backend.training import EventQueue, Trainer, TrainSettings
from layerloom.graph import Graph
from tests.graph.helpers import chain


def graph_of(*layers) -> Graph:
    g = Graph()
    chain(g, *layers)
    return g


def mlp(inputs=2, classes=2, dtype="float") -> Graph:
    return graph_of(("input", {"shape": [inputs], "dtype": dtype}),
                    ("dense", {"units": 8, "activation": "relu"}), ("dense", {"units": classes}), "output")


def fail(graph, data, val=None, model=None, **settings):
    events = EventQueue()
    trainer = Trainer(graph, data, val, TrainSettings(**settings), on_event=events, model=model)
    final = trainer.run()  # must not raise
    received = events.drain()
    assert final.kind == "failed", final
    assert received[-1] is final and [e.kind for e in received].count("failed") == 1
    return trainer, final


def test_nan_loss_names_the_step_and_suggests_a_lower_rate():
    data = load_dataset("diabetes")
    data = replace(data, y=data.y * 1e4)
    graph = graph_of(("input", {"shape": [10]}), ("dense", {"units": 1}), "output")
    trainer, final = fail(graph, data, optimizer="sgd", lr=10.0, batch_size=32, epochs=50)
    step = trainer.step
    assert f"at step {step}" in final.message
    assert "Lower the learning rate (now 10; try 1)" in final.message
    assert trainer.model is not None and trainer.step > 1  # the run's state is kept
    assert final.step == step


def test_input_shape_mismatch_quotes_both_shapes_before_the_first_step():
    trainer, final = fail(mlp(inputs=4), load_dataset("moons", n_samples=50))
    assert final.message == (
        "the dataset 'moons' gives samples of shape (2,) but the Input node 'input_1' expects (4,); "
        "set the Input node's shape to (2,)"
    )
    assert trainer.step == 0


def test_input_dtype_mismatch():
    _, final = fail(graph_of(("input", {"shape": [10]}), ("dense", {"units": 10}), "output"),
                    load_dataset("copy", n_samples=50))
    assert "gives token ids (long)" in final.message and "expects float features" in final.message
    assert "set its dtype to long" in final.message


def test_output_shape_mismatch_names_classes_and_fix():
    _, final = fail(mlp(classes=3), load_dataset("moons", n_samples=50))
    assert "outputs (3,) per sample" in final.message and "2 classes" in final.message
    assert "set the last layer's units to 2" in final.message


def test_sequence_output_mismatch():
    g = graph_of(("input", {"shape": [10], "dtype": "long"}),
                 ("embedding", {"num_embeddings": 10, "embedding_dim": 4}), "flatten",
                 ("dense", {"units": 10}), "output")
    _, final = fail(g, load_dataset("copy", n_samples=50))
    assert "outputs (10,) per sample" in final.message and "(10, 10)" in final.message


def test_regression_target_mismatch():
    g = graph_of(("input", {"shape": [10]}), ("dense", {"units": 3}), "output")
    _, final = fail(g, load_dataset("diabetes"))
    assert "outputs (3,)" in final.message and "targets are (1,)" in final.message


def test_label_outside_the_classes_is_found_before_training():
    data = load_dataset("moons", n_samples=50)
    data.y[17] = 5  # corrupt after the dataset's own checks
    trainer, final = fail(mlp(), data)
    assert "label 5 (sample 17 of 'moons') is outside the 2 classes 0..1" in final.message
    assert trainer.step == 0


def test_non_finite_inputs_are_found_before_training():
    data = load_dataset("moons", n_samples=50)
    data.x[3, 1] = np.nan
    _, final = fail(mlp(), data)
    assert "NaN or infinite" in final.message and "sample 3" in final.message


def test_cross_entropy_on_regression_says_what_to_use():
    g = graph_of(("input", {"shape": [10]}), ("dense", {"units": 1}), "output")
    _, final = fail(g, load_dataset("diabetes"), loss="cross_entropy")
    assert "regression" in final.message and "mse, l1 or huber" in final.message


def test_monitor_not_measured_for_the_task():
    g = graph_of(("input", {"shape": [10]}), ("dense", {"units": 1}), "output")
    _, final = fail(g, load_dataset("diabetes"), early_stopping=True, monitor="val_accuracy")
    assert "'val_accuracy' is not measured for a regression task" in final.message


def test_invalid_graph_lists_node_errors():
    g = graph_of(("input", {"shape": [2]}), ("conv2d", {}), "output")
    _, final = fail(g, load_dataset("moons", n_samples=50))
    assert final.message.startswith("the graph has 1 error(s):") and "conv2d_1" in final.message


def test_two_inputs_are_refused():
    g = mlp()
    g.add_node("input", {"shape": [2]})
    _, final = fail(g, load_dataset("moons", n_samples=50))
    assert "one Input and one Output" in final.message and "2 Input(s)" in final.message


def test_unavailable_device_is_named():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    _, final = fail(mlp(), load_dataset("moons", n_samples=50), device="cuda")
    assert "no CUDA GPU is available" in final.message and "use device cpu or auto" in final.message


def test_out_of_memory_becomes_a_clear_failure(monkeypatch):
    graph = mlp()
    model = compile_graph(graph, seed=0)

    def exhausted(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(model, "forward", exhausted)
    trainer, final = fail(graph, load_dataset("moons", n_samples=50), model=model, batch_size=16)
    assert "out of memory" in final.message and "batch size 16" in final.message
    assert "lower the batch size" in final.message


def test_error_inside_a_step_names_where():
    graph = mlp()
    model = compile_graph(graph, seed=0)
    calls = []

    def breaks_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 2x8)")
        return type(model).forward(model, *args)

    model.forward = breaks_on_third
    trainer, final = fail(graph, load_dataset("moons", n_samples=40), model=model, batch_size=10)
    assert "at epoch 1, step 3" in final.message and "mat1 and mat2" in final.message
    assert trainer.step == 2


def test_consumer_errors_end_the_run():
    def broken(event):
        if event.kind == "epoch":
            raise ValueError("plot exploded")

    trainer = Trainer(mlp(), load_dataset("moons", n_samples=40), settings=TrainSettings(epochs=3),
                      on_event=broken)
    final = trainer.run()
    assert final.kind == "failed" and "plot exploded" in final.message
    assert len(trainer.history) == 1  # stopped at the first epoch event


def test_empty_training_set():
    data = load_dataset("moons", n_samples=50).subset([])
    _, final = fail(mlp(), data)
    assert "empty" in final.message


def test_dataset_built_by_hand_with_wrong_width():
    data = Dataset("table", np.zeros((8, 3), np.float32), np.zeros(8, np.int64), "classification",
                   (3,), "float", (), 2, None, "")
    _, final = fail(mlp(), data)
    assert "(3,)" in final.message and "(2,)" in final.message
