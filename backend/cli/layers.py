"""``layerloom layers [NAME]``: the reference of every layer type.

Without a name: one row per type (palette name, id, category, the first sentence
of its help), optionally narrowed by ``--category`` or ``--search``. With a name
(palette name, id or an old id, any case): the type's help, its parameters (kind,
default, range or choices, help), its ports, what its shape rule requires - the
rule itself is asked, on the type's examples and on a few standard inputs, so the
text is what the editor would say - and its examples with the shapes they give.
``--json`` prints the same as data. Nothing here imports torch or Qt.
"""

from __future__ import annotations

import difflib
import json

from layerloom.backend.cli import CommandError
from layerloom.graph import (
    CATEGORIES,
    REGISTRY,
    LayerSpec,
    ShapeError,
    UnknownLayerError,
    node_training,
)
from layerloom.graph.examples import STANDARD_INPUTS, examples_of
from layerloom.graph.params import Param
from layerloom.graph.tensor import TensorSpec


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="list every layer type, or show one type's parameters, ports and shape rule",
        description="Without NAME: one line per layer type. With NAME (palette name or id): "
        "its parameters, ports, what its shape rule requires, and examples.",
    )
    p.add_argument("name", nargs="?", help="a layer's palette name or id (e.g. Conv2d or conv2d)")
    p.add_argument("--category", choices=CATEGORIES, metavar="CATEGORY",
                   help=f"list only one category ({', '.join(CATEGORIES)})")
    p.add_argument("--search", metavar="TEXT", help="list the types whose name, id or keywords match TEXT, best first")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--markdown", action="store_true",
                   help="print the table of layers by category in Markdown (the README's)")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.name:
        if args.category or args.search:
            raise CommandError("give a NAME or --category/--search, not both")
        spec = find(args.name)
        print(json.dumps(describe(spec), indent=2) if args.json else detail_text(spec))
        return 0
    if args.markdown:
        print(markdown_table())
        return 0
    specs = REGISTRY.search(args.search) if args.search else list(REGISTRY)
    if args.category:
        specs = [s for s in specs if s.category == args.category]
    if not specs:
        raise CommandError(f"no layer type matches {args.search or args.category!r}")
    if not args.search:
        specs.sort(key=lambda s: CATEGORIES.index(s.category))
    if args.json:
        print(json.dumps([_row(s) for s in specs], indent=2))
    else:
        print(list_text(specs))
    return 0


# ------------------------------------------------------------------ lookup
def find(name: str) -> LayerSpec:
    """The type called ``name`` (palette name, id or alias, any case)."""
    try:
        return REGISTRY.get(name)
    except UnknownLayerError:
        pass
    wanted = name.strip().lower()
    for spec in REGISTRY:
        if wanted in (spec.name.lower(), spec.type_id.lower(), *(a.lower() for a in spec.aliases)):
            return spec
    names = [s.name for s in REGISTRY]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6) or [s.name for s in REGISTRY.search(name)[:3]]
    hint = f"; did you mean {', '.join(close)}?" if close else "; 'layerloom layers' lists them all"
    raise CommandError(f"no layer type is called {name!r}{hint}")


# ------------------------------------------------------------------- list
def summary(spec: LayerSpec) -> str:
    """The first sentence of the type's help."""
    doc = " ".join(spec.doc.split())
    end = doc.find(". ")
    return doc if end < 0 else doc[:end + 1]


def _row(spec: LayerSpec) -> dict:
    return {"name": spec.name, "id": spec.type_id, "category": spec.category, "help": summary(spec)}


def list_text(specs: list[LayerSpec]) -> str:
    rows = [("name", "id", "category", "help")] + [tuple(_row(s).values()) for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join([*(r[j].ljust(widths[j]) for j in range(3)), r[3]]).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ----")
    lines.append("")
    lines.append(f"{len(specs)} layer types; 'layerloom layers NAME' shows one in full")
    return "\n".join(lines)


def markdown_table() -> str:
    """The layers by category as a Markdown table: ``Name (`id`)`` entries."""
    lines = ["| category | layers |", "| --- | --- |"]
    for category, specs in REGISTRY.by_category().items():
        lines.append(f"| {category} | {', '.join(f'{s.name} (`{s.type_id}`)' for s in specs)} |")
    return "\n".join(lines)


# ----------------------------------------------------------------- detail
def param_kind(p: Param) -> str:
    if p.kind in ("ints", "floats"):
        item = "int" if p.kind == "ints" else "float"
        return f"{p.length} {item}s" if p.length else f"list of {item}s"
    return p.kind


def param_range(p: Param) -> str:
    if p.kind == "choice":
        return " | ".join(str(c) for c in p.choices)
    text = p.range_text()
    if p.choices:  # Ints that also take words ("same", "valid")
        text = f"{text}; or {' | '.join(map(str, p.choices))}" if text else " | ".join(map(str, p.choices))
    if p.optional:
        text = f"{text}; or unset" if text else "or unset"
    return text


def _default(p: Param) -> str:
    if p.default is None:
        return "unset"
    if isinstance(p.default, (list, tuple)):
        return "(" + ", ".join(map(str, p.default)) + ")"
    return str(p.default)


def _ports(spec: LayerSpec, which: str) -> dict:
    declared = spec.inputs if which == "inputs" else spec.outputs
    defaults = spec.defaults()
    ports = spec.input_ports(defaults) if which == "inputs" else spec.output_ports(defaults)
    return {"ports": list(ports), "variable": callable(declared)}


def requirements(spec: LayerSpec) -> list[dict]:
    """What the shape rule says on the standard inputs: each accepted input with
    the shapes it gives, each refused one with the rule's message and fix."""
    params = spec.check_params({})
    found = []
    for t in STANDARD_INPUTS:
        ins = {port: t for port in spec.input_ports(params)}
        entry = {"input": str(t)}
        try:
            outs = spec.infer(params, ins)
        except ShapeError as exc:
            entry["refused"] = exc.message if hasattr(exc, "message") else str(exc)
            fix = getattr(exc, "fix", "")
            if fix:
                entry["fix"] = fix
        except Exception as exc:  # a rule that cannot take this input at all
            entry["refused"] = str(exc)
        else:
            entry["gives"] = {port: str(o) for port, o in outs.items()}
        found.append(entry)
    return found


def _example(spec: LayerSpec, example) -> dict:
    params = spec.check_params(example.params)
    outs = spec.infer(params, example.inputs)
    return {
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in example.params.items()},
        "inputs": {port: str(t) for port, t in example.inputs.items()},
        "outputs": {port: str(t) for port, t in outs.items()},
        "parameters": spec.param_count(params, example.inputs, outs),
    }


def describe(spec: LayerSpec) -> dict:
    """Everything ``layers NAME`` shows, as data."""
    return {
        "name": spec.name, "id": spec.type_id, "category": spec.category, "help": spec.doc,
        "aliases": list(spec.aliases), "keywords": list(spec.keywords),
        "parameters": [
            {"name": p.name, "kind": param_kind(p), "default": _json_value(p.default),
             "range": param_range(p), "help": p.help}
            for p in spec.params
        ],
        "inputs": _ports(spec, "inputs"), "outputs": _ports(spec, "outputs"),
        "examples": [_example(spec, e) for e in examples_of(spec)] if not spec.is_input and not spec.is_output else [],
        "shape_rule": [] if spec.is_input or spec.is_output else requirements(spec),
        "node_training": [
            {"name": p.name, "kind": param_kind(p), "default": _json_value(p.default),
             "range": param_range(p), "help": p.help}
            for p in node_training.applicable(spec)
        ],
    }


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


def detail_text(spec: LayerSpec) -> str:
    info = describe(spec)
    lines = [f"{spec.name} ({spec.type_id}) - {spec.category}", "", _wrap(spec.doc, 0), ""]
    if spec.aliases:
        lines += [f"Old ids that still load: {', '.join(spec.aliases)}", ""]
    if spec.params:
        lines.append("Parameters:")
        rows = [(p["name"], p["kind"], _default(q), p["range"]) for p, q in zip(info["parameters"], spec.params, strict=True)]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row, p in zip(rows, info["parameters"], strict=True):
            lines.append("  " + "  ".join(row[i].ljust(widths[i]) for i in range(4)).rstrip())
            lines.append(_wrap(p["help"], 6))
        lines.append("")
    else:
        lines += ["Parameters: none", ""]
    if info["node_training"]:
        lines.append("Per node, how its weights train (inspector, or the node's \"training\" in the file):")
        for p in info["node_training"]:
            lines.append(f"  {p['name']}  {p['kind']}  default {p['default']}  {p['range']}".rstrip())
            lines.append(_wrap(p["help"], 6))
        lines.append("")
    for which in ("inputs", "outputs"):
        ports = info[which]
        names = ", ".join(ports["ports"]) or "none"
        more = " (the number follows a parameter; shown with the defaults)" if ports["variable"] else ""
        lines.append(f"{which.title()}: {names}{more}")
    if info["shape_rule"]:
        lines += ["", "Shape rule, asked on standard inputs (N is the batch):"]
        for entry in info["shape_rule"]:
            if "gives" in entry:
                outs = ", ".join(f"{p} {t}" for p, t in entry["gives"].items())
                lines.append(f"  {entry['input']:<16} -> {outs}")
            else:
                lines.append(f"  {entry['input']:<16} refused: {entry['refused']}")
                if entry.get("fix"):
                    lines.append(f"  {'':<16} fix: {entry['fix']}")
    if info["examples"]:
        lines += ["", "Examples:"]
        for ex in info["examples"]:
            given = ", ".join(f"{k}={v}" for k, v in ex["params"].items()) or "defaults"
            ins = ", ".join(f"{p} {t}" for p, t in ex["inputs"].items())
            outs = ", ".join(f"{p} {t}" for p, t in ex["outputs"].items())
            lines.append(f"  {given}: {ins} -> {outs}; {ex['parameters']:,} parameters")
    return "\n".join(lines)


def _wrap(text: str, indent: int, width: int = 96) -> str:
    import textwrap

    return textwrap.fill(" ".join(text.split()), width=width, initial_indent=" " * indent,
                         subsequent_indent=" " * indent)


__all__ = ["TensorSpec", "describe", "find", "list_text"]
