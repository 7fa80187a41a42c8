"""The layer palette: every registered layer, by category, searchable, draggable."""

from __future__ import annotations

import html

import pytest
from PySide6.QtCore import Qt

from layerloom.graph import REGISTRY
from layerloom.gui.block_catalog import catalog, ranked, result_key
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
    """The layers by category (the stored blocks after them are tested in test_block_library)."""
    tree = palette.tree
    out = {}
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        ids = [group.child(j).data(0, Qt.ItemDataRole.UserRole) for j in range(group.childCount())]
        ids = [i for i in ids if not i.startswith("block:")]
        if ids:
            out[group.text(0)] = ids
    return out


def _matching(text: str) -> list[str]:
    """Layers and blocks as the palette ranks them (names starting with the text first)."""
    return [result_key(e) for e in ranked(REGISTRY.search(text), catalog().search(text), text)]


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


def _rows(palette) -> list[str]:
    tree = palette.tree
    return [tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(tree.topLevelItemCount())]


@pytest.mark.parametrize("text", ["dense", "fully connected", "residual", "DROP", "pool", "relu"])
def test_search_shows_the_ranked_matches_as_a_flat_list(palette, qtbot, text):
    qtbot.keyClicks(palette.search, text)
    expected = [s.type_id for s in REGISTRY.search(text)]
    assert expected, "every word here finds something"
    expected = _matching(text)  # with the matching blocks
    assert _rows(palette) == expected, "one row per match, best first, no category rows"
    assert palette.visible_type_ids() == expected
    for type_id in expected:
        if not type_id.startswith("block:"):
            assert palette.item_for(type_id).text(1) == REGISTRY.get(type_id).category
    assert palette.tree.currentItem() is palette.item_for(expected[0])
    if text == "residual":
        assert expected[:2] == ["block:residual_basic", "block:residual_bottleneck"], "names first"
    assert not palette.empty.isVisible()
    palette.search.clear()
    assert len(palette.visible_type_ids()) == len(REGISTRY) + len(catalog().blocks())
    assert _tree_contents(palette) == {c: [s.type_id for s in specs]
                                       for c, specs in REGISTRY.by_category().items()}


def test_an_exact_name_comes_before_names_that_only_start_with_it(palette, qtbot):
    qtbot.keyClicks(palette.search, "relu")
    rows = _rows(palette)
    assert rows[0] == "relu" and "leaky_relu" in rows[1:]
    palette.search.clear()
    qtbot.keyClicks(palette.search, "softmax")
    assert _rows(palette)[:2] == ["softmax", "log_softmax"]


def test_a_search_without_match_says_so_instead_of_a_blank_list(palette, qtbot):
    qtbot.keyClicks(palette.search, "xyz")
    assert palette.visible_type_ids() == []
    assert palette.empty.isVisible() and not palette.tree.isVisible()
    assert palette.empty.text().startswith("No layer matches 'xyz'")
    assert palette.empty.height() > palette.empty.fontMetrics().height()  # not squeezed away
    activated = []
    palette.layerActivated.connect(activated.append)
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert activated == []
    qtbot.keyClick(palette.search, Qt.Key.Key_Escape)
    assert palette.tree.isVisible() and not palette.empty.isVisible()


def test_a_long_search_is_quoted_short():
    from layerloom.gui.canvas.layer_rows import MAX_QUOTED, no_match_text

    text = no_match_text("q" * 500)
    assert text.startswith("No layer matches 'qqq") and len(text) < MAX_QUOTED + 25


def _click_row(qtbot, palette, item) -> None:
    palette.tree.scrollToItem(item)  # a long list: the row may be below the fold
    rect = palette.tree.visualItemRect(item)
    qtbot.mouseClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_categories_fold_with_a_click_and_stay_folded_next_time(palette, qtbot):
    activation = palette.category_item("Activation")
    _click_row(qtbot, palette, activation)
    assert not activation.isExpanded()
    assert "relu" not in palette.visible_type_ids() and "dense" in palette.visible_type_ids()
    assert palette.folded_categories() == {"Activation"}
    _click_row(qtbot, palette, palette.category_item("Core"))
    assert palette.folded_categories() == {"Activation", "Core"}

    # the next session (a new palette) starts with the same categories folded
    again = Palette()
    qtbot.addWidget(again)
    assert not again.category_item("Activation").isExpanded()
    assert not again.category_item("Core").isExpanded()
    assert again.category_item("Convolution").isExpanded()

    # searching finds layers inside folded categories; clearing the search folds them again
    qtbot.keyClicks(again.search, "relu")
    assert _rows(again)[0] == "relu"
    again.search.clear()
    assert not again.category_item("Activation").isExpanded()

    # unfolding with the keyboard (Right arrow on the category) is remembered too
    again.tree.setFocus()
    again.tree.setCurrentItem(again.category_item("Activation"))
    qtbot.keyClick(again.tree, Qt.Key.Key_Right)
    assert again.category_item("Activation").isExpanded()
    assert Palette().folded_categories() == {"Core"}

    # the context menu's "Fold all" folds every category, remembered too
    again.tree.set_all_expanded(False)
    assert again.visible_type_ids() == []
    assert Palette().folded_categories() == set(REGISTRY.by_category()) | {"Blocks"}  # "My blocks" is empty


def test_a_registry_of_150_types_in_many_categories(qtbot, monkeypatch):
    """Works for any number of types and categories: the palette reads the registry."""
    from layerloom.graph.registry import CATEGORIES, LayerSpec, Registry

    big = Registry()
    for spec in REGISTRY:
        big.register(spec)
    for i in range(130):
        category = CATEGORIES[i % len(CATEGORIES)]
        big.register(LayerSpec(f"extra_{i}", f"Extra{i}", category, f"Extra layer {i}.", (),
                               lambda params, ins: dict(ins), keywords=("spare",)))
    monkeypatch.setattr("layerloom.gui.palette.REGISTRY", big)
    palette = Palette()
    qtbot.addWidget(palette)
    assert sum(len(v) for v in _tree_contents(palette).values()) == len(big) >= 150
    assert set(_tree_contents(palette)) == set(CATEGORIES)
    assert palette.category_item("Tensor").text(1) == str(len(big.by_category()["Tensor"]))
    qtbot.keyClicks(palette.search, "extra12")
    assert _rows(palette)[0] == "extra_12"
    assert _rows(palette)[1:] == [f"extra_{i}" for i in range(120, 130)]


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
