"""Try it on a model of text: tokens shown as text, and a prompt the model continues."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from layerloom.backend.datasets.text_corpus import VOCABULARY
from layerloom.backend.templates import load_template
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def trained_gpt(qtbot):
    """The gpt_chars template trained for a few steps in the dock."""
    graph = load_template("gpt_chars")
    graph.set_settings("dataset", {**graph.dataset, "options": {"length": 32, "n_samples": 160, "seed": 0}})
    graph.set_settings("training", {**graph.training, "epochs": 1, "device": "cpu"})
    host = make_host(qtbot, graph)
    run = host.dock.start()
    wait_for(qtbot, lambda: not host.dock.running, timeout=120)
    assert run.status == "finished" and run.model is not None, run.message
    return host, run


def test_try_it_shows_text_and_generates_from_a_prompt(trained_gpt, qtbot):
    host, run = trained_gpt
    dock = host.dock
    panel = dock.try_it
    dock.tabs.setCurrentWidget(panel)
    assert panel.ready and panel.vocabulary == VOCABULARY
    assert panel.output_stack.currentWidget() is panel.generator
    result = panel.try_sample(0)
    assert result["predicted"].shape == (32,)
    assert panel.text.text().startswith("text: '") and "characters right" in panel.verdict.text()

    gen = panel.generator
    assert gen.button.isEnabled()
    gen.prompt.clear()
    qtbot.keyClicks(gen.prompt, "the dog ")
    gen.length.setValue(60)
    gen.temperature.setValue(0.0)
    qtbot.mouseClick(gen.button, Qt.MouseButton.LeftButton)
    assert gen.busy and not gen.button.isEnabled()
    wait_for(qtbot, lambda: not gen.busy, timeout=60)
    assert gen.error is None and gen.button.isEnabled()
    text = gen.result["text"]
    assert len(text) == 60 and set(text) <= set(VOCABULARY)
    assert gen.output.toPlainText() == "the dog " + text
    assert "Generated 60 characters" in gen.status.text()
    host.grab().save("/tmp/layerloom_try_it_text.png")

    # Enter in the prompt generates again; greedy text does not change with the seed
    gen.seed.setValue(5)
    qtbot.keyClick(gen.prompt, Qt.Key.Key_Return)
    wait_for(qtbot, lambda: not gen.busy, timeout=60)
    assert gen.result["text"] == text and gen.result["seed"] == 5

    # a character the model does not know is refused with a message; the old text stays
    gen.prompt.setText("The dog")
    qtbot.mouseClick(gen.button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: not gen.busy, timeout=60)
    assert "does not know: 'T'" in gen.error and "Cannot generate" in gen.status.text()
    assert gen.output.toPlainText() == "the dog " + text


def test_saved_weights_keep_the_characters_and_reopen_ready_to_generate(trained_gpt, qtbot, tmp_path):
    from layerloom.gui.training.runs.model_files import open_trained

    host, run = trained_gpt
    path = host.dock.save_weights(str(tmp_path / "gpt.safetensors"))
    assert path is not None and open_trained(path).vocabulary == VOCABULARY
    opened = host.dock.open_weights(str(path))
    wait_for(qtbot, lambda: opened.val is not None, timeout=30)
    panel = host.dock.try_it
    assert panel.run is opened and panel.output_stack.currentWidget() is panel.generator
    assert panel.generator.model is opened.model and panel.generator.button.isEnabled()


def test_try_it_keeps_the_probability_view_for_other_data(qtbot):
    host = make_host(qtbot)
    host.graph.set_settings("training", {"epochs": 1, "batch_size": 16, "lr": 0.02, "device": "cpu"})
    run = host.dock.start()
    wait_for(qtbot, lambda: not host.dock.running)
    panel = host.dock.try_it
    assert run.model is not None and panel.vocabulary is None
    assert panel.output_stack.currentWidget() is panel.plots
    assert not panel.generator.button.isEnabled() and panel.generator.generate() is None


def test_the_template_opens_and_its_block_shows_the_causal_attention(qtbot, tmp_path):
    from tests.gui.test_blocks_gui import double_click, key, load
    from tests.gui.test_window_helpers import make_window

    window = make_window(qtbot, tmp_path)
    window.activateWindow()
    qtbot.waitActive(window)
    load(window, load_template("gpt_chars"))
    (block,) = [n.id for n in window.graph.nodes if n.is_block]
    window.view.centerOn(window.scene.node_item(block).sceneBoundingRect().center())
    qtbot.wait(20)
    double_click(window, block)
    body = window.graph.blocks["gpt_block"].body
    assert window.scene.graph is body and window.breadcrumb.texts() == ["Graph", "gpt_block"]
    assert window.scene.node_item("attention") is not None and body.node("attention").params["causal"]
    window.view.set_zoom(1.0)
    window.view.centerOn(window.scene.node_item("attention").sceneBoundingRect().center())
    qtbot.wait(20)
    window.grab().save("/tmp/layerloom_gpt_block.png")
    key(window, Qt.Key.Key_Escape)
    assert window.scene.graph is window.graph
