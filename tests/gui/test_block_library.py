"""Built-in and library blocks in the app: palette, quick-add, drop, undo, save, delete."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerloom.graph import Graph, make_block
from layerloom.graph.block_store import library_blocks, save_block, user_blocks_dir
from layerloom.gui.block_catalog import catalog
from tests.graph.helpers import chain
from tests.gui.test_canvas import drop, layer_mime
from tests.gui.test_window_helpers import make_window


def window_with_library(qtbot, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    monkeypatch.setenv("LAYERLOOM_BLOCKS_DIR", str(lib))
    return make_window(qtbot, tmp_path), lib


def test_palette_lists_built_ins_under_blocks_and_the_library_under_my_blocks(qtbot, tmp_path, monkeypatch):
    g = Graph()
    _, a, b, _ = chain(g, ("input", {"shape": [4]}), "relu", "tanh", "output")
    make_block(g, [a, b], "squash")
    lib = tmp_path / "lib"
    save_block(g, "squash", lib)
    (lib / "hostile.loom").write_text('{"format": "layerloom.graph", "format_version": 2, "nodes": 7}')
    window, _ = window_with_library(qtbot, tmp_path, monkeypatch)
    palette = window.layer_palette
    blocks = palette.category_item("Blocks")
    mine = palette.category_item("My blocks")
    assert {blocks.child(i).text(0) for i in range(blocks.childCount())} >= {"residual_basic", "unet_up"}
    assert [mine.child(i).text(0) for i in range(mine.childCount())] == ["squash"]
    assert any("hostile.loom" in w for w in catalog().warnings)
    assert "skipped block file hostile.loom" in window.statusBar().currentMessage()
    palette.search.setText("residual")
    shown = palette.visible_type_ids()
    assert "block:residual_basic" in shown and "block:inverted_residual" in shown
    palette.search.setText("squash")
    assert palette.visible_type_ids()[0] == "block:squash"  # its name starts so; layers match by keyword
    window.grab().save(str(tmp_path / "palette.png"))


def test_enter_on_the_entry_inserts_with_its_definitions_and_undo_removes_both(qtbot, tmp_path, monkeypatch):
    window, _ = window_with_library(qtbot, tmp_path, monkeypatch)
    palette = window.layer_palette
    palette.search.setText("transformer")
    palette.tree.setFocus()
    palette.tree.setCurrentItem(palette.item_for("block:transformer_encoder"))
    QTest.keyClick(palette.tree, Qt.Key.Key_Return)
    graph = window.graph
    assert [n.type for n in graph.nodes] == ["block"]
    assert graph.blocks.names() == ["transformer_encoder"]
    assert window.scene.selected_node_ids() == [graph.nodes[0].id]
    window.undo_stack.undo()
    assert len(graph) == 0 and graph.blocks.names() == []
    window.undo_stack.redo()
    assert graph.blocks.names() == ["transformer_encoder"] and len(graph) == 1


def test_drop_and_quick_add_insert_a_block(qtbot, tmp_path, monkeypatch):
    window, _ = window_with_library(qtbot, tmp_path, monkeypatch)

    class Canvas:
        viewport = window.view.viewport()

    assert drop(Canvas, layer_mime("block:unet_down"), QPoint(200, 150))
    assert window.graph.nodes[0].params["block"] == "unet_down"
    window.view.setFocus()
    window.view.open_quick_add(QPoint(400, 300))
    QTest.keyClicks(window.view.quick_add.search, "vit patch")
    assert window.view.quick_add.visible_type_ids() == ["block:vit_patch_embedding"]
    window.view.quick_add.search.setText("unet")
    assert window.view.quick_add.visible_type_ids()[:2] == ["block:unet_down", "block:unet_up"]
    window.view.quick_add.search.setText("vit patch")
    QTest.keyClick(window.view.quick_add.search, Qt.Key.Key_Return)
    assert [n.params["block"] for n in window.graph.nodes] == ["unet_down", "vit_patch_embedding"]
    assert window.undo_stack.count() == 2


def test_save_selected_block_to_the_library_then_delete_it(qtbot, tmp_path, monkeypatch):
    window, lib = window_with_library(qtbot, tmp_path, monkeypatch)
    assert user_blocks_dir() == lib
    action = window.action("save_block")
    assert not action.isEnabled()
    window.block_library.insert("residual_basic")
    assert action.isEnabled()
    window.block_library.save_selected("residual_basic")  # a built-in's name: refused
    assert "built-in" in window.statusBar().currentMessage()
    assert window.block_library.save_selected("my_res", replace=False)
    assert [b.name for b in library_blocks(lib)[0]] == ["my_res"]
    assert window.graph.blocks.names() == ["residual_basic"], "the document keeps its own name"
    mine = window.layer_palette.category_item("My blocks")
    assert [mine.child(i).text(0) for i in range(mine.childCount())] == ["my_res"]
    assert not window.block_library.save_selected("my_res", replace=False)  # a clash, not replaced
    assert window.block_library.save_selected("my_res", replace=True)
    window.grab().save(str(tmp_path / "saved.png"))
    assert window.block_library.delete("my_res", confirm=False)
    assert library_blocks(lib) == ([], [])
    assert window.layer_palette.category_item("My blocks").childCount() == 0
