"""Every layer type is a full citizen: parity over the whole registry.

For each registered type: an example, a lowering, a shape rule and parameter
count that agree with torch on variations of the example (hypothesis), a Python
export that reproduces it, an ONNX export that runs in onnxruntime within 1e-5,
and an import back from the exported PyTorch source and from the ONNX file that
computes the same. The export and import checks run one graph per category
(every type of the category side by side), so a failure names its category and
the message names the node.
"""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch
import torch.fx as fx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from layerloom.backend.compile import _by_port, compile_graph
from layerloom.backend.export import export_onnx
from layerloom.backend.export.common import example_inputs, largest_difference, reference_outputs
from layerloom.backend.export.python_source import ALLOWED_IMPORTS, check_imports, python_source
from layerloom.backend.importers import import_module, import_onnx
from layerloom.backend.lowering import LOWERINGS, call_module
from layerloom.graph import CATEGORIES, REGISTRY, ShapeError, TensorSpec
from layerloom.graph.examples import examples_of, showcase

# Loss nodes are sinks that training computes and no model holds (tests/backend/test_loss_terms.py).
LAYERS = [s for s in REGISTRY if not (s.is_input or s.is_output or s.loss)]
LAYER_CATEGORIES = [c for c in CATEGORIES if any(s.category == c for s in LAYERS)]
MAX_VALUES = 200_000  # per input, in the shape variations
TOLERANCE = 1e-5


def test_there_are_at_least_a_hundred_layer_types():
    assert len(LAYERS) >= 100, len(LAYERS)


@pytest.mark.parametrize("spec", LAYERS, ids=lambda s: s.type_id)
def test_every_type_has_an_example_a_lowering_and_help(spec):
    assert spec.type_id in LOWERINGS, f"{spec.type_id} has no lowering"
    examples = examples_of(spec)
    assert examples, f"{spec.type_id} declares no example and accepts none of the standard inputs"
    for example in examples:
        params = spec.check_params(example.params)
        assert set(example.inputs) == set(spec.input_ports(params))
        spec.infer(params, example.inputs)  # the example is valid
    assert spec.doc.strip() and all(p.help.strip() for p in spec.params)


# ------------------------------------------------------------ against torch
def run_lowered(spec, params, ins: dict[str, TensorSpec], outs, tensors: dict[str, torch.Tensor]):
    """The layer's torch lowering, alone, on ``tensors``: {output port: tensor}."""
    lowered = LOWERINGS[spec.type_id](params, ins, outs)
    root, graph = nn.Module(), fx.Graph()
    ports = spec.input_ports(params)
    args = [graph.placeholder(f"port_{port}") for port in ports]
    target = None
    if lowered.module is not None:
        root.add_module("layer", lowered.module)
        target = "layer"
    out = (lowered.emit or call_module)(graph, args, target)
    out_ports = spec.output_ports(params)
    by_port = _by_port(out, out_ports, graph)
    graph.output(tuple(by_port[p] for p in out_ports))
    module = fx.GraphModule(root, graph).eval()
    with torch.no_grad():
        results = module(*(tensors[p] for p in ports))
    return dict(zip(out_ports, results, strict=True)), module


def random_tensor(t: TensorSpec, batch: int, high: int, generator) -> torch.Tensor:
    shape = (batch, *t.shape)
    if t.dtype == "long":
        return torch.randint(0, high, shape, generator=generator)
    return torch.randn(shape, generator=generator)


def _variations(example):
    """Strategy: the example's inputs with each distinct size replaced by another
    (equal sizes stay equal, so inputs that must agree still can)."""
    sizes = sorted({d for t in example.inputs.values() for d in t.shape})
    choices = [st.one_of(st.just(d), st.integers(1, min(64, max(6, 2 * d)))) for d in sizes]
    return st.tuples(*choices).map(lambda new: dict(zip(sizes, new, strict=True)))


EXAMPLES = [(spec, i, ex) for spec in LAYERS for i, ex in enumerate(examples_of(spec))]


@pytest.mark.parametrize(("spec", "index", "example"), EXAMPLES,
                         ids=[f"{s.type_id}-{i}" for s, i, _ in EXAMPLES])
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_shape_rule_and_parameter_count_agree_with_torch(spec, index, example, data):
    mapping = data.draw(_variations(example))
    ins = {port: t.with_shape(tuple(mapping[d] for d in t.shape)) for port, t in example.inputs.items()}
    assume(all(t.numel <= MAX_VALUES for t in ins.values()))
    params = spec.check_params(example.params)
    generator = torch.Generator().manual_seed(0)
    tensors = {port: random_tensor(t, 2, example.high, generator) for port, t in ins.items()}
    try:
        outs = spec.infer(params, ins)
    except ShapeError as refused:
        if example.policy:
            return
        try:
            run_lowered(spec, params, ins, {}, tensors)
        except Exception:
            return  # torch refuses too
        pytest.fail(f"{spec.name} refuses {ins} ({refused}) but torch runs it")
    results, module = run_lowered(spec, params, ins, outs, tensors)
    for port, t in outs.items():
        got = results[port]
        assert tuple(got.shape) == (2, *t.shape), f"{spec.name} port {port}: torch gives {tuple(got.shape)}, the rule {t}"
        assert (got.dtype == torch.long) == (t.dtype == "long"), f"{spec.name} port {port}: dtype {got.dtype}, the rule {t.dtype}"
    counted = sum(p.numel() for p in module.parameters())
    assert counted == spec.param_count(params, ins, outs), f"{spec.name}: torch has {counted} parameters"


# ----------------------------------------------- exports and imports, by category
@pytest.fixture(scope="module")
def category_models():
    """category -> (graph, compiled model with seeded weights)."""
    cache = {}

    def get(category):
        if category not in cache:
            graph = showcase([s for s in LAYERS if s.category == category], category)
            assert graph.analysis().valid, graph.analysis().errors
            cache[category] = graph, compile_graph(graph, seed=0).eval()
        return cache[category]

    return get


def python_module(graph, model):
    """The standalone Python export of ``model``, loaded in this process, with the
    model's weights: the kind of module a user writes by hand."""
    text = python_source(graph, model, "weights.safetensors")
    check_imports(text, ALLOWED_IMPORTS, "the generated source")
    namespace = types.ModuleType("layerloom_parity_export")
    namespace.__file__ = "<parity export>"
    sys.modules[namespace.__name__] = namespace
    try:
        exec(compile(text, f"<export of {graph.meta['title']}>", "exec"), namespace.__dict__)
    finally:
        del sys.modules[namespace.__name__]
    cls = next(v for k, v in vars(namespace).items()
               if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == namespace.__name__
               and "forward" in vars(v) and k[0].isupper() and k not in _bundled(namespace, text))
    module = cls()
    module.load_state_dict(model.state_dict())
    return module.eval()


def _bundled(namespace, text: str) -> set[str]:
    """Classes copied into the file before the model's class (LayerLoom's own modules)."""
    model_class = text.split("\nclass ")[-1].split("(")[0]
    return {k for k, v in vars(namespace).items() if isinstance(v, type)} - {model_class}


def assert_same(got, expected, what: str):
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected), what
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert tuple(a.shape) == tuple(b.shape), f"{what}: output {i + 1} has shape {tuple(a.shape)}, expected {tuple(b.shape)}"
        if a.numel():
            worst = largest_difference(a, b)
            finite = b[b.isfinite()]
            scale = max(1.0, float(finite.double().abs().max()) if finite.numel() else 1.0)
            assert worst <= TOLERANCE * scale, f"{what}: output {i + 1} differs by {worst:.3g}"


@pytest.mark.parametrize("category", LAYER_CATEGORIES)
def test_python_export_reproduces_every_type(category, category_models):
    graph, model = category_models(category)
    module = python_module(graph, model)
    for batch in (1, 3):
        inputs = example_inputs(model, model.input_specs, batch, seed=batch)
        with torch.no_grad():
            assert_same(module(*inputs), reference_outputs(model, inputs), f"the Python export of {category}")


@pytest.mark.parametrize("category", LAYER_CATEGORIES)
def test_onnx_export_runs_in_onnxruntime_and_imports_back(category, category_models, tmp_path):
    graph, model = category_models(category)
    path = tmp_path / "layers.onnx"
    result = export_onnx(graph, model, path)
    assert result.max_difference <= TOLERANCE
    # Sequence lengths are variable in the file: the importer is told the example's.
    imported = import_onnx(path, [s.shape for s in model.input_specs])
    assert imported.max_difference <= TOLERANCE
    inputs = example_inputs(model, model.input_specs, 2, seed=5)
    with torch.no_grad():
        assert_same(imported.model(*inputs), reference_outputs(model, inputs), f"the ONNX import of {category}")


@pytest.mark.parametrize("category", LAYER_CATEGORIES)
def test_pytorch_source_imports_back(category, category_models):
    graph, model = category_models(category)
    module = python_module(graph, model)
    imported = import_module(module, [s.shape for s in model.input_specs], [s.dtype for s in model.input_specs])
    counted = sum(p.numel() for p in imported.model.parameters())
    assert counted == sum(p.numel() for p in model.parameters())
    inputs = example_inputs(model, model.input_specs, 2, seed=7)
    with torch.no_grad():
        assert_same(imported.model(*inputs), reference_outputs(model, inputs), f"the PyTorch import of {category}")
    assert math.isfinite(imported.max_difference)
