"""``layerloom help``: the Getting Started guide, the same page as the app's
Help ▸ Getting Started.

The guide is kept here, as Markdown with no Qt in it, so that the app (which
renders it) and the command line (which prints it) show one text.
``layerloom help layers`` points to the layer reference (``layerloom layers``, in
the app Help ▸ Layer Reference).
"""

from __future__ import annotations

from layerloom.backend.cli import CommandError

TITLE = "Getting started with LayerLoom"

# (heading, Markdown body): build, wire, train, export
STEPS: tuple[tuple[str, str], ...] = (
    ("1. Build", """\
Start from an example (**File ▸ New from Template**, Ctrl+Shift+N) or from an empty
canvas. Drag a layer from the **Layers** palette onto the canvas, or double-click it
to drop it in the middle; type in the palette's search box to find one by name or
keyword ("fc", "pool"). On the canvas, **Tab** opens a quick search that adds a layer
where the mouse is. Every graph starts with an **Input** node (the shape of one
sample) and ends with an **Output** node.

Select a node to edit its parameters in the **Inspector**; every edit can be undone
(Ctrl+Z). Help ▸ Layer Reference describes every layer type."""),
    ("2. Wire", """\
Drag from a node's output port (right) to the next node's input port (left). Each
wire shows the shape of the tensor it carries, and each node its parameter count.
A node that cannot take its input turns red and says why, with a fix where there is
an obvious one ("insert Flatten"); the status bar counts the errors, and a click on
the count selects the first. Drop a layer on a wire to insert it there.
Ctrl+L lays the graph out in columns; Ctrl+0 fits it in the window."""),
    ("3. Train", """\
Press **Ctrl+2** (or **Train** in the toolbar) for Train mode: the plots get most of
the window, the graph stays small beside them, and **Ctrl+1** goes back to editing.
In the set-up form choose a **dataset** (the Input and Output can be fitted to it
with one click), then the optimizer, learning rate, batch size and epochs; **Find…**
beside the learning rate runs a short range test and suggests one.

**Start** (F5) trains in the background while the loss, metrics, weights, gradient
flow and decision boundary update live. **Pause** (F6) lets you change the learning
rate; **Stop** (Shift+F5) keeps what the model learned. The **Runs** tab overlays
runs to compare them, and **Try it** runs the model on single samples.
View ▸ Reset Layout puts the panels back if they get lost."""),
    ("4. Export", """\
**Save** (Ctrl+S) writes the graph as a `.loom` file; **Save Weights…** keeps the
trained weights with it. **Export…** (Ctrl+E) writes the trained model as ONNX,
TorchScript, safetensors, or plain PyTorch code that needs no LayerLoom.

The same work runs without the app: `layerloom train FILE.loom` trains headless,
`layerloom export FILE.loom -f onnx -o model.onnx` exports, `layerloom layers`
lists the layer types, and `layerloom --help` lists every command."""),
)


def markdown() -> str:
    """The whole guide as Markdown."""
    parts = [f"# {TITLE}", ""]
    for heading, body in STEPS:
        parts += [f"## {heading}", "", body, ""]
    return "\n".join(parts).rstrip() + "\n"


def plain_text() -> str:
    """The guide for a terminal: headings underlined, no Markdown emphasis."""
    lines = [TITLE, "=" * len(TITLE), ""]
    for heading, body in STEPS:
        lines += [heading, "-" * len(heading), body.replace("**", "").replace("`", ""), ""]
    return "\n".join(lines).rstrip() + "\n"


TOPICS = ("getting-started", "layers")


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="print the Getting Started guide (build, wire, train, export)",
        description="Print the Getting Started guide, the page the app shows under Help > Getting Started.",
    )
    p.add_argument("topic", nargs="?", default="getting-started", metavar="TOPIC",
                   help=f"one of: {', '.join(TOPICS)} (default getting-started)")
    p.add_argument("--markdown", action="store_true", help="print the guide as Markdown")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.topic == "layers":
        print("The layer reference: 'layerloom layers' lists every layer type and "
              "'layerloom layers NAME' shows one in full (in the app: Help > Layer Reference).")
        return 0
    if args.topic != "getting-started":
        raise CommandError(f"no help topic is called {args.topic!r}; topics: {', '.join(TOPICS)}")
    print(markdown() if args.markdown else plain_text(), end="")
    return 0
