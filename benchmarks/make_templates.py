"""Write the teaching templates in ``resources/examples`` (run once; kept to regenerate).

Each template is an ordinary ``.loom`` file: a graph laid out by
:func:`layerloom.graph.layout.auto_layout`, a ``"dataset"`` and a ``"training"`` section, so that
opening it and pressing Train works with no other step, and a ``"meta"`` section with
``title``, ``description`` (what it shows, which plot to read, what to try), ``group``
(for the gallery), ``order`` (its place in a teaching sequence, within the group) and
``expected`` (the result its saved settings reach, checked by
``benchmarks/templates_table.py``; the clause syntax is in :mod:`layerloom.backend.templates`).

Templates that teach by comparison come as sets that differ in one thing only (the
activation, the loss, the batch size, the learning rate, ...), so a user can run them
one after the other and compare the curves.

The MNIST-1D templates (``mnist1d_mlp``, ``mnist1d_cnn``, ``mnist1d_gru``) are the
benchmark's own files; this script only fills in their ``meta`` where it is missing.

Usage::

    python -m benchmarks.make_templates            # write every template
    python -m benchmarks.make_templates NAME ...   # only these
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.template_graphs import TEMPLATES  # noqa: E402
from layerloom.backend.training.settings import DatasetSettings, SettingsError, TrainSettings  # noqa: E402
from layerloom.graph import load_graph, save_graph  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "resources" / "examples"

MNIST1D_META = {
    "mnist1d_mlp": {
        "title": "MNIST-1D: MLP",
        "description": (
            "The MLP baseline of the MNIST-1D benchmark (Greydanus, 2020): 40-sample 1-D "
            "signals of ten digit shapes, randomly shifted, scaled and sheared. A dense "
            "network sees every sample position separately, so a shifted digit looks new "
            "to it. Compare its accuracy with mnist1d_cnn and mnist1d_gru."
        ),
    },
    "mnist1d_cnn": {
        "title": "MNIST-1D: CNN",
        "description": (
            "The convolutional model of the MNIST-1D benchmark: filters slide along the "
            "signal, so a pattern is recognised wherever it sits. It beats the MLP by a "
            "wide margin with fewer weights; compare with mnist1d_mlp and mnist1d_gru."
        ),
    },
    "mnist1d_gru": {
        "title": "MNIST-1D: GRU",
        "description": (
            "The recurrent model of the MNIST-1D benchmark: a GRU reads the signal step by "
            "step and classifies from its final state. Compare accuracy and training time "
            "with mnist1d_mlp and mnist1d_cnn."
        ),
    },
}


def patch_mnist1d(name: str) -> bool:
    """Fill in missing ``meta`` keys of a benchmark template; True when it changed."""
    path = EXAMPLES / f"{name}.loom"
    if not path.exists():
        print(f"skip {name}: {path} does not exist yet")
        return False
    graph = load_graph(path)
    meta = dict(graph.meta)
    wanted = {**MNIST1D_META[name], "group": "MNIST-1D"}
    missing = {k: v for k, v in wanted.items() if not meta.get(k)}
    if not missing:
        return False
    meta.update(missing)
    graph.meta = meta
    save_graph(graph, path)
    return True


def main(argv: list[str]) -> int:
    names = argv or [*TEMPLATES, *MNIST1D_META]
    unknown = [n for n in names if n not in TEMPLATES and n not in MNIST1D_META]
    if unknown:
        print(f"unknown template(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in names:
        if name in MNIST1D_META:
            if patch_mnist1d(name):
                print(f"updated meta of {name}")
            continue
        graph = TEMPLATES[name]()
        graph.meta["order"] = list(TEMPLATES).index(name)
        try:
            DatasetSettings.from_dict(graph.dataset)
            TrainSettings.from_dict(graph.training)
        except SettingsError as exc:
            print(f"skip {name}: its settings are not supported here ({exc})")
            continue
        analysis = graph.analysis()
        if not analysis.valid:
            print(f"{name}: invalid graph: {analysis.errors}", file=sys.stderr)
            return 1
        save_graph(graph, EXAMPLES / f"{name}.loom")
        print(f"wrote {name}.loom ({len(graph)} nodes, {analysis.total_params:,} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
