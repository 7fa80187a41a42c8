"""LayerLoom's document model: layers, graphs, shape inference and .loom files.

Pure Python: no Qt, no torch. Everything the GUI and the backend need from the
document is exported here; these names are a stable interface.
"""

from graph import layers as _layers  # noqa: F401  (registers the built-in layers)
from graph.errors import (
    ConnectionRefused,
    GraphError,
    GraphFileError,
    GraphInvalidError,
    ParamError,
    ShapeError,
    UnknownLayerError,
)
from graph.fileformat import FORMAT, FORMAT_VERSION, SUFFIX, dumps, load_graph, loads, save_graph
from graph.inference import Analysis, NodeInfo, analyse, validate
from graph.layout import auto_layout, layered_positions
from graph.model import Edge, Event, Graph, Node
from graph.params import Param
from graph.registry import CATEGORIES, REGISTRY, LayerSpec
from graph.tensor import TensorSpec, fmt_shape

__all__ = [
    "CATEGORIES", "FORMAT", "FORMAT_VERSION", "REGISTRY", "SUFFIX",
    "Analysis", "ConnectionRefused", "Edge", "Event", "Graph", "GraphError", "GraphFileError",
    "GraphInvalidError", "LayerSpec", "Node", "NodeInfo", "Param", "ParamError", "ShapeError",
    "TensorSpec", "UnknownLayerError",
    "analyse", "auto_layout", "dumps", "fmt_shape", "layered_positions", "load_graph", "loads",
    "save_graph", "validate",
]
