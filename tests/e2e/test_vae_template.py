"""``vae_digits`` reaches its stated result with its saved settings, measured as
``benchmarks/templates_table.py`` measures it (the brief run and the layout checks
are the parametrised tests of ``test_templates.py``)."""

from __future__ import annotations

import pytest
import torch

from benchmarks.templates_table import CPU_SECONDS, measure
from layerloom.backend.templates import load_template, parse_expected


@pytest.mark.slow
def test_vae_digits_reaches_its_stated_reconstruction_loss():
    clauses = parse_expected(load_template("vae_digits").meta["expected"])
    assert [(c.metric, c.op) for c in clauses] == [("val loss_reconstruction", "<=")]
    assert "vae_digits" in CPU_SECONDS
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        measured = measure("vae_digits", stats=False)
    finally:
        torch.set_num_threads(before)
    assert measured.failed is None, measured.failed
    for clause in clauses:
        assert clause.holds(measured.metrics.get(clause.metric)), (clause, measured.metrics)
    assert measured.metrics["val loss_kl"] > 1.0  # the code carries information: no collapse
