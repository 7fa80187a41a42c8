"""Importing recurrent models written time first (``batch_first=False``: the
batch in dim 1) and models that take or start from recurrent states. The
imported graph keeps the batch first; the import says where the source had it
(``ImportResult.batch_dims``) and ``batch_first`` lays source inputs out for it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from layerloom.backend.importers import ModelImportError, import_module, import_onnx
from layerloom.graph import load_graph

TOLERANCE = 1e-5


class TimeFirstGRU(nn.Module):
    """The nn.GRU default layout, a zero state sized from x.size(1), output[-1]."""

    def __init__(self):
        super().__init__()
        self.hidden_size = 8
        self.gru = nn.GRU(3, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        h0 = torch.zeros(1, x.size(1), self.hidden_size, device=x.device)
        output, hidden = self.gru(x, h0)
        return self.fc(output[-1])


class PermutedLSTM(nn.Module):
    """Batch-first data permuted to (T, N, F) for the LSTM and back again."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, num_layers=2)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        x = x.permute(1, 0, 2)
        out, (h, c) = self.lstm(x)
        out = out.permute(1, 0, 2)
        return self.head(out[:, -1, :])


class StatefulLSTM(nn.Module):
    """A batch-first LSTM started from a state given with the input."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x, h0, c0):
        out, (h, c) = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1])


class ZeroStateLSTM(nn.Module):
    """The usual tutorial form: zeros sized from x.size(0), moved to x's device."""

    def __init__(self):
        super().__init__()
        self.num_layers, self.hidden = 2, 6
        self.lstm = nn.LSTM(3, 6, num_layers=2, batch_first=True)
        self.fc = nn.Linear(6, 1)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden).to(x.device)
        c0 = torch.zeros(self.num_layers, x.size(0), self.hidden).to(x.device)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


class TimeMajorOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 4)

    def forward(self, x):
        out, _ = self.rnn(x)
        return out


def _check(result, model, *inputs):
    with torch.no_grad():
        want = model(*inputs)
        got = result.model(*result.batch_first(*inputs))
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=TOLERANCE)


def test_time_first_gru_with_a_zero_state_imports_batch_first():
    model = TimeFirstGRU().eval()
    result = import_module(model, [(7, 3)])
    assert result.batch_dims == [1]
    assert any("batch in dim 1" in note for note in result.notes)
    (gru,) = [n for n in result.graph.nodes if n.type == "gru"]
    assert not gru.params["initial_state"] and not gru.params["return_sequences"]  # output[-1]: the last step
    assert result.graph.node(next(n.id for n in result.graph.nodes if n.type == "input")).params["shape"] == (7, 3)
    _check(result, model, torch.randn(7, 5, 3))


def test_permutes_around_a_time_first_lstm_cancel_out():
    model = PermutedLSTM().eval()
    result = import_module(model, [(6, 4)])
    assert result.batch_dims == []  # the model's own input is batch first
    types = [n.type for n in result.graph.nodes]
    assert "permute" not in types and "transpose" not in types
    (lstm,) = [n for n in result.graph.nodes if n.type == "lstm"]
    assert lstm.params["num_layers"] == 2
    _check(result, model, torch.randn(5, 6, 4))


def test_given_states_become_the_initial_state_ports():
    model = StatefulLSTM().eval()
    result = import_module(model, [(6, 4), (1, 5), (1, 5)])
    assert result.batch_dims == [0, 1, 1]
    (lstm,) = [n for n in result.graph.nodes if n.type == "lstm"]
    assert lstm.params["initial_state"]
    fed = {port: result.graph.node(e.source).label for port, e in result.graph.incoming(lstm.id).items()}
    assert fed == {"in": "x", "h0": "h0", "c0": "c0"}
    batch = 3
    _check(result, model, torch.randn(batch, 6, 4), torch.randn(1, batch, 5), torch.randn(1, batch, 5))


def test_zero_states_sized_from_the_batch_are_the_layers_own_start():
    model = ZeroStateLSTM().eval()
    result = import_module(model, [(9, 3)])
    (lstm,) = [n for n in result.graph.nodes if n.type == "lstm"]
    assert not lstm.params["initial_state"]
    _check(result, model, torch.randn(4, 9, 3))


def test_a_time_major_result_is_refused_with_its_line():
    with pytest.raises(ModelImportError) as info:
        import_module(TimeMajorOutput(), [(5, 3)])
    message = str(info.value)
    assert "time-major output (T, N, H) of the batch_first=False RNN 'rnn'" in message
    assert "out, _ = self.rnn(x)" in message and "output.transpose(0, 1)" in message


def test_a_wrong_batch_dim_is_named():
    with pytest.raises(ModelImportError, match=r"batch dims must be 0 or 1"):
        import_module(StatefulLSTM(), [(6, 4), (1, 5), (1, 5)], batch_dims=[0, 2, 2])
    with pytest.raises(ModelImportError, match=r"2 batch dims were given for 3 input shapes"):
        import_module(StatefulLSTM(), [(6, 4), (1, 5), (1, 5)], batch_dims=[0, 1])


@pytest.mark.parametrize(("model", "shapes", "batch_dims"), [
    (TimeFirstGRU, [(7, 3)], [1]),
    (StatefulLSTM, [(6, 4), (1, 5), (1, 5)], [0, 1, 1]),
])
def test_onnx_exports_with_the_batch_in_dim_1(model, shapes, batch_dims, tmp_path):
    model = model().eval()
    batch = torch.export.Dim("batch")
    examples = tuple(torch.randn(*s[:d], 3, *s[d:]) for s, d in zip(shapes, batch_dims, strict=True))
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, examples, path, dynamo=True,
                      dynamic_shapes=tuple({d: batch} for d in batch_dims))
    result = import_onnx(path)
    assert result.batch_dims == batch_dims
    inputs = tuple(torch.randn(*s[:d], 5, *s[d:]) for s, d in zip(shapes, batch_dims, strict=True))
    _check(result, model, *inputs)


MODEL_PY = textwrap.dedent('''
    import torch
    from torch import nn


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            steps = x.size(0)
            assert steps == 6, f"expected 6 steps, got {steps}"
            out, _ = self.rnn(x)
            return self.out(out[-1])
''')


def test_the_command_line_takes_a_batch_dim(tmp_path):
    source = tmp_path / "tagger.py"
    source.write_text(MODEL_PY)
    out = tmp_path / "tagger.loom"
    command = [sys.executable, "-m", "layerloom.gui.launcher", "import", f"{source}:Tagger",
               "--input-shape", "6,3", "-o", str(out)]
    # The assert on x.size(0) stops the symbolic trace; the example run needs the layout.
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--batch-dim" in done.stderr
    done = subprocess.run([*command, "--batch-dim", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    graph = load_graph(out)
    assert [n.params["shape"] for n in graph.nodes if n.type == "input"] == [(6, 3)]
