"""The block library: save, list, delete, insert (definitions copied), broken files skipped."""

from __future__ import annotations

import os

import pytest

from layerloom.graph import Graph, GraphError, dumps, make_block
from layerloom.graph.block_store import (
    DIR_VARIABLE,
    all_blocks,
    delete_block,
    find_block,
    insert_block,
    library_blocks,
    save_block,
    user_blocks_dir,
)
from tests.graph.helpers import chain


def nested_graph() -> Graph:
    """Block "outer" holds an instance of block "inner" (Dense 4 relu)."""
    g = Graph()
    inner = g.blocks.add("inner")
    i, _, o = chain(inner.body, ("input", {"shape": [4]}), ("dense", {"units": 4, "activation": "relu"}), "output")
    inner.body.set_label(i, "in")
    inner.body.set_label(o, "out")
    g.blocks.expose("inner", "width", "dense_1", "units")
    inp, blk, out = chain(g, ("input", {"shape": [4]}), ("block", {"block": "inner", "width": 4}), "output")
    make_block(g, [blk], "outer")
    return g


def test_the_folder_follows_the_environment(tmp_path):
    assert user_blocks_dir({DIR_VARIABLE: str(tmp_path)}) == tmp_path
    assert user_blocks_dir({"XDG_DATA_HOME": "/x"}).parts[-2:] == ("layerloom", "blocks") or os.name == "nt"


def test_save_list_insert_delete(tmp_path):
    g = nested_graph()
    path = save_block(g, "outer", tmp_path)
    assert path == tmp_path / "outer.loom"
    mine, warnings = library_blocks(tmp_path)
    assert [b.name for b in mine] == ["outer"] and not warnings
    assert mine[0].graph.blocks.names() == ["inner", "outer"]
    target = Graph()
    x = target.add_node("input", {"shape": [4]})
    edit = insert_block(target, find_block("outer", tmp_path), node_id="enc")
    target.connect(x.id, "out", "enc", "in")
    target.connect("enc", "out", target.add_node("output").id, "in")
    assert target.blocks.names() == ["inner", "outer"] and target.analysis().valid
    before = dumps(target)
    edit.undo()
    assert target.blocks.names() == [] and not target.has_node("enc")
    delete_block("outer", tmp_path)
    assert library_blocks(tmp_path) == ([], [])
    assert "enc" in before


def test_a_clash_is_refused_unless_replacing(tmp_path):
    g = nested_graph()
    save_block(g, "outer", tmp_path)
    with pytest.raises(GraphError, match="already has a block 'outer'"):
        save_block(g, "outer", tmp_path)
    g.blocks["inner"].body.set_param("dense_1", "activation", "tanh")
    save_block(g, "outer", tmp_path, replace=True)
    assert find_block("outer", tmp_path).graph.blocks["inner"].body.node("dense_1").params["activation"] == "tanh"
    with pytest.raises(GraphError, match="built-in"):
        g.blocks.rename("outer", "residual_basic")
        save_block(g, "residual_basic", tmp_path)
    with pytest.raises(GraphError, match="no block 'nothing'"):
        delete_block("nothing", tmp_path)
    with pytest.raises(GraphError, match="built-in block; built-ins cannot be deleted"):
        delete_block("residual_basic", tmp_path)


def test_inserting_twice_reuses_the_definition_and_a_different_one_is_renamed(tmp_path):
    g = nested_graph()
    save_block(g, "outer", tmp_path)
    stored = find_block("outer", tmp_path)
    target = Graph()
    insert_block(target, stored)
    second = insert_block(target, stored)
    assert target.blocks.names() == ["inner", "outer"] and second.added_definitions == []
    target.blocks["inner"].body.set_param("dense_1", "units", 4)
    target.blocks["inner"].body.set_param("dense_1", "bias", False)  # now different
    third = insert_block(target, stored)
    assert third.added_definitions == ["inner_2", "outer_2"]
    assert target.blocks["outer_2"].body.node(next(
        n.id for n in target.blocks["outer_2"].body.nodes if n.is_block)).params["block"] == "inner_2"


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"format": "layerloom.graph", "format_version": 2}',
                                     b'{"format": "layerloom.graph", "format_version": 99}',
                                     b'{"format": "layerloom.graph", "format_version": 2, "blocks": '
                                     b'[{"name": "a", "nodes": [{"id": "x", "type": "os.system"}]}]}',
                                     b'{"format": "layerloom.graph", "format_version": 2, "blocks": '
                                     b'[{"name": "a", "nodes": [{"id": "b", "type": "block", '
                                     b'"params": {"block": "a"}}]}]}',
                                     b"\xff\xfe"])
def test_a_broken_or_hostile_file_is_skipped_with_a_warning(tmp_path, content):
    (tmp_path / "bad.loom").write_bytes(content)
    save_block(nested_graph(), "outer", tmp_path)
    blocks, warnings = all_blocks(tmp_path)
    assert "outer" in [b.name for b in blocks]
    assert len(warnings) == 1 and warnings[0].startswith("skipped block file bad.loom:")


def test_a_fifo_in_the_library_does_not_block(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "pipe.loom")
    blocks, warnings = library_blocks(tmp_path)
    assert blocks == [] and "pipe.loom" in warnings[0] and "FIFO" in warnings[0]
