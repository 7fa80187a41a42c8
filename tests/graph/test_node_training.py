"""Per-node training settings: trainable and initialisation, in the model and the file."""

from __future__ import annotations

import pytest

from layerloom.graph import Graph, GraphError, GraphFileError, dumps, loads, make_block
from layerloom.graph.node_training import applicable, describe, frozen_params
from tests.graph.helpers import chain


def small() -> tuple[Graph, list[str]]:
    g = Graph()
    ids = chain(g, ("input", {"shape": [4]}), ("dense", {"units": 8, "activation": "relu"}),
                ("dense", {"units": 3}), "output")
    return g, ids


def test_defaults_are_not_stored_and_old_files_stay_byte_identical():
    g, ids = small()
    text = dumps(g)
    assert '"training": {' not in text.split('"dataset"')[0]  # no node carries one
    g.set_training(ids[1], {"trainable": True, "init": "default"})
    assert g.node(ids[1]).training == {} and dumps(g) == text


def test_set_saved_loaded_and_copied():
    g, ids = small()
    events = []
    g.subscribe(events.append)
    old = g.set_training(ids[1], {"trainable": False, "init": "normal", "init_std": 0.1})
    assert old == {} and [e.detail for e in events] == [{"training": True}]
    text = dumps(g)
    assert '"training": {\n        "trainable": false,\n        "init": "normal",\n        "init_std": 0.1' in text
    again = loads(text)
    assert again.node(ids[1]).training == {"trainable": False, "init": "normal", "init_std": 0.1}
    assert dumps(again) == text  # save -> load -> save
    assert g.copy().node(ids[1]).training == g.node(ids[1]).training
    # replace (undo) puts the whole old value back
    g.set_training(ids[1], old, replace=True)
    assert g.node(ids[1]).training == {}
    g.lint()


def test_bad_values_and_nodes_without_weights_are_refused():
    g, ids = small()
    with pytest.raises(GraphError, match="init must be one of"):
        g.set_training(ids[1], {"init": "he"})
    with pytest.raises(GraphError, match="unknown node training setting 'frozen'"):
        g.set_training(ids[1], {"frozen": True})
    with pytest.raises(GraphError, match="trainable cannot be set on Output nodes: they have no parameters"):
        g.set_training(ids[3], {"trainable": False})
    assert g.node(ids[1]).training == {}
    text = dumps(g).replace('"activation": "none"\n      }', '"activation": "none"\n      },\n'
                            '      "training": {"init": 3}')
    with pytest.raises(GraphFileError, match=r"nodes\[2\].*init must be one of"):
        loads(text)


def test_blocks_freeze_but_take_no_init_and_keep_settings_inside():
    g, ids = small()
    g.set_training(ids[1], {"init": "orthogonal"})
    edit = make_block(g, [ids[1]], "Hidden")
    block = next(n for n in g.nodes if n.is_block)
    body = g.blocks["Hidden"].body
    assert body.node(ids[1]).training == {"init": "orthogonal"}
    assert [p.name for p in applicable(block.spec)] == ["trainable"]
    with pytest.raises(GraphError, match="set it on the layers inside the block"):
        g.set_training(block.id, {"init": "zeros"})
    g.set_training(block.id, {"trainable": False})
    assert frozen_params(g) == 4 * 8 + 8
    edit.undo()
    assert g.node(ids[1]).training == {"init": "orthogonal"}


def test_frozen_parameter_count_and_description():
    g, ids = small()
    assert frozen_params(g) == 0
    g.set_training(ids[2], {"trainable": False, "init": "kaiming_uniform"})
    assert frozen_params(g) == 8 * 3 + 3
    assert describe(g.node(ids[2]).training) == "frozen, init kaiming_uniform"
