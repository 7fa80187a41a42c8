"""The layer palette: every registered layer, by category, searchable, draggable."""

from __future__ import annotations

import html

import pytest
from PySide6.QtCore import Qt

from layerloom.graph import REGISTRY
from layerloom.gui.canvas import LAYER_MIME_TYPE
from layerloom.gui.palette import LAYER_MIME, Palette


@pytest.fixture
def palette(qtbot):
    widget = Palette()
    widget.resize(280, 700)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _tree_contents(palette) -> dict[str, list[str]]:
    tree = palette.tree
    out = {}
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        out[group.text(0)] = [group.child(j).data(0, Qt.ItemDataRole.UserRole) for j in range(group.childCount())]
    return out


def test_lists_every_registered_layer_by_category(palette):
    expected = {cat: [s.type_id for s in specs] for cat, specs in REGISTRY.by_category().items()}
    assert _tree_contents(palette) == expected
    assert sum(len(v) for v in expected.values()) == len(REGISTRY)
    assert palette.objectName() == "palette"
    assert palette.search.objectName() == "paletteSearch"


def test_tooltips_come_from_the_layer_docs(palette):
    for spec in REGISTRY:
        tip = palette.item_for(spec.type_id).toolTip(0)
        assert html.escape(spec.doc) in tip
        assert f"<b>{html.escape(spec.name)}</b>" in tip


@pytest.mark.parametrize("text", ["dense", "fully connected", "residual", "DROP", "zzz-no-such-layer"])
def test_search_filters_by_name_and_keywords(palette, qtbot, text):
    qtbot.keyClicks(palette.search, text)
    expected = [s.type_id for s in REGISTRY.search(text)]
    assert sorted(palette.visible_type_ids()) == sorted(expected)
    assert palette.empty.isVisible() == (not expected)
    hidden_groups = [palette.tree.topLevelItem(i) for i in range(palette.tree.topLevelItemCount())]
    for group in hidden_groups:
        visible_children = [group.child(j) for j in range(group.childCount()) if not group.child(j).isHidden()]
        assert group.isHidden() == (not visible_children)
    palette.search.clear()
    assert len(palette.visible_type_ids()) == len(REGISTRY)


def test_keyword_search_finds_dense_by_an_alias_word(palette, qtbot):
    qtbot.keyClicks(palette.search, "perceptron")
    assert "dense" in palette.visible_type_ids()
    assert "add" not in palette.visible_type_ids()


def test_drag_payload_is_the_type_id_in_the_canvas_mime(palette):
    assert LAYER_MIME == LAYER_MIME_TYPE
    for type_id in ("input", "dense", "concat"):
        mime = palette.tree.mimeData([palette.item_for(type_id)])
        assert bytes(mime.data(LAYER_MIME).data()).decode("utf-8") == type_id
    group = palette.tree.topLevelItem(0)
    assert not palette.tree.mimeData([group]).hasFormat(LAYER_MIME), "a category is not a layer"
    assert palette.item_for("dense").flags() & Qt.ItemFlag.ItemIsDragEnabled


def test_enter_in_search_activates_the_first_match(palette, qtbot):
    activated = []
    palette.layerActivated.connect(activated.append)
    qtbot.keyClicks(palette.search, "flatten")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert activated == ["flatten"]
    qtbot.keyClick(palette.search, Qt.Key.Key_Escape)
    assert palette.search.text() == ""


def test_enter_on_a_list_entry_activates_it(palette, qtbot):
    activated = []
    palette.layerActivated.connect(activated.append)
    palette.tree.setCurrentItem(palette.item_for("dropout"))
    palette.tree.setFocus()
    qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert activated == ["dropout"]
