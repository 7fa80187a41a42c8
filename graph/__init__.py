"""LayerLoom's document model: layers, graphs, shape inference and .loom files.

Pure Python: no Qt, no torch. Everything the GUI and the backend need from the
document is exported here; these names are a stable interface.
"""

from layerloom.graph import layers as _layers  # noqa: F401  (registers the built-in layers)
from layerloom.graph.blocks import BlockDefinition, BlockLibrary
from layerloom.graph.errors import (
    ConnectionRefused,
    GraphError,
    GraphFileError,
    GraphInvalidError,
    ParamError,
    ShapeError,
    UnknownLayerError,
)
from layerloom.graph.fileformat import (
    FORMAT,
    FORMAT_VERSION,
    SUFFIX,
    dumps,
    load_graph,
    loads,
    save_graph,
)
from layerloom.graph.grouping import GroupEdit, make_block, ungroup
from layerloom.graph.inference import Analysis, NodeInfo, analyse, validate
from layerloom.graph.layout import auto_layout, layered_positions
from layerloom.graph.model import Edge, Event, Graph, Node
from layerloom.graph.params import Param
from layerloom.graph.registry import BLOCK_TYPE, CATEGORIES, REGISTRY, Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

__all__ = [
    "BLOCK_TYPE", "CATEGORIES", "Example", "FORMAT", "FORMAT_VERSION", "REGISTRY", "SUFFIX",
    "BlockDefinition", "BlockLibrary", "GroupEdit",
    "Analysis", "ConnectionRefused", "Edge", "Event", "Graph", "GraphError", "GraphFileError",
    "GraphInvalidError", "LayerSpec", "Node", "NodeInfo", "Param", "ParamError", "ShapeError",
    "TensorSpec", "UnknownLayerError",
    "analyse", "auto_layout", "dumps", "fmt_shape", "layered_positions", "load_graph", "loads", "make_block",
    "save_graph", "ungroup", "validate",
]
