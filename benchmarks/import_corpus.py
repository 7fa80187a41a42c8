"""Import a corpus of models written the way public PyTorch code is written.

The models live in ``benchmarks/import_corpus/`` (one file per family: LeNet,
ResNet, MobileNetV2, U-Net, DCGAN, VAE, GPT, ViT, Siamese, time-first RNNs, ...);
:data:`ENTRIES` declares each one's class, arguments and inputs. For every model
this script

1. imports it from source (:func:`import_module`, with the input shapes),
2. exports it to ONNX with the dynamo exporter (batch dim dynamic; fixed when
   the model does not export that way) and imports that file (:func:`import_onnx`),

and for each import checks: the parameter count equals the model's (shared
weights counted once), the outputs equal the model's within 1e-4 on a fresh
random input (another batch size than the import's), ``layerloom validate``
passes on the written ``.loom`` file, and the imported graph exports to ONNX and
to Python source (each exporter checks its file against the graph's model). It
prints one row per model::

    model | source import | ONNX import | params equal | max diff | validate | re-export

with the first line of each failure under the table.

Measured on one CPU thread with torch 2.13, the machine shared (each check: from
source / from ONNX)::

    model                   | source import | ONNX import | params equal | max diff          | validate | re-export | s
    ------------------------|---------------|-------------|--------------|-------------------|----------|-----------|-----
    LeNet                   | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 13.5
    MnistMLP                | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 8.9
    SmallAlexNet            | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 11.5
    SmallResNet             | ok            | ok          | ok / file    | 0.0e+00 / 1.2e-07 | ok / ok  | ok / ok   | 22.2
    SmallMobileNetV2        | ok            | ok          | ok / file    | 0.0e+00 / 1.2e-07 | ok / ok  | ok / ok   | 22.9
    SmallUNet               | ok            | ok          | ok / file    | 0.0e+00 / 2.1e-07 | ok / ok  | ok / ok   | 21.9
    Generator               | ok            | ok          | ok / file    | 0.0e+00 / 1.8e-07 | ok / ok  | ok / ok   | 14.9
    Discriminator           | ok            | ok          | ok / file    | 0.0e+00 / 6.0e-08 | ok / ok  | ok / ok   | 16.4
    VAE                     | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 14.3
    BagClassifier           | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 14.4
    MeanEmbeddingClassifier | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 14.4
    TextCNN                 | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 19.8
    LSTMRegressor           | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 31.2
    LSTMLastHidden          | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 18.4
    TimeFirstGRU            | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 22.4
    StatefulLSTM            | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 16.3
    BiLSTMAttention         | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 19.4
    MiniGPT                 | ok            | ok          | FAIL / file  | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 22.4
    SdpaGPT                 | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 19.6
    TinyViT                 | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 22.5
    SiameseNet              | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 14.5
    ActorCritic             | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 11.3
    SuperResolutionNet      | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 14.1
    NestedNet               | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 11.5
    PixelTokens             | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 9.7
    QueryPooler             | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 15.7
    TCN                     | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 11.9
    SENet                   | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 13.5
    ConvAutoencoder         | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 11.0
    GatedMLP                | ok            | ok          | ok / ok      | 0.0e+00 / 0.0e+00 | ok / ok  | ok / ok   | 10.4

    30 of 30 import from source and 30 of 30 from ONNX with equal outputs; 29 and 30
    pass every check. MiniGPT from source: its embedding is tied to its output layer
    (``wte.weight = lm_head.weight``); LayerLoom shares weights between uses of one
    layer only, so the import holds a copy in each (a note says so) and counts the
    table twice. From ONNX the exporter stores the tied weight twice too ("file").

Usage::

    python -m benchmarks.import_corpus              # every model
    python -m benchmarks.import_corpus LeNet VAE    # only these
    python -m benchmarks.import_corpus --no-reexport  # skip the (slower) re-exports
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from layerloom.backend.export import ExportError
from layerloom.backend.importers import ModelImportError

CORPUS = Path(__file__).resolve().parent / "import_corpus"
TOLERANCE = 1e-4
CHECK_BATCH = 4  # the import records on 3 and checks on 2: a third size here
# The parameter count of an ONNX import equals the file's weights, which differ from the
# model's: the exporter folds BatchNorm into the convolution before it and stores a tied
# weight twice (once transposed). The importer cannot see past the file.
FILE = "file"


@dataclass(frozen=True)
class Input:
    """One ``forward`` input: its shape without the batch dim, its dtype, and
    where the batch dim goes (1 for time-first recurrent inputs and states)."""

    shape: tuple[int, ...]
    dtype: str = "float"
    batch_dim: int = 0


@dataclass(frozen=True)
class Entry:
    file: str
    cls: str
    inputs: tuple[Input, ...]
    args: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.cls


def _f(*shape: int, batch_dim: int = 0) -> Input:
    return Input(tuple(shape), "float", batch_dim)


def _ids(length: int) -> Input:
    return Input((length,), "long")


ENTRIES: tuple[Entry, ...] = (
    Entry("lenet.py", "LeNet", (_f(1, 28, 28),)),
    Entry("mnist_mlp.py", "MnistMLP", (_f(1, 28, 28),)),
    Entry("alexnet_small.py", "SmallAlexNet", (_f(3, 32, 32),)),
    Entry("resnet_small.py", "SmallResNet", (_f(3, 16, 16),)),
    Entry("mobilenetv2_small.py", "SmallMobileNetV2", (_f(3, 32, 32),)),
    Entry("unet_small.py", "SmallUNet", (_f(1, 18, 18),)),
    Entry("dcgan.py", "Generator", (_f(16, 1, 1),)),
    Entry("dcgan.py", "Discriminator", (_f(1, 32, 32),)),
    Entry("vae.py", "VAE", (_f(1, 28, 28),)),
    Entry("text_classifiers.py", "BagClassifier", (_ids(12),)),
    Entry("text_classifiers.py", "MeanEmbeddingClassifier", (_ids(10),)),
    Entry("text_cnn.py", "TextCNN", (_ids(16),)),
    Entry("lstm_regressor.py", "LSTMRegressor", (_f(12, 3),)),
    Entry("lstm_regressor.py", "LSTMLastHidden", (_f(12, 3),)),
    Entry("time_first_rnn.py", "TimeFirstGRU", (_f(7, 4, batch_dim=1),)),
    Entry("time_first_rnn.py", "StatefulLSTM", (_f(6, 4), _f(1, 12, batch_dim=1), _f(1, 12, batch_dim=1))),
    Entry("bilstm_attention.py", "BiLSTMAttention", (_ids(9),)),
    Entry("gpt_mini.py", "MiniGPT", (_ids(16),)),
    Entry("gpt_sdpa.py", "SdpaGPT", (_ids(12),)),
    Entry("vit_tiny.py", "TinyViT", (_f(3, 16, 16),)),
    Entry("siamese.py", "SiameseNet", (_f(1, 16, 16), _f(1, 16, 16))),
    Entry("policy_net.py", "ActorCritic", (_f(8),)),
    Entry("super_resolution.py", "SuperResolutionNet", (_f(1, 12, 12),)),
    Entry("nested_containers.py", "NestedNet", (_f(16),)),
    Entry("einops_style.py", "PixelTokens", (_f(1, 8, 8),)),
    Entry("learned_queries.py", "QueryPooler", (_f(10, 6),)),
    Entry("tcn.py", "TCN", (_f(20, 2),)),
    Entry("se_net.py", "SENet", (_f(3, 16, 16),)),
    Entry("autoencoder_conv.py", "ConvAutoencoder", (_f(1, 16, 16),)),
    Entry("gated_mlp.py", "GatedMLP", (_f(24),)),
)


# ------------------------------------------------------------------ models
_LOADED: dict[str, object] = {}


def load_class(entry: Entry) -> type[nn.Module]:
    """The entry's class, from its file (each file is loaded once per run)."""
    path = CORPUS / entry.file
    module = _LOADED.get(entry.file)
    if module is None:
        spec = importlib.util.spec_from_file_location(f"import_corpus_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED[entry.file] = module
    return getattr(module, entry.cls)


def build(entry: Entry, seed: int = 0) -> nn.Module:
    """The model in eval mode, with seeded weights and non-trivial norm statistics
    (so that a wrongly placed batch norm shows in the outputs). Every parameter
    gets a little noise, as training would give it: a norm's weight of ones or a
    zero bias would hide a mistake, and the ONNX exporter stores tensors with
    equal values once (two fresh norms would share one initializer)."""
    torch.manual_seed(seed)
    model = load_class(entry)(**entry.args)
    with torch.no_grad():
        for p in {id(p): p for p in model.parameters()}.values():  # a tied weight once
            p.add_(torch.randn_like(p) * 0.05)
        for name, buffer in model.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                buffer.uniform_(-0.5, 0.5)
    return model.eval()


def token_limit(model: nn.Module) -> int:
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    return min(sizes) if sizes else 2


def make_inputs(entry: Entry, model: nn.Module, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Random inputs in the model's own layout (batch at each input's batch_dim)."""
    generator = torch.Generator().manual_seed(seed)
    limit = token_limit(model)
    out = []
    for spec in entry.inputs:
        shape = list(spec.shape)
        shape.insert(spec.batch_dim, batch)
        if spec.dtype == "long":
            out.append(torch.randint(0, limit, shape, generator=generator))
        else:
            out.append(torch.randn(shape, generator=generator))
    return tuple(out)


def unique_parameters(model: nn.Module) -> int:
    """Parameters counted once each, however many modules hold them."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# ----------------------------------------------------------------- checks
@dataclass
class Outcome:
    """What one import gave: ``"ok"`` or the first line of the failure, per check."""

    imported: str = "-"
    params: str = "-"
    difference: float | None = None
    validate: str = "-"
    reexport: str = "-"

    def passed(self) -> bool:
        return (all(v == "ok" for v in (self.imported, self.validate)) and self.params in ("ok", FILE)
                and self.reexport in ("ok", "-"))


@dataclass
class Row:
    entry: Entry
    source: Outcome
    onnx: Outcome
    seconds: float


def first_line(exc: BaseException) -> str:
    """The error's first line; for a list of problems, the summary's end and the
    first problem."""
    lines = (str(exc).strip() or type(exc).__name__).splitlines()
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        text = f"{text.split(': ', 1)[-1]} {lines[1].strip().removeprefix('- ')}"
    if not isinstance(exc, ModelImportError | ExportError):
        text = f"{type(exc).__name__}: {text}"
    return text[:200]


@contextlib.contextmanager
def quiet():
    """Keep the exporters' logs and warnings out of the table."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_original(entry: Entry, model: nn.Module, path: Path) -> str:
    """Export the source model to ONNX as a user would (dynamo exporter, dynamic
    batch); when the batch cannot stay dynamic, with the example batch fixed."""
    examples = make_inputs(entry, model, 3, seed=5)
    names = [f"input_{i}" for i in range(len(entry.inputs))]
    batch = torch.export.Dim("batch")
    dynamic = tuple({spec.batch_dim: batch} for spec in entry.inputs)
    note = ""
    with quiet(), torch.no_grad():
        try:
            program = torch.onnx.export(model, examples, dynamo=True, input_names=names, dynamic_shapes=dynamic)
        except Exception as exc:
            note = f"batch fixed at 3 ({first_line(exc)[:60]})"
            program = torch.onnx.export(model, examples, dynamo=True, input_names=names)
        program.save(str(path))
    return note


def file_parameters(path: Path) -> int:
    """Elements of the ONNX file's float initializers, scalars left out (the
    exporter writes constants such as a scale as initializers too)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    arrays = (numpy_helper.to_array(t) for t in proto.graph.initializer)
    return sum(a.size for a in arrays if a.dtype.kind == "f" and a.size > 1)


def check(entry: Entry, model: nn.Module, result, folder: Path, reexport: bool,
          in_file: int | None = None) -> Outcome:
    """The checks after an import succeeded (see the module docstring). ``in_file``:
    the parameters the ONNX file holds, when the import came from one."""
    from layerloom.backend.cli import main as cli_main
    from layerloom.backend.export import export_onnx, export_python
    from layerloom.backend.importers import save_import

    out = Outcome(imported="ok")
    expected_params = unique_parameters(model)
    got_params = result.graph.analysis().total_params
    if got_params == expected_params:
        out.params = "ok"
    elif got_params == in_file:
        out.params = FILE
    else:
        out.params = f"{got_params} vs {expected_params}" + (f" (the file holds {in_file})" if in_file else "")

    inputs = make_inputs(entry, model, CHECK_BATCH, seed=11)
    try:
        with torch.no_grad():
            want = model(*inputs)
            got = result.model(*result.batch_first(*inputs))
        want = tuple(want) if isinstance(want, (tuple, list)) else (want,)
        got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
        if len(want) != len(got) or any(a.shape != b.shape for a, b in zip(want, got, strict=True)):
            raise ValueError(f"output shapes {[tuple(g.shape) for g in got]} vs {[tuple(w.shape) for w in want]}")
        out.difference = max(float((a.float() - b.float()).abs().max()) for a, b in zip(want, got, strict=True))
        if not out.difference <= TOLERANCE:
            out.imported = f"outputs differ by {out.difference:.3g}"
    except Exception as exc:
        out.imported = f"imported graph fails on batch {CHECK_BATCH}: {first_line(exc)}"

    loom = folder / "model.loom"
    try:
        save_import(result, loom)
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = cli_main(["validate", str(loom)])
        out.validate = "ok" if code == 0 else f"exit {code}: {sink.getvalue().strip().splitlines()[-1]}"
    except Exception as exc:
        out.validate = first_line(exc)

    if reexport:
        failures = []
        for name, exporter, target in (("onnx", export_onnx, "again.onnx"), ("python", export_python, "again.py")):
            try:
                with quiet():
                    exporter(result.graph, result.model, folder / target)
            except Exception as exc:
                failures.append(f"{name}: {first_line(exc)}")
        out.reexport = "ok" if not failures else "; ".join(failures)
    return out


def run_entry(entry: Entry, reexport: bool = True) -> Row:
    from layerloom.backend.importers import import_module, import_onnx

    start = time.perf_counter()
    model = build(entry)
    shapes = [spec.shape for spec in entry.inputs]
    dtypes = [spec.dtype for spec in entry.inputs]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source_dir, onnx_dir = folder / "source", folder / "onnx"
        source_dir.mkdir()
        onnx_dir.mkdir()
        try:
            with quiet():
                result = import_module(model, shapes, dtypes, title=entry.cls)
            source = check(entry, model, result, source_dir, reexport)
        except Exception as exc:
            source = Outcome(imported=first_line(exc))

        path = folder / f"{entry.cls}.onnx"
        try:
            export_original(entry, model, path)
        except Exception as exc:
            onnx = Outcome(imported=f"torch.onnx.export fails: {first_line(exc)}")
        else:
            try:
                with quiet():
                    result = import_onnx(path)
                onnx = check(entry, model, result, onnx_dir, reexport, file_parameters(path))
            except Exception as exc:
                onnx = Outcome(imported=first_line(exc))
    return Row(entry, source, onnx, time.perf_counter() - start)


# ------------------------------------------------------------------ table
def _cell(value: str) -> str:
    return value if value in ("ok", "-", FILE) else "FAIL"


def table(rows: list[Row]) -> str:
    header = ("model", "source import", "ONNX import", "params equal", "max diff", "validate", "re-export", "s")
    lines = [header]
    for r in rows:
        def both(attr: str, r: Row = r) -> str:
            return f"{_cell(getattr(r.source, attr))} / {_cell(getattr(r.onnx, attr))}"

        diffs = [o.difference for o in (r.source, r.onnx)]
        diff = " / ".join("-" if d is None else f"{d:.1e}" for d in diffs)
        lines.append((r.entry.name, _cell(r.source.imported), _cell(r.onnx.imported), both("params"), diff,
                      both("validate"), both("reexport"), f"{r.seconds:.1f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, "-|-".join("-" * w for w in widths))
    text.append("")
    text.append("(each check: from source / from the ONNX export; params 'file': equal to the ONNX file's")
    text.append(" weights, which the exporter changed: BatchNorm folded into convolutions, a tied weight stored twice)")
    source_ok = sum(r.source.passed() for r in rows)
    onnx_ok = sum(r.onnx.passed() for r in rows)
    text.append(f"{source_ok} of {len(rows)} import from source and pass every check; {onnx_ok} of {len(rows)} from ONNX")
    failures = []
    for r in rows:
        for side, outcome in (("source", r.source), ("ONNX", r.onnx)):
            for check_name in ("imported", "params", "validate", "reexport"):
                value = getattr(outcome, check_name)
                if value not in ("ok", "-", FILE):
                    failures.append(f"  {r.entry.name} ({side}, {check_name}): {value}")
    if failures:
        text += ["", "failures:", *failures]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these models (class names)")
    parser.add_argument("--no-reexport", action="store_true", help="skip the ONNX and Python re-exports")
    args = parser.parse_args(argv)
    entries = [e for e in ENTRIES if not args.names or e.name in args.names]
    unknown = set(args.names) - {e.name for e in ENTRIES}
    if unknown:
        parser.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    torch.set_num_threads(1)
    rows = []
    for entry in entries:
        rows.append(run_entry(entry, reexport=not args.no_reexport))
        print(table(rows[-1:]).splitlines()[2], file=sys.stderr, flush=True)  # its row, as it comes
    print(table(rows))
    return 0 if all(r.source.passed() and r.onnx.passed() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
