"""The nested-blocks case of ``benchmarks/editor_scale.py`` builds and runs at a
small size (its timings are the benchmark's business, never asserted here)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from benchmarks.block_graphs import expanded_size, gpt_graph
from benchmarks.editor_scale import blocks_case
from tests.gui.test_window_helpers import make_window


def test_gpt_graph_nests_blocks_and_expands():
    g = gpt_graph((2, 3), width=8, seq=6, hidden=16)
    assert g.blocks.names() == ["mlp", "attention", "layer", "stage"]
    assert [n.id for n in g.nodes if n.is_block] == ["stage1", "stage2"]
    analysis = g.analysis()
    assert analysis.valid, analysis.errors
    assert analysis.nodes["stage2"].inputs["x"].shape == (4, 8)  # the Slice keeps two fewer positions
    # a layer: its Input, two Adds, Output; attention's 8 nodes; mlp's 6 (ports included)
    layer = 4 + 8 + 6
    # the top level's Input, Slice, Dense, Output; each stage's two ports and its layers
    assert expanded_size(g) == 4 + (2 + 2 * layer) + (2 + 3 * layer)
    assert expanded_size(gpt_graph()) == 3014


def test_blocks_case_runs_in_the_window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    before = gpt_graph((2, 1)).analysis().total_params
    times = blocks_case(QApplication.instance(), window, tmp_path, 2, depths=(2, 1))
    assert times["nodes"] == 6 and times["expanded"] == 4 + (2 + 2 * 18) + (2 + 1 * 18)
    assert set(times) >= {"open", "infer", "median", "worst"}
    assert window.navigator.path == []  # back at the top level for the Input edits
    hidden = next(n for n in window.graph.blocks["mlp"].body.nodes if n.type == "dense")
    assert hidden.params["units"] == 256  # the second of two edits inside, each one undo step
    assert window.graph.nodes[0].params["shape"] == (66, 64)  # 64, then 65 and 66
    for _ in range(2):
        window.undo_stack.undo()
    assert window.graph.nodes[0].params["shape"] == (64, 64)
    assert window.graph.analysis().total_params == before  # 256 is where it started
    window.undo_stack.undo()
    assert window.graph.blocks["mlp"].body.node(hidden.id).params["units"] == 192
    assert window.graph.analysis().total_params < before  # every instance follows the undo
