"""A few models of the import corpus (benchmarks/import_corpus.py, the whole table)
imported from source and from their ONNX export, as a regression test: each of
these imports both ways with the model's outputs and parameter count."""

from __future__ import annotations

import pytest
import torch

from benchmarks import import_corpus as corpus

# Quick ones that cover sizes passed to functions (TextCNN), a causal F.pad the
# exporter joins into the Conv (TCN), two outputs (ActorCritic) and a VAE whose
# sampling runs only in training, and an LSTM whose state is given with the input
# (batch in dim 1 of the state, both ways).
QUICK = ("TextCNN", "TCN", "ActorCritic", "VAE", "StatefulLSTM")


def test_the_corpus_declares_every_file_and_every_model_runs():
    files = {p.name for p in corpus.CORPUS.glob("*.py")}
    assert files == {e.file for e in corpus.ENTRIES}
    assert len(corpus.ENTRIES) >= 25
    for entry in corpus.ENTRIES:
        model = corpus.build(entry)
        with torch.no_grad():
            model(*corpus.make_inputs(entry, model, 2, seed=0))


@pytest.mark.parametrize("name", QUICK)
def test_quick_models_import_from_source_and_onnx_with_equal_outputs(name):
    entry = next(e for e in corpus.ENTRIES if e.name == name)
    row = corpus.run_entry(entry, reexport=False)
    for side, outcome in (("source", row.source), ("ONNX", row.onnx)):
        assert outcome.imported == "ok", f"{side}: {outcome.imported}"
        assert outcome.params == "ok", f"{side}: {outcome.params}"
        assert outcome.difference is not None and outcome.difference <= corpus.TOLERANCE
        assert outcome.validate == "ok", f"{side}: {outcome.validate}"
