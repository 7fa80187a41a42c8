"""Named errors of the document model. Messages quote the values received."""

from __future__ import annotations


class GraphError(Exception):
    """A graph mutation was refused (unknown node, bad port, cycle, ...)."""


class ParamError(GraphError, ValueError):
    """A parameter value does not fit the layer's schema."""


class UnknownLayerError(GraphError, KeyError):
    """A layer type id is not in the registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ConnectionRefused(GraphError):
    """A wire cannot be made; the message says why."""


class ShapeError(Exception):
    """A shape rule cannot work with the shapes it receives.

    ``fix`` is an optional suggestion the GUI shows next to the message.
    """

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class GraphFileError(Exception):
    """A .loom file cannot be read: names the file, the place and the problem."""

    def __init__(self, path: str, where: str, problem: str):
        self.path = str(path)
        self.where = where
        self.problem = problem
        place = f" at {where}" if where else ""
        super().__init__(f"{self.path}{place}: {problem}")


class GraphInvalidError(GraphError):
    """Raised by operations that need a valid graph (compile, export).

    ``errors`` is the list of ``(node_id, message)`` pairs from validation.
    """

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = list(errors)
        lines = "\n".join(f"  {node}: {msg}" for node, msg in self.errors)
        super().__init__(f"the graph has {len(self.errors)} error(s):\n{lines}")


class GraphLintError(RuntimeError):
    """The graph's own tables and indexes disagree (see ``Graph.lint``).

    A bug in the code that changed the graph, not a problem of the user's graph.
    ``problems`` lists each disagreement in a sentence.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"the graph's indexes disagree in {len(self.problems)} place(s):\n{lines}")
